"""Run a stateless layer over every time step at once.

:class:`TimeDistributed` folds time into the batch, ``(T, B, ...) -> (T*B, ...)``, applies the
wrapped module once (one large GEMM/convolution instead of T small ones) and unfolds the result.
BatchNorm inside it therefore normalises over time and batch together, like SpikingJelly's
``SeqToANNContainer`` and tdBN.

Example:
    >>> import torch
    >>> conv = TimeDistributed(torch.nn.Conv2d(2, 4, 3))
    >>> conv(torch.zeros(5, 8, 2, 10, 10)).shape
    torch.Size([5, 8, 4, 8, 8])
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from neuro.errors import ShapeError

__all__ = ["TimeDistributed"]


class TimeDistributed(nn.Module):
    """Apply ``module`` to a time-major ``(T, B, ...)`` tensor by folding T into the batch."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ShapeError(f"TimeDistributed({type(self.module).__name__}): expected input of shape "
                             f"(T, B, ...), got {tuple(x.shape)}")
        t, b = x.shape[:2]
        y = self.module(x.flatten(0, 1))  # (T*B, ...)
        return y.unflatten(0, (t, b))  # (T, B, ...)
