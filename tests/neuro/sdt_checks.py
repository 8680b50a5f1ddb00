"""Checks shared by the spike-driven transformer tests: binary tensors, a spy on products, grad flow."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

import neuro

#: Every way a forward pass can multiply two tensors elementwise.
ELEMENTWISE_PRODUCTS = {torch.mul, Tensor.mul, Tensor.mul_, Tensor.__mul__, Tensor.__rmul__, Tensor.__imul__}
#: Every way it can contract two tensors (or normalise with softmax).
CONTRACTIONS = {torch.matmul, Tensor.matmul, Tensor.__matmul__, Tensor.__rmatmul__, torch.bmm, Tensor.bmm,
                torch.einsum, torch.softmax, Tensor.softmax, nn.functional.softmax, torch.nn.functional.linear}


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread: these tests use small tensors, where a second thread shared with other
    processes on a loaded 2-core machine costs far more in synchronisation than it gains."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def is_binary(x: Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


class ProductSpy(TorchFunctionMode):
    """Records the operands of every tensor-by-tensor product and every contraction called."""

    def __init__(self) -> None:
        super().__init__()
        self.products: list[tuple[Tensor, Tensor]] = []
        self.contractions: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in ELEMENTWISE_PRODUCTS and len(args) >= 2:
            a, b = args[0], args[1]
            if isinstance(a, Tensor) and isinstance(b, Tensor) and a.numel() > 1 and b.numel() > 1:
                self.products.append((a.detach().clone(), b.detach().clone()))
        if func in CONTRACTIONS:
            self.contractions.append(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


def recorded_spikes(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Every LIF's output spikes over a forward pass of ``model`` (through :func:`neuro.simulate`)."""
    trace = neuro.simulate(model, x, record=True)
    spikes = {k: v for k, v in trace.records.items() if k.endswith(".spikes")}
    assert spikes, "no neuron was recorded"
    return spikes


def assert_grads_flow(model: nn.Module, loss: Tensor, unused: Iterable[str] = ()) -> None:
    """Every parameter except those named in ``unused`` gets a finite, non-zero gradient."""
    unused = set(unused)
    loss.backward()
    dead = []
    for name, p in model.named_parameters():
        if any(name.endswith(u) for u in unused):
            assert p.grad is None, f"{name} is documented as unused but received a gradient"
            continue
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0:
            dead.append(name)
    assert not dead, f"no gradient reached: {dead}"


def inputs_of(model: nn.Module, types: tuple[type, ...], x: Tensor) -> list[tuple[str, Tensor]]:
    """``(module name, input)`` for every submodule of the given types, in call order."""
    seen: list[tuple[str, Tensor]] = []
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.append((name, args[0].detach())))
               for name, m in model.named_modules() if isinstance(m, types)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen
