"""Interop with the real snnTorch, Norse and SpikingJelly through NIR, in both directions."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from torch import nn

from neuro import LIF, Sequential, simulate
from neuro.interop.nir import export_with_paths
from neuro.interop.peers import for_peer, from_peer

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
sj_nir = pytest.importorskip("spikingjelly.activation_based.nir_exchange")

# snnTorch's and Norse's NIR code still calls nirtorch's pre-2.0 API, which warns on every call
_old_export = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
_old_import = pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning")


def _strong(model: nn.Module, mu: float = 0.7) -> nn.Module:
    """Weights ~ N(mu, 2) / sqrt(fan_in), so that every layer spikes and the comparisons mean something."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan = m.weight[0].numel()
                m.weight.copy_((mu + 2.0 * torch.randn(m.weight.shape, generator=g)) / fan ** 0.5)
    return model.eval()


def _events(steps: int, batch: int, *shape: int, p: float = 0.3) -> torch.Tensor:
    return (torch.rand(steps, batch, *shape) < p).to(torch.get_default_dtype())


def _conv_net(pool: bool = True) -> Sequential:
    layers: list[nn.Module] = [nn.Conv2d(2, 4, 5, padding=2), LIF(tau_mem=2e-3)]
    layers += [nn.AvgPool2d(2)] if pool else []
    layers += [nn.Conv2d(4, 8, 3, padding=1, stride=1 if pool else 2), LIF(tau_mem=2e-3)]
    layers += [nn.AvgPool2d(2)] if pool else []
    layers += [nn.Flatten(), nn.Linear(8 * (4 * 4 if pool else 8 * 8), 10), LIF(tau_mem=2e-3)]
    return _strong(Sequential(*layers))


def _neuro_spikes(model: nn.Module, x: torch.Tensor, paths: dict[str, str]) -> dict[str, torch.Tensor]:
    trace = simulate(model, x, record=True)
    return {node: trace.records[f"{path}.spikes"] for node, path in paths.items() if f"{path}.spikes" in trace.records}


def _run_per_sample(module: nn.Module, x: torch.Tensor, layers: list[str], reset=None) -> dict[str, torch.Tensor]:
    """Step ``module`` (forward(x_t, state) -> (out, state)) one sample at a time, hooking ``layers``' spikes."""
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    hooks = [module.get_submodule(n).register_forward_hook(
        lambda m, a, out, n=n: seen[n].append((out[0] if isinstance(out, tuple) else out).detach().clone()))
        for n in layers]
    per_sample: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    try:
        for b in range(x.shape[1]):
            if reset is not None:
                reset(module)
            for n in layers:
                seen[n].clear()
            state = None
            with torch.no_grad():
                for t in range(x.shape[0]):
                    _, state = module(x[t, b:b + 1], state)
            for n in layers:
                per_sample[n].append(torch.stack([s.reshape(1, *s.shape[1:]) if s.dim() > 1 else s.reshape(1, -1)
                                                  for s in seen[n]]))
    finally:
        for h in hooks:
            h.remove()
    return {n: torch.cat(v, dim=1) for n, v in per_sample.items()}


def _reset_snntorch(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, snn.Leaky):
            m.reset_mem()


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints progress and warnings
        return fn(*args, **kwargs)


def test_neuro_conv_net_runs_identically_in_snntorch() -> None:
    from snntorch.import_nir import import_from_nir

    model = _conv_net()
    x = _events(20, 2, 2, 16, 16)
    graph, paths = export_with_paths(model, x)
    sn = _quiet(import_from_nir, for_peer(graph, "snntorch"))
    ours = _neuro_spikes(model, x, paths)
    theirs = _run_per_sample(sn, x, list(ours), reset=_reset_snntorch)
    assert list(ours) == ["lif_1", "lif_4", "lif_8"]
    for node in ours:
        assert ours[node].sum() > 0, f"{node} is silent; the comparison would be weak"
        assert torch.equal(ours[node], theirs[node].reshape(ours[node].shape)), node


@_old_export
def test_snntorch_export_loads_into_neuro() -> None:
    from snntorch.export_nir import export_to_nir

    beta = 0.5  # tau = 2e-4 s at snnTorch's dt = 1e-4 s: neuro's decay 0.5 per step

    def leaky(*shape: int, **kw):
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape), init_hidden=True,
                         reset_mechanism="zero", reset_delay=False, **kw)

    net = _strong(nn.Sequential(nn.Conv2d(2, 4, 3, stride=2), leaky(4, 7, 7), nn.Flatten(), nn.Linear(4 * 49, 10),
                                leaky(10, output=True)))
    graph = _quiet(export_to_nir, net, torch.zeros(1, 2, 16, 16), ignore_dims=[0])
    model = from_peer(graph, "snntorch")
    assert model[1].dt == 1e-4 and model[1].tau_mem == pytest.approx(2e-4)
    x = _events(25, 2, 2, 16, 16)
    ours = simulate(model, x, record=True)
    outs = []
    for b in range(x.shape[1]):
        _reset_snntorch(net)
        with torch.no_grad():
            outs.append(torch.stack([net(x[t, b:b + 1])[0] for t in range(x.shape[0])]))
    theirs = torch.cat(outs, dim=1)
    assert ours.records["1.spikes"].sum() > 0 and theirs.sum() > 0
    assert torch.equal(ours.output, theirs)


@_old_import
def test_neuro_conv_net_runs_identically_in_norse() -> None:
    model = _conv_net(pool=False).double()  # Norse reads no AvgPool2d
    x = _events(30, 2, 2, 16, 16).double()
    graph, paths = export_with_paths(model, x)
    nm = norse.from_nir(for_peer(graph, "norse"), dt=graph.metadata["dt"]).double()
    ours = _neuro_spikes(model, x, paths)
    theirs = _run_per_sample(nm, x, list(ours))
    for node in ours:
        assert ours[node].sum() > 0, node
        assert torch.equal(ours[node], theirs[node].reshape(ours[node].shape)), node


@_old_export
def test_norse_export_loads_into_neuro() -> None:
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(250.0))  # tau_mem = 4 ms
    net = norse.SequentialState(nn.Linear(6, 5), norse.LIFBoxCell(p), nn.Linear(5, 3), norse.LIFBoxCell(p))
    _strong(net).double()
    graph = norse.to_nir(net, torch.zeros(1, 6, dtype=torch.float64), dt=1e-3)
    model = from_peer(graph, "norse").double()
    assert model[1].tau_mem == pytest.approx(4e-3)  # Norse wrote dt / tau_mem_inv = 4e-6; repaired
    x = _events(30, 3, 6).double()
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = net(x[t], state)
            outs.append(out)
    theirs = torch.stack(outs)
    ours = simulate(model, x)
    assert theirs.sum() > 0 and torch.equal(ours.output, theirs)


def test_neuro_conv_net_runs_identically_in_spikingjelly() -> None:
    model = _conv_net().double()
    x = _events(30, 3, 2, 16, 16).double()
    graph, paths = export_with_paths(model, x)
    g = for_peer(graph, "spikingjelly")
    sj = sj_nir.import_from_nir(g, dt=g.metadata["dt"], dtype=torch.float64)
    ours = _neuro_spikes(model, x, paths)
    names = {n: n for n in ours}
    seen = {n: [] for n in ours}
    hooks = [sj.get_submodule(n).register_forward_hook(lambda m, a, out, n=n: seen[n].append(out[0].clone()))
             for n in names]
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = sj(x[t], state)
    for h in hooks:
        h.remove()
    for node in ours:
        assert ours[node].sum() > 0, node
        assert torch.equal(ours[node], torch.stack(seen[node])), node


def test_spikingjelly_export_loads_into_neuro() -> None:
    from spikingjelly.activation_based import functional, layer, neuron

    net = _strong(nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(tau=2.0), layer.AvgPool2d(2),
                                layer.Flatten(), layer.Linear(4 * 8 * 8, 10), neuron.LIFNode(tau=3.0)).double())
    graph = sj_nir.export_to_nir(net, torch.zeros(1, 2, 16, 16, dtype=torch.float64), dt=1e-4)
    model = from_peer(graph, "spikingjelly").double()
    assert model[1].tau_mem == pytest.approx(2e-4) and model[1].dt == 1e-4
    x = _events(25, 3, 2, 16, 16).double()
    functional.reset_net(net)
    with torch.no_grad():
        theirs = torch.stack([net(x[t]) for t in range(x.shape[0])])
    ours = simulate(model, x, record=True)
    assert ours.records["1.spikes"].sum() > 0 and theirs.sum() > 0
    assert torch.equal(ours.output, theirs)
