"""BatchNormNeuron: batch norm folded into the fused neuron kernels, against the two modules in sequence."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from neuro import IF, LIF, PLIF, CubaLIF, backends
from neuro.errors import ConfigError, ShapeError
from neuro.layers import BatchNormNeuron

pytest.importorskip("numba")


def _layer(kind, neuron, affine=True, momentum=0.1):
    if kind == "tokens":
        layer = BatchNormNeuron(nn.BatchNorm1d(12, affine=affine, momentum=momentum), neuron, channels_last=True)
    elif kind == "1d":
        layer = BatchNormNeuron(nn.BatchNorm1d(5, affine=affine, momentum=momentum), neuron)
    else:
        layer = BatchNormNeuron(nn.BatchNorm2d(6, affine=affine, momentum=momentum), neuron)
    layer = layer.double()
    if affine:
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            layer.norm.weight.copy_(torch.rand(layer.norm.num_features, generator=g, dtype=torch.float64) + 0.5)
            layer.norm.bias.copy_(torch.rand(layer.norm.num_features, generator=g, dtype=torch.float64) - 0.3)
    return layer


_SHAPES = {"tokens": (6, 3, 7, 12), "1d": (6, 4, 5, 9), "2d": (6, 3, 6, 5, 4)}


def _run(layer, z, backend, state=None, seed=1):
    z = z.detach().clone().requires_grad_()
    with backends.use(backend):
        spikes, final = layer(z, state)
    g = torch.randn(spikes.shape, generator=torch.Generator().manual_seed(seed), dtype=spikes.dtype)
    gv = torch.randn(final.v.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=spikes.dtype)
    ((spikes * g).sum() + (final.v * gv).sum()).backward()
    params = [p.grad for p in layer.norm.parameters()]
    return spikes.detach(), final, z.grad, params


def _counted(monkeypatch):
    from neuro.backends import _fused_bn_lif

    calls = []
    original = _fused_bn_lif.run_bn_neuron
    monkeypatch.setattr(_fused_bn_lif, "run_bn_neuron", lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.fixture(params=["torch-backward", "in-place-backward"])
def in_place(request, monkeypatch):
    """Batch norm's backward by torch (results below 32 MiB) or in place by the numba kernels (from there on)."""
    from neuro.backends import _buffers

    if request.param == "in-place-backward":
        monkeypatch.setattr(_buffers, "MIN_BYTES", 0)
    return request.param


@pytest.mark.parametrize("kind", ["tokens", "1d", "2d"])
@pytest.mark.parametrize("neuron", ["lif", "lif-subtract", "if", "cuba", "lif-sigmoid"])
@pytest.mark.parametrize("train", [True, False])
def test_fused_equals_norm_then_neuron(kind, neuron, train, in_place, monkeypatch):
    make = {"lif": lambda: LIF(tau_mem=2e-3, detach_reset=True), "if": lambda: IF(),
            "lif-subtract": lambda: LIF(reset="subtract", v_threshold=0.8),
            "cuba": lambda: CubaLIF(tau_syn=3e-3, tau_mem=4e-3, w_in=4.0),
            "lif-sigmoid": lambda: LIF(surrogate="sigmoid", decay_input=True)}[neuron]
    layer = _layer(kind, make())
    if not train:
        layer.norm.running_mean.uniform_(-0.5, 0.5)
        layer.norm.running_var.uniform_(0.5, 2.0)
        layer.eval()
    reference = copy.deepcopy(layer)
    z = torch.randn(_SHAPES[kind], generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 + 0.7
    calls = _counted(monkeypatch)
    fused = _run(layer, z, "fused")
    want = _run(reference, z, "reference")
    assert calls == [1]
    assert torch.equal(fused[0], want[0]) and 0.02 < fused[0].mean() < 0.9
    for a, b in zip(fused[1], want[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fused[2], want[2], rtol=1e-9, atol=1e-10)
    for a, b in zip(fused[3], want[3], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(layer.norm, name), getattr(reference.norm, name), rtol=1e-12, atol=0)


@pytest.mark.parametrize("momentum", [None, 0.3])
def test_no_affine_cumulative_momentum_and_a_carried_state(momentum, in_place, monkeypatch):
    layer = _layer("2d", LIF(), affine=False, momentum=momentum)
    reference = copy.deepcopy(layer)
    z = torch.randn(_SHAPES["2d"], generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.8
    calls = _counted(monkeypatch)
    state = ref_state = None
    for step in range(2):  # the second call starts from the first one's state and running statistics
        fused = _run(layer, z * (step + 1), "fused", state)
        want = _run(reference, z * (step + 1), "reference", ref_state)
        assert torch.equal(fused[0], want[0])
        torch.testing.assert_close(fused[2], want[2], rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(layer.norm.running_var, reference.norm.running_var, rtol=1e-12, atol=0)
        state, ref_state = (type(r[1])(*(t.detach() for t in r[1])) for r in (fused, want))
    assert calls == [1, 1]


def test_float32_spikes_and_gradients_close():
    layer = _layer("tokens", LIF(surrogate="sigmoid", decay_input=True)).float()
    reference = copy.deepcopy(layer)
    z = torch.randn(_SHAPES["tokens"], generator=torch.Generator().manual_seed(4)) * 2 + 0.7
    fused = _run(layer, z, "fused")
    want = _run(reference, z, "reference")
    assert (fused[0] != want[0]).float().mean() < 1e-3  # the folded scale and shift round differently
    torch.testing.assert_close(fused[2], want[2], rtol=1e-3, atol=1e-4)


def test_declined_cases_run_the_two_modules(monkeypatch):
    calls = _counted(monkeypatch)
    z = torch.randn(_SHAPES["tokens"], generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.5
    plif = _layer("tokens", PLIF())  # a learnable time constant: the kernels take no scalar gradients
    reference = copy.deepcopy(plif)
    fused, want = _run(plif, z, "fused"), _run(reference, z, "reference")
    assert calls == [] and torch.equal(fused[0], want[0])
    torch.testing.assert_close(plif.neuron.w.grad, reference.neuron.w.grad)
    strided = _layer("tokens", LIF())
    _run(strided, z.transpose(0, 1).contiguous().transpose(0, 1), "fused")  # not contiguous
    assert calls == []
    _run(strided, z, "reference")
    assert calls == []


def test_errors():
    with pytest.raises(ConfigError, match="BatchNorm1d or nn.BatchNorm2d"):
        BatchNormNeuron(nn.LayerNorm(4))
    with pytest.raises(ConfigError, match="channels_last"):
        BatchNormNeuron(nn.BatchNorm2d(4), channels_last=True)
    with pytest.raises(ShapeError, match=r"\(T, B, C, H, W\) with C = 4"):
        BatchNormNeuron(nn.BatchNorm2d(4))(torch.zeros(2, 3, 5, 6, 6))
    with pytest.raises(ShapeError, match=r"\(T, B, \.\.\., 4\)"):
        BatchNormNeuron(nn.BatchNorm1d(4), channels_last=True)(torch.zeros(2, 3, 5))
    with pytest.raises(TypeError, match="sequence module"):
        BatchNormNeuron(nn.BatchNorm1d(4), nn.ReLU())
    for backend in ("fused", "reference"):  # one value per channel in training: refused either way
        with backends.use(backend), pytest.raises(ValueError, match="more than 1 value per channel"):
            BatchNormNeuron(nn.BatchNorm1d(4), channels_last=True)(torch.zeros(1, 1, 4))


def test_folded_for_nir_and_round_trip():
    """fold_batchnorm folds a BatchNormNeuron's norm into the layer before it; the NIR export round-trips."""
    import neuro
    from neuro.interop.nir import fold_batchnorm
    from neuro.interop.nir.verify import verify_roundtrip

    torch.manual_seed(0)
    net = neuro.Sequential(nn.Conv2d(2, 4, 3), BatchNormNeuron(nn.BatchNorm2d(4), LIF()), nn.Flatten(),
                           nn.Linear(4 * 6 * 6, 5), BatchNormNeuron(nn.BatchNorm1d(5), LIF())).double()
    x = (torch.rand(6, 3, 2, 8, 8, dtype=torch.float64) < 0.3).double()
    net(x)  # training mode: running statistics
    net.eval()
    result = fold_batchnorm(net)
    assert result.folded == (("1.norm", "0"), ("4.norm", "3")) and result.unfoldable == ()
    assert isinstance(result.model[1].norm, nn.Identity) and isinstance(net[1].norm, nn.BatchNorm2d)
    torch.testing.assert_close(result.model(x)[0], net(x)[0])
    report = verify_roundtrip(net, x, fold_batchnorm=True)
    assert "identical" in str(report)


@pytest.mark.parametrize(("shape", "offset"), [((300, 7, 1), 0.0), ((300, 7, 1), 1e4), ((5, 3, 40), -3e3),
                                               ((2, 1, 1), 1.0)])
def test_batch_statistics_one_pass_against_torch(shape, offset):
    """One pass of sums of deviations from each channel's first value and of their squares: no cancellation even
    when the mean is far from zero relative to the spread."""
    from neuro.backends._fused_bn_lif import _var_mean

    z = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + offset
    mean, var = _var_mean(z.numpy())
    want_var, want_mean = torch.var_mean(z, dim=(0, 2), correction=0)
    torch.testing.assert_close(torch.from_numpy(mean), want_mean, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(torch.from_numpy(var), want_var, rtol=1e-9, atol=1e-12)
