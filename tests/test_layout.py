"""The top-level layout the project's charter fixes, and the data-only rule for datasets/."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_top_level_layout() -> None:
    for name in ("pyproject.toml", "README.md", "neuro", "hardware_models", "datasets", "experiments", "tests"):
        assert (REPO / name).exists(), f"missing top-level {name}"


def test_datasets_and_experiments_are_not_packages() -> None:
    for folder in ("datasets", "experiments"):
        offenders = sorted(str(p.relative_to(REPO)) for p in (REPO / folder).rglob("__init__.py"))
        assert offenders == [], f"{folder}/ must never be a Python package: {offenders}"


def test_ruff_bans_importing_datasets(tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import datasets\n")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                             str(REPO / "pyproject.toml"), "--select", "TID251", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout + result.stderr


def test_package_list_is_explicit() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'include = ["neuro*", "hardware_models*"]' in text


def test_readme_python_example_runs() -> None:
    """The README's Python example must keep working."""
    text = (REPO / "README.md").read_text()
    start = text.index("## Ten lines of Python")
    code = text[start:].split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    exec(compile(code, "README.md", "exec"), {})
