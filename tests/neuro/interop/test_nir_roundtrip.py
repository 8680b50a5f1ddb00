"""Round trips over every entry of the two NIR tables: file write -> read, export -> import -> export,
and export -> import -> identical spikes and states on random input."""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest
import torch

from neuro import Sequential, simulate
from neuro.interop.nir import EXPORTERS, IMPORTERS, from_nir, read, to_nir
from tests.neuro.interop.examples import IMPORTED_AS, MODULE_EXAMPLES, NODE_EXAMPLES


def _graph(node: nir.NIRNode, shape: tuple[int, ...]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array(shape)), "node": node,
                               "output": nir.Output(output_type=None)},
                        edges=[("input", "node"), ("node", "output")], metadata={"dt": 1e-3})


def _fields(node: nir.NIRNode) -> dict[str, object]:
    return {f.name: getattr(node, f.name) for f in dataclasses.fields(node)
            if f.name not in ("input_type", "output_type", "metadata")}


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_every_table_entry_has_an_example() -> None:
    assert set(NODE_EXAMPLES) == set(IMPORTERS), "add an example node to tests/neuro/interop/examples.py"
    assert set(MODULE_EXAMPLES) == set(EXPORTERS), "add an example module to tests/neuro/interop/examples.py"


@pytest.mark.parametrize("kind", list(NODE_EXAMPLES), ids=lambda t: t.__name__)
def test_write_read_keeps_parameters(kind: type, tmp_path) -> None:
    make, shape = NODE_EXAMPLES[kind]
    graph = _graph(make(), shape)
    nir.write(tmp_path / "g.nir", graph)
    back = read(tmp_path / "g.nir")
    a, b = graph.nodes["node"], back.nodes["node"]
    assert type(b) is kind
    for name, value in _fields(a).items():
        assert _same(value, getattr(b, name)), f"{kind.__name__}.{name}: {value!r} != {getattr(b, name)!r}"
        if isinstance(value, np.ndarray):
            assert np.asarray(getattr(b, name)).dtype == value.dtype, name


@pytest.mark.parametrize("kind", list(NODE_EXAMPLES), ids=lambda t: t.__name__)
def test_import_then_export_gives_the_same_node(kind: type) -> None:
    make, shape = NODE_EXAMPLES[kind]
    graph = _graph(make(), shape)
    model = from_nir(graph)
    out = simulate(model, torch.randn(6, 2, *shape)).output  # it runs
    assert torch.isfinite(out).all()
    again = to_nir(model, torch.zeros(1, 1, *shape))
    nodes = [n for n in again.nodes.values() if not isinstance(n, nir.Input | nir.Output)]
    assert len(nodes) == 1 and type(nodes[0]) is kind
    for name, value in _fields(graph.nodes["node"]).items():
        got = getattr(nodes[0], name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.unique(value).size > 1:
            # neuro holds non-uniform parameters as float32 tensors (IF: r = R * dt): equal to float32 precision
            np.testing.assert_allclose(np.asarray(got, np.float64), value, rtol=2.0**-23, atol=0,
                                       err_msg=f"{kind.__name__}.{name}")
        else:
            assert _same(value, got), f"{kind.__name__}.{name}: {value!r} != {got!r}"


def _drive(shape: tuple[int, ...]) -> torch.Tensor:
    return 0.8 + 1.5 * torch.randn(25, 3, *shape)


@pytest.mark.parametrize("kind", list(MODULE_EXAMPLES), ids=lambda t: t.__name__)
def test_export_import_identical_spikes_and_states(kind: type, tmp_path) -> None:
    make, shape = MODULE_EXAMPLES[kind]
    module = make()
    model = Sequential(module)
    x = _drive(shape)
    nir.write(tmp_path / "m.nir", to_nir(model, x))
    rebuilt = from_nir(read(tmp_path / "m.nir"), mode="auto" if model.is_sequence else "step")
    with torch.no_grad():
        a = simulate(model, x, record=True)
        b = simulate(rebuilt, x, record=True)
    assert torch.equal(a.output, b.output)
    assert a.records.keys() == b.records.keys()
    for key in a.records:
        assert torch.equal(a.records[key], b.records[key]), key
    if "0.spikes" in a.records:
        assert 0 < a.records["0.spikes"].sum() < a.records["0.spikes"].numel(), "the drive should make some spikes"
    inner = rebuilt[0].module if hasattr(rebuilt[0], "module") else rebuilt[0]
    assert type(inner) is IMPORTED_AS.get(type(module), type(module)) or (
        type(module).__name__.endswith("Cell") and model.is_sequence is False)


@pytest.mark.parametrize("kind", [k for k in MODULE_EXAMPLES if hasattr(k, "params")], ids=lambda t: t.__name__)
def test_neuron_parameters_come_back_bit_identical(kind: type) -> None:
    make, shape = MODULE_EXAMPLES[kind]
    module = make()
    rebuilt = from_nir(to_nir(Sequential(module), torch.zeros(1, 1, *shape)), mode="step" if "Cell" in
                       kind.__name__ else "auto")[0]
    assert type(rebuilt) is kind
    for name, value in module.params()._asdict().items():
        got = getattr(rebuilt.params(), name)
        if isinstance(value, torch.Tensor):
            assert isinstance(got, torch.Tensor) and got.shape == value.shape and torch.equal(got, value), name
        else:
            assert type(got) is type(value) and got == value, name
    for name, _ in module.named_parameters():
        assert isinstance(dict(rebuilt.named_parameters()).get(name), torch.nn.Parameter), f"{name} learnable"


@pytest.mark.parametrize("kind", [k for k in MODULE_EXAMPLES if hasattr(k, "params")], ids=lambda t: t.__name__)
def test_rebuilt_neurons_train_the_same(kind: type) -> None:
    """Surrogate, detach_reset and learnable flags survive: identical gradients for input and parameters."""
    make, shape = MODULE_EXAMPLES[kind]
    model = Sequential(make())
    rebuilt = from_nir(to_nir(model, torch.zeros(1, 1, *shape)), mode="auto" if model.is_sequence else "step")
    x = _drive(shape).double()
    grads = []
    for m in (model.double(), rebuilt.double()):
        xi = x.clone().requires_grad_(True)
        out = simulate(m, xi).output
        (out * torch.linspace(-1, 1, out.shape[-1], dtype=torch.float64)).sum().backward()
        grads.append([xi.grad, *(p.grad for _, p in sorted(m.named_parameters()))])
    assert len(grads[0]) == len(grads[1])
    assert grads[0][0].abs().sum() > 0
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


def test_delay_gradient_float64() -> None:
    from neuro.interop.nir import Delay

    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: Delay(torch.tensor([0, 2, 1]))(v)[0], (x,))
