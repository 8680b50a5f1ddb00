"""shared_input: several EventLinear layers on one input, scanned and compressed once; same values and gradients as
calling the layers one by one."""

from __future__ import annotations

import copy

import pytest
import torch

from neuro import backends
from neuro.layers import EventLinear, shared_input

pytest.importorskip("numba")


def _layers(bias=(True, False, True), seed=0):
    torch.manual_seed(seed)
    return [EventLinear(40, n, bias=b).double() for n, b in zip((7, 5, 9), bias, strict=True)]


def _run(layers, x, together, used=(0, 1, 2)):
    for m in layers:
        m.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(x.requires_grad)
    ys = shared_input(x, layers) if together else [m(x) for m in layers]
    loss = sum((ys[i] * torch.linspace(-1, 1, ys[i].numel(), dtype=ys[i].dtype).view_as(ys[i])).sum() for i in used)
    loss.backward()
    grads = [x.grad] + [None if p.grad is None else p.grad.clone() for m in layers for p in m.parameters()]
    return [y.detach() for y in ys], grads


@pytest.mark.parametrize(("density", "graded"), [(0.05, False), (0.2, False), (0.5, False), (0.05, True),
                                                 (0.5, True)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_values_and_gradients_equal_the_layers_one_by_one(density, graded, input_grad):
    """Event path (sparse), forward gather with bit-packed weight gradients (between the thresholds), GEMMs with bits
    (dense binary), and graded inputs (gathered, or the plain GEMM when dense)."""
    layers = _layers()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 4, 40, generator=g, dtype=torch.float64) < density).double()
    if graded:
        x = x * (torch.rand(x.shape, generator=g, dtype=torch.float64) * 3 - 1)
    x.requires_grad_(input_grad)
    ys, grads = _run(layers, x, True)
    want_ys, want_grads = _run(copy.deepcopy(layers), x, False)
    for a, b in zip(ys + grads, want_ys + want_grads, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_outputs_left_out_of_the_loss_get_no_gradient():
    layers = _layers(bias=(True, True, True))
    x = (torch.rand(3, 2, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64) < 0.1).double()
    for density_x in (x, (x + (torch.rand(x.shape, dtype=torch.float64) < 0.3)).clamp(max=1)):  # event, packed
        _, grads = _run(layers, density_x.requires_grad_(), True, used=(1,))
        want = _run(copy.deepcopy(layers), density_x, False, used=(1,))[1]
        assert grads[1] is None and grads[2] is None and grads[5] is None and grads[6] is None
        for a, b in zip(grads, want, strict=True):
            if b is not None:
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_input_is_scanned_once(monkeypatch):
    from neuro.backends import _fused_event

    calls = []
    real = _fused_event.row_counts
    monkeypatch.setattr(_fused_event, "row_counts", lambda x: calls.append(x.shape) or real(x))
    layers = _layers()
    x = (torch.rand(5, 3, 40, dtype=torch.float64) < 0.1).double()
    shared_input(x, layers)
    assert calls == [(15, 40)]
    calls.clear()
    [m(x) for m in layers]
    assert len(calls) == 3


def test_falls_back_to_calling_each_layer(monkeypatch):
    from neuro.backends import _fused_event

    calls = []
    real = _fused_event.shared_input_linear
    monkeypatch.setattr(_fused_event, "shared_input_linear", lambda *a: calls.append(1) or real(*a))
    x = (torch.rand(5, 3, 40, dtype=torch.float64) < 0.1).double()
    layers = _layers()
    layers[1].max_density = 0.2  # thresholds differ: each layer decides for itself
    seen = []
    layers[2].register_forward_hook(lambda *a: seen.append(1))
    for case in (layers, [layers[0], layers[2]], [layers[0], EventLinear(40, 3, mode="dense").double()]):
        for y, m in zip(shared_input(x, case), case, strict=True):
            torch.testing.assert_close(y, m(x))
    assert seen and not calls
    with backends.use("reference"):
        fresh = _layers()
        for y, m in zip(shared_input(x, fresh), fresh, strict=True):
            torch.testing.assert_close(y, m(x))
    assert not calls
    shared_input(x, _layers())
    assert calls == [1]
