r"""Crossbar layers: ``Linear`` / ``Conv2d`` whose weights live in RRAM differential pairs.

:class:`CrossbarLinear` and :class:`CrossbarConv2d` subclass ``torch.nn.Linear`` / ``Conv2d`` (so
they drop into any model, and :func:`neuro.analysis.count_ops` counts them as such). Their life:

* before :meth:`~_Crossbar.program`: ideal weights (``self.weight``), or, in training mode with
  ``noise_injection=True``, *hardware-aware training*: each forward programs and reads a fresh
  simulated array and uses those weights with a straight-through gradient,
  :math:`w_{used} = w + \mathrm{sg}(w_{device}(w) - w)`;
* :meth:`~_Crossbar.program` maps ``weight`` to pairs (:func:`~hardware_models.devices.rram.weights_to_pair`,
  ``w_max`` = the largest ``|w|`` unless given) and writes them once (levels, D2D/C2C variation,
  faults);
* every forward afterwards reads the array: drift to ``read_time`` seconds, read noise on each
  read, ``y = x W^T`` through an optional ``adc_bits`` ADC over ``±adc_full_scale``, plus the
  digital bias.

:func:`to_crossbar` converts every ``Linear``/``Conv2d`` of a model; :func:`monte_carlo` evaluates a
converted model over device draws.

Example:
    >>> import torch
    >>> from hardware_models.devices.rram import RRAMParams
    >>> layer = CrossbarLinear(4, 2, rram=RRAMParams(levels=16))
    >>> layer.program(generator=torch.Generator().manual_seed(0))
    >>> layer(torch.ones(3, 4)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hardware_models.devices.rram import (
    DeviceMap,
    RRAMParams,
    adc_quantize,
    drift,
    pair_to_weights,
    program,
    read,
    sample_device_map,
    weights_to_pair,
)
from neuro.errors import ConfigError

__all__ = ["CrossbarConv2d", "CrossbarLinear", "MonteCarloResult", "crossbar_layers", "device_weights",
           "monte_carlo", "to_crossbar"]


def device_weights(w: Tensor, p: RRAMParams, w_max: float, generator: torch.Generator | None = None,
                   t: float | None = None) -> Tensor:
    """Weights after one simulated program + (drift) + read of a fresh array (no gradient)."""
    gp, gn, k = weights_to_pair(w, p, w_max)
    maps = [sample_device_map(tuple(w.shape), p, generator) for _ in range(2)]
    reads = [read(drift(program(g, p, m, generator), t, p, m), p, generator) for g, m in zip((gp, gn), maps,
                                                                                             strict=True)]
    return pair_to_weights(reads[0], reads[1], k)


class _Crossbar:
    """Shared state and behaviour of the crossbar layers (mixed into Linear / Conv2d)."""

    weight: Tensor
    bias: Tensor | None
    training: bool

    def _init_crossbar(self, rram: RRAMParams, w_max: float | None, adc_full_scale: float | None,
                       noise_injection: bool, read_time: float | None, generator: torch.Generator | None) -> None:
        self.rram = rram
        self.w_max = w_max
        self.adc_full_scale = adc_full_scale
        self.noise_injection = bool(noise_injection)
        self.read_time = read_time
        self.generator = generator
        self.k = 0.0
        for name in ("g_pos", "g_neg", "d2d_pos", "d2d_neg", "nu_pos", "nu_neg"):
            self.register_buffer(name, torch.empty(0))  # type: ignore[attr-defined]
        for name in ("stuck_pos", "stuck_neg"):
            self.register_buffer(name, torch.empty(0, dtype=torch.int8))  # type: ignore[attr-defined]

    @property
    def programmed(self) -> bool:
        return self.g_pos.numel() > 0

    def _map(self, sign: str) -> DeviceMap:
        return DeviceMap(getattr(self, f"d2d_{sign}"), getattr(self, f"stuck_{sign}"), getattr(self, f"nu_{sign}"))

    def _w_max(self) -> float:
        w_max = self.w_max if self.w_max is not None else float(self.weight.detach().abs().max())
        return w_max if w_max > 0 else 1.0

    def program(self, generator: torch.Generator | None = None, new_devices: bool = True) -> None:
        """Write ``weight`` into the array once. ``new_devices=False`` keeps the device map (D2D
        offsets, faults, drift exponents) and redraws only cycle-to-cycle variation."""
        shape = tuple(self.weight.shape)
        if new_devices or not self.programmed:
            for sign in ("pos", "neg"):
                m = sample_device_map(shape, self.rram, generator)
                for field, value in zip(DeviceMap._fields, m, strict=True):
                    setattr(self, f"{field}_{sign}", value.to(self.weight.device))
        gp, gn, self.k = weights_to_pair(self.weight, self.rram, self._w_max())
        self.g_pos = program(gp, self.rram, self._map("pos"), generator)
        self.g_neg = program(gn, self.rram, self._map("neg"), generator)

    def effective_weight(self) -> Tensor:
        """The weights one forward uses (see the module docstring)."""
        if self.programmed:
            g = [read(drift(getattr(self, f"g_{s}"), self.read_time, self.rram, self._map(s)), self.rram,
                      self.generator) for s in ("pos", "neg")]
            return pair_to_weights(g[0], g[1], self.k).to(self.weight.dtype)
        if self.training and self.noise_injection:
            noisy = device_weights(self.weight, self.rram, self._w_max(), self.generator, self.read_time)
            return self.weight + (noisy.to(self.weight.dtype) - self.weight).detach()
        return self.weight

    def _adc(self, y: Tensor) -> Tensor:
        if not self.rram.adc_bits:
            return y
        if self.adc_full_scale is None:
            raise ConfigError(f"{type(self).__name__}: the device has a {self.rram.adc_bits}-bit ADC; set "
                              f"adc_full_scale (the output magnitude that maps to the top code)")
        q = adc_quantize(y, self.rram.adc_bits, self.adc_full_scale)
        return y + (q - y).detach()  # straight-through, so hardware-aware training sees a gradient

    def extra_repr_crossbar(self) -> str:
        return (f"programmed={self.programmed}, levels={self.rram.levels}, read_noise={self.rram.read_noise:g}, "
                f"adc_bits={self.rram.adc_bits}, noise_injection={self.noise_injection}")


class CrossbarLinear(_Crossbar, nn.Linear):
    """``nn.Linear`` on an RRAM crossbar; see the module docstring."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rram: RRAMParams,
                 w_max: float | None = None, adc_full_scale: float | None = None, noise_injection: bool = False,
                 read_time: float | None = None, generator: torch.Generator | None = None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_crossbar(rram, w_max, adc_full_scale, noise_injection, read_time, generator)

    def forward(self, x: Tensor) -> Tensor:
        y = self._adc(F.linear(x, self.effective_weight()))
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self.extra_repr_crossbar()}"


class CrossbarConv2d(_Crossbar, nn.Conv2d):
    """``nn.Conv2d`` on an RRAM crossbar (the kernel unrolled onto rows); see the module docstring."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride=1,
                 padding=0, dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 rram: RRAMParams, w_max: float | None = None, adc_full_scale: float | None = None,
                 noise_injection: bool = False, read_time: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                           padding_mode)
        self._init_crossbar(rram, w_max, adc_full_scale, noise_injection, read_time, generator)

    def forward(self, x: Tensor) -> Tensor:
        y = self._adc(self._conv_forward(x, self.effective_weight(), None))
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self.extra_repr_crossbar()}"


def _convert(layer: nn.Module, rram: RRAMParams, **kw) -> nn.Module:
    if isinstance(layer, nn.Linear):
        new: nn.Module = CrossbarLinear(layer.in_features, layer.out_features, layer.bias is not None, rram=rram, **kw)
    else:
        new = CrossbarConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                             layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode, rram=rram, **kw)
    new.load_state_dict(layer.state_dict(), strict=False)
    return new.to(layer.weight.device)


def to_crossbar(model: nn.Module, rram: RRAMParams, *, program_now: bool = True,
                generator: torch.Generator | None = None, **kw) -> nn.Module:
    """A copy of ``model`` with every ``Linear``/``Conv2d`` on a crossbar (programmed unless
    ``program_now=False``, e.g. for hardware-aware training with ``noise_injection=True``)."""
    model = copy.deepcopy(model)
    targets = [(name, m) for name, m in model.named_modules()
               if type(m) in (nn.Linear, nn.Conv2d)]
    for name, layer in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = _convert(layer, rram, **kw)
        if program_now:
            new.program(generator)
        if not name:
            return new
        setattr(parent, attr, new)
    return model


def crossbar_layers(model: nn.Module) -> list[_Crossbar]:
    return [m for m in model.modules() if isinstance(m, _Crossbar)]


@dataclass(frozen=True)
class MonteCarloResult:
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(torch.tensor(self.values, dtype=torch.float64).mean())

    @property
    def std(self) -> float:
        return float(torch.tensor(self.values, dtype=torch.float64).std()) if len(self.values) > 1 else 0.0


def monte_carlo(model: nn.Module, evaluate: Callable[[nn.Module], float], draws: int, *, seed: int = 0,
                new_devices: bool = True) -> MonteCarloResult:
    """Re-program every crossbar of ``model`` ``draws`` times (seeds ``seed, seed+1, ...``; new chips,
    or the same chip re-written when ``new_devices=False``) and collect ``evaluate(model)``."""
    layers = crossbar_layers(model)
    if not layers:
        raise ConfigError("monte_carlo: the model has no crossbar layers; convert it with to_crossbar first")
    if draws < 1:
        raise ConfigError(f"monte_carlo: draws must be >= 1, got {draws}")
    values = []
    for i in range(draws):
        g = torch.Generator().manual_seed(seed + i)
        for layer in layers:
            layer.program(g, new_devices=new_devices or not layer.programmed)
            layer.generator = g
        values.append(float(evaluate(model)))
    return MonteCarloResult(tuple(values))
