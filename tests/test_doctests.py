"""Every example in the packages' docstrings runs and prints what it says (one test per module)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hardware_models
import neuro

SKIP = ("__main__",)  # entry-point modules run a program on import


def _modules() -> list[str]:
    names = []
    for package in (neuro, hardware_models):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1] not in SKIP:
                names.append(info.name)
    return sorted(names)


MODULES = _modules()
FINDER = doctest.DocTestFinder(exclude_empty=True)


OPTIONAL = {"numba", "triton", "scipy", "sklearn"}  # extras: modules needing them are skipped without them


def _examples(name: str) -> list[doctest.DocTest]:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in OPTIONAL:
            return []
        raise
    return [t for t in FINDER.find(module, name) if t.examples]


WITH_EXAMPLES = [name for name in MODULES if _examples(name)]


def test_every_package_is_walked() -> None:
    assert {"neuro.core.simulate", "neuro.models.lsm.synapses", "hardware_models.energy"} <= set(MODULES)
    assert {"neuro", "neuro.models.lsm.synapses", "neuro.backends._parallel"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
