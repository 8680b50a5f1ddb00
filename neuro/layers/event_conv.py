r"""A 2-D convolution layer that exploits sparse spike or event inputs.

Exactly :class:`torch.nn.Conv2d`, but when the input is sparse (event frames, spikes) and the
convolution has stride 1, no dilation and one group, the forward pass adds, for every non-zero input,
its weighted kernel into the outputs it reaches, and the weight gradient gathers the output gradient
the same way: ``K * K * C_out`` multiply-adds per input event instead of the dense convolution's
``C_in * K * K`` per output value (on a backend that provides ``"event_conv2d"``, e.g. ``fused``).
The choice is made per call from the measured density (``mode="auto"``): at or below ``max_density``
the event-driven path, above it (or for a configuration it does not cover) ``F.conv2d``. Both give the
same result up to float summation order; the input gradient (hidden layers) is always torch's dense
one. On the ``fused`` backend a too-dense input with at least 8 channels whose weight needs a gradient runs
oneDNN's convolution with the weight gradient computed from a channels-last copy of the input, which oneDNN
computes several times faster (see :mod:`neuro.backends._fused_conv`).

The default ``max_density`` comes from the break-even against oneDNN measured on a 2-core AMD EPYC by
``neuro bench --only crossover`` (forward + weight gradient, 5x5 kernels, 512 images): 0.5 for 2 input
channels (oneDNN is slow on so few), 0.1 for 12 (with the input gradient): so 0.4 below 8 input
channels, 0.1 from 8 on. Run that command to see your machine's; with ``--save-tuning`` it also stores them, and
layers built afterwards on this machine take the break-even measured for the most similar channel counts
(:mod:`neuro.backends.tuning`; on a 2-core Intel Xeon VM with AVX-512 the 2-channel one was 0.02).

Args:
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode: as
        :class:`torch.nn.Conv2d`.
    mode: ``"auto"`` (choose by density), ``"event"`` (always, where the backend covers the configuration)
        or ``"dense"`` (always ``F.conv2d``).
    max_density: density threshold of ``"auto"`` (default: this machine's tuned break-even, else
        :func:`default_max_density`; see above).

Shape:
    input ``(..., C_in, H, W)`` (e.g. time-major ``(T, B, C_in, H, W)``: all steps in one call), output
    ``(..., C_out, H_out, W_out)``.

Example:
    >>> import torch
    >>> conv = EventConv2d(2, 4, 3)
    >>> x = (torch.rand(5, 3, 2, 12, 12) < 0.1).float()
    >>> y = conv(x)
    >>> y.shape, torch.allclose(y, conv._conv_forward(x.flatten(0, 1), conv.weight, conv.bias).view_as(y),
    ...                         atol=1e-6)
    (torch.Size([5, 3, 4, 10, 10]), True)
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from neuro import backends
from neuro.backends import tuning
from neuro.errors import BackendError, ConfigError, ShapeError
from neuro.layers.event_linear import choose_path

__all__ = ["EventConv2d", "default_max_density"]


def default_max_density(in_channels: int) -> float:
    """The built-in break-even input density against oneDNN, measured on a 2-core AMD EPYC (module docstring)."""
    return 0.4 if in_channels < 8 else 0.1


_MODES = ("auto", "event", "dense")


class EventConv2d(nn.Conv2d):
    """:class:`torch.nn.Conv2d` with an event-driven path for sparse inputs; see the module docstring."""

    # no is_sequence flag: like nn.Conv2d, Sequential wraps it in TimeDistributed (all steps in one call), so
    # models keep the structure they have with nn.Conv2d; called directly it also takes (..., C, H, W)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, mode: Literal["auto", "event", "dense"] = "auto",
                 max_density: float | None = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)
        if mode not in _MODES:
            raise ConfigError(f"EventConv2d: mode must be one of {_MODES}, got {mode!r}")
        if max_density is None:
            tuned = tuning.event_conv2d_density(in_channels, out_channels)
            max_density = default_max_density(in_channels) if tuned is None else tuned
        if not 0.0 <= max_density <= 1.0:
            raise ConfigError(f"EventConv2d: max_density must be in [0, 1], got {max_density!r}")
        self.mode = mode
        self.max_density = float(max_density)

    def _event_padding(self) -> int | None:
        """The padding when the event-driven path covers this configuration, else ``None``."""
        k, p = self.kernel_size, self.padding
        if (self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1 or k[0] != k[1]
                or isinstance(p, str) or p[0] != p[1] or (p[0] and self.padding_mode != "zeros")):
            return None
        return int(p[0])

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3 or x.shape[-3] != self.in_channels:
            raise ShapeError(f"EventConv2d: expected input (..., {self.in_channels}, H, W), got {tuple(x.shape)}")
        lead = x.shape[:-3]
        x4 = x.reshape(-1, *x.shape[-3:])
        pad = self._event_padding()
        y = None
        if pad is not None and x4.numel() and choose_path(self.mode) == "event":
            limit = 1.0 if self.mode == "event" else self.max_density
            try:
                _, fn = backends.resolve("event_conv2d", x4, self.weight, self.bias, pad, limit)
            except BackendError:
                fn = None  # no backend covers these inputs (device, dtype, numba missing): dense
            y = None if fn is None else fn(x4, self.weight, self.bias, pad, limit)  # None: denser than the limit
        if y is None:
            y = self._conv_forward(x4, self.weight, self.bias)
        return y.reshape(*lead, *y.shape[1:])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}, max_density={self.max_density:g}"
