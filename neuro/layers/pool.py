"""Max pooling with a fused CPU kernel for the common spiking-network case (window = stride, no padding).

:class:`MaxPool2d` is :class:`torch.nn.MaxPool2d`; when the window equals the stride, there is no
padding or dilation, indices are not requested and a backend provides ``"max_pool2d"`` (``fused``, for
contiguous float32/float64 CPU tensors) it runs there: the forward pass keeps one byte per window for
the position of its maximum (torch keeps an int64 index), and the backward pass writes the input
gradient in one pass per plane. The first maximum of a window in row-major order is selected, as torch
does (this matters for binary spike maps, whose windows often hold several 1s); values and gradients
equal ``F.max_pool2d``'s exactly. Anything else runs ``F.max_pool2d``.

Example:
    >>> import torch
    >>> pool = MaxPool2d(2)
    >>> x = (torch.rand(3, 4, 2, 8, 8) < 0.3).float()
    >>> torch.equal(pool(x), torch.nn.functional.max_pool2d(x.flatten(0, 1), 2).view(3, 4, 2, 4, 4))
    True
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from neuro import backends
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import BackendError, ShapeError

__all__ = ["MaxPool2d", "pool_window"]


def _square(value: Any) -> Any:
    """A square window's side (``None`` for a non-square tuple); non-tuples as they are."""
    if isinstance(value, tuple):
        return value[0] if len(value) == 2 and value[0] == value[1] else None
    return value


def pool_window(module: nn.Module) -> tuple[str, int] | None:
    """``("max" | "avg", k)`` when ``module`` (possibly in a :class:`TimeDistributed`) is a 2-D max or average pool
    the fused operations compute: window = stride = ``k``, no padding, dilation or ceil mode, no indices returned,
    no divisor override; else ``None``."""
    if isinstance(module, TimeDistributed):
        module = module.module
    if isinstance(module, nn.MaxPool2d):
        kind = "max"
        if _square(module.dilation) != 1 or module.return_indices:
            return None
    elif isinstance(module, nn.AvgPool2d):
        kind = "avg"
        if module.divisor_override is not None:
            return None
    else:
        return None
    k, stride = _square(module.kernel_size), _square(module.stride)
    if k is None or stride != k or _square(module.padding) != 0 or module.ceil_mode:
        return None
    return kind, int(k)


class MaxPool2d(nn.MaxPool2d):
    """:class:`torch.nn.MaxPool2d` with a fused path; input ``(..., C, H, W)`` (see the module docstring)."""

    def _fused_window(self) -> int | None:
        window = pool_window(self)
        return None if window is None else window[1]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ShapeError(f"MaxPool2d: expected input (..., C, H, W), got {tuple(x.shape)}")
        k = self._fused_window()
        lead = x.shape[:-3]
        x4 = x.reshape(-1, *x.shape[-3:])
        fn = None
        if k is not None and backends.current() != "reference":
            try:
                _, fn = backends.resolve("max_pool2d", x4, k)
            except BackendError:
                fn = None  # no backend takes these inputs (device, dtype, layout, numba missing)
        y = fn(x4, k) if fn is not None else super().forward(x4)
        return y.reshape(*lead, *y.shape[1:])
