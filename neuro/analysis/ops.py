"""Operation-count records: what one forward call did (:class:`CallOps`), what one layer did over a
whole simulation (:class:`LayerOps`) and the whole network (:class:`OpCounts`).

Every :class:`LayerOps` figure is **per sample, summed over all time steps** (divide by
``time_steps`` for a per-step figure). Definitions:

* ``macs`` — dense multiply-accumulates, ``FL(l) * T`` (``FL`` as in PAPERS §5.2: ``k² h w c_in
  c_out`` for a convolution, ``i * o`` for a linear layer);
* ``synops`` — accumulates actually triggered by non-zero inputs (an input element that is zero
  costs nothing in an event-driven machine); equal to ``macs`` scaled by the exact number of
  non-zero inputs each output sees, so ``synops <= macs``;
* ``input_events`` / ``input_elements`` — non-zero / all input elements; ``input_rate`` is their
  ratio (the firing rate of a spike input); ``input_binary`` — every input value was 0 or 1;
* ``row_activations`` — crossbar rows driven (non-zero inputs per output position), ``outputs`` —
  output elements produced (column reads / ADC conversions in an in-memory macro);
* ``state_updates`` — neuron updates (one per neuron per step), ``state_vars`` — state variables
  per neuron, ``spikes`` — spikes emitted;
* memory traffic in bytes (see :class:`CountOptions` for the bit widths): ``weight_read_bytes`` —
  one weight fetch per triggered operation (no on-chip reuse); ``state_read_bytes`` /
  ``state_write_bytes`` — every state variable read and written once per neuron update;
  ``act_read_bytes`` / ``act_write_bytes`` — layer inputs read (1 bit per element when the input is
  binary: a spike bitmap) and outputs written (spike bitmaps for neurons).

Example:
    >>> counts = OpCounts(layers=(LayerOps("fc", "Linear", "synapse", time_steps=4, macs=40.0, synops=8.0),),
    ...                   time_steps=4, batch_size=1)
    >>> counts.total("synops"), counts["fc"].macs_per_step
    (8.0, 10.0)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from neuro.errors import ConfigError, UnknownNameError

__all__ = ["SUM_FIELDS", "CallOps", "CountOptions", "LayerOps", "OpCounts"]


@dataclass(frozen=True)
class CountOptions:
    """Bit widths used to turn element counts into bytes.

    Args:
        weight_bits: bits per stored weight (32 for fp32, 8 for int8 ...).
        state_bits: bits per neuron state variable.
        act_bits: bits per non-spike activation (synaptic currents, real-valued inputs).
    """

    weight_bits: int = 32
    state_bits: int = 32
    act_bits: int = 32

    def __post_init__(self) -> None:
        for name in ("weight_bits", "state_bits", "act_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"CountOptions.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class _Counts:
    """The count fields shared by :class:`CallOps` and :class:`LayerOps` (keyword-only; see the module docstring)."""

    macs: float = 0.0
    synops: float = 0.0
    input_events: float = 0.0
    input_elements: float = 0.0
    input_binary: bool = True
    row_activations: float = 0.0
    outputs: float = 0.0
    state_updates: float = 0.0
    state_vars: int = 0
    spikes: float = 0.0
    params: int = 0
    weight_read_bytes: float = 0.0
    state_read_bytes: float = 0.0
    state_write_bytes: float = 0.0
    act_read_bytes: float = 0.0
    act_write_bytes: float = 0.0


@dataclass(frozen=True)
class CallOps(_Counts):
    """Counts of one forward call of one module, totals over everything in that call (all samples
    and any time steps folded into the batch): ``CallOps(kind, **counts)``. Counters return one of these."""

    kind: str


#: Fields of :class:`CallOps` summed over calls (the rest are per-layer properties).
SUM_FIELDS: tuple[str, ...] = ("macs", "synops", "input_events", "input_elements", "row_activations", "outputs",
                               "state_updates", "spikes", "weight_read_bytes", "state_read_bytes",
                               "state_write_bytes", "act_read_bytes", "act_write_bytes")


@dataclass(frozen=True)
class LayerOps(_Counts):
    """One layer's counts over a whole simulation, per sample (``LayerOps(name, module, kind, calls, time_steps,
    **counts)``); see the module docstring."""

    name: str
    module: str
    kind: str
    calls: int = 1
    time_steps: int = 1

    @property
    def input_rate(self) -> float:
        """Fraction of non-zero input elements (the input firing rate for spike inputs)."""
        return self.input_events / self.input_elements if self.input_elements else 0.0

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron update (neuron layers)."""
        return self.spikes / self.state_updates if self.state_updates else 0.0

    @property
    def macs_per_step(self) -> float:
        """Dense MACs of one time step, ``FL(l)``."""
        return self.macs / self.time_steps

    @property
    def neurons(self) -> float:
        """Neurons per sample (neuron layers)."""
        return self.state_updates / self.time_steps


@dataclass(frozen=True)
class OpCounts:
    """Per-layer counts of one network, in forward execution order; index by layer name."""

    layers: tuple[LayerOps, ...]
    time_steps: int
    batch_size: int
    options: CountOptions = field(default_factory=CountOptions)

    def __getitem__(self, name: str) -> LayerOps:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownNameError(f"no layer {name!r} in these counts; layers: "
                               f"{', '.join(x.name for x in self.layers) or 'none'}")

    def __iter__(self) -> Iterator[LayerOps]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def total(self, name: str, kind: str | None = None) -> float:
        """Sum of field ``name`` over the layers (of one ``kind`` if given)."""
        if name not in SUM_FIELDS:
            raise UnknownNameError(f"cannot total {name!r}; summable fields: {', '.join(SUM_FIELDS)}")
        return float(sum(getattr(x, name) for x in self.layers if kind is None or x.kind == kind))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` inverts it."""
        return {"time_steps": self.time_steps, "batch_size": self.batch_size,
                "options": dataclasses.asdict(self.options),
                "layers": [dataclasses.asdict(x) for x in self.layers]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpCounts:
        try:
            layers = tuple(LayerOps(**x) for x in data["layers"])
            return cls(layers, int(data["time_steps"]), int(data["batch_size"]), CountOptions(**data["options"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"OpCounts.from_dict: malformed counts ({exc})") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """A plain-text table, one row per layer (per-sample figures over all steps)."""
        w = max([5, *(len(x.name) for x in self.layers)]) + 1
        head = f"{'layer':<{w}}{'module':<14}{'kind':<10}{'MACs':>12}{'SynOps':>12}{'in rate':>9}{'spikes':>10}"
        rows = [head, "-" * len(head)]
        for x in self.layers:
            rows.append(f"{x.name:<{w}}{x.module[:13]:<14}{x.kind:<10}{x.macs:>12.4g}{x.synops:>12.4g}"
                        f"{x.input_rate:>9.3f}{x.spikes:>10.4g}")
        rows.append(f"T = {self.time_steps}, per sample (batch of {self.batch_size})")
        return "\n".join(rows)
