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

from torch import Tensor, nn

from neuro import backends
from neuro.errors import BackendError, ShapeError

__all__ = ["MaxPool2d"]


class MaxPool2d(nn.MaxPool2d):
    """:class:`torch.nn.MaxPool2d` with a fused path; input ``(..., C, H, W)`` (see the module docstring)."""

    def _fused_window(self) -> int | None:
        k, s = self.kernel_size, self.stride
        if isinstance(k, tuple):
            k = k[0] if k[0] == k[1] else None
        if isinstance(s, tuple):
            s = s[0] if s[0] == s[1] else None
        if (k is None or s != k or self.padding not in (0, (0, 0)) or self.dilation not in (1, (1, 1))
                or self.return_indices or self.ceil_mode):
            return None
        return int(k)

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
