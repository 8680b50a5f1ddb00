r"""Energy of a network on a chip, from its operation counts, under a named convention.

``estimate(counts, chip, convention=...)`` turns :func:`neuro.analysis.count_ops` counts into an
:class:`~hardware_models.report.EnergyReport`. The literature's conventions differ, so every report
names its convention (PAPERS §5.2-5.3). With ``FL(l)`` the dense MACs of one step of layer ``l``,
``fr(l)`` its input firing rate and ``T`` the number of steps:

* ``"sdt"`` — Spike-driven Transformer / Meta-SpikeFormer (first layer once):
  :math:`E = E_{MAC}\,FL(1) + E_{AC}\sum_{l\ge2} fr(l)\,T\,FL(l)`. The first synaptic layer is a MAC
  layer, counted **once**, when its input is real-valued; every other layer is an AC layer weighted
  by its input rate. Neurons and memory cost nothing.
* ``"per_step"`` — Spikingformer / syops counters (first layer × T): a layer with strictly binary
  input costs :math:`fr\,T\,FL` ACs, any other layer :math:`T\,FL` MACs. For a network whose only
  real-valued input is the first layer's, ``per_step - sdt = (T-1) E_MAC FL(1)`` exactly.
* ``"memory"`` — memory-inclusive, event-driven: exact synaptic operations (``synops``, ACs on
  binary inputs, MACs otherwise), neuron updates, spikes, and weight / state / activation traffic
  times the chip's per-byte memory energy. Neuromorphic per-SOP figures include the synaptic memory
  access; an in-memory macro reads weights in place.
* ``"ann"`` — the same network as a bit-matched non-spiking ANN: one pass (``FL`` MACs per layer at
  ``precision``), one activation per neuron, weights and activations moved at the counts' bit widths.
* ``"power"`` — chips that publish only a power figure: ``E = P × duration_s``.

:math:`E_{AC}` is the chip's add at ``precision`` (digital), its per-synaptic-operation energy
(neuromorphic) or its per-MAC macro energy (in-memory). A chip without a MAC (neuromorphic,
in-memory) hands real-valued layers, neuron updates it has no figure for, and memory traffic to
its ``host`` chip; the report says so.

Example:
    >>> from neuro.analysis import LayerOps, OpCounts
    >>> counts = OpCounts((LayerOps("conv1", "Conv2d", "synapse", time_steps=4, macs=400.0,
    ...                             input_events=40.0, input_elements=40.0, input_binary=False),
    ...                    LayerOps("fc", "Linear", "synapse", time_steps=4, macs=100.0,
    ...                             input_events=10.0, input_elements=40.0)), 4, 1)
    >>> sdt, step = estimate(counts, "cmos45", "sdt"), estimate(counts, "cmos45", "per_step")
    >>> round((step.total - sdt.total) * 1e12, 6)       # (T-1) * 4.6 pJ * 100 MACs
    1380.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hardware_models.chips import ChipSpec, Figure, load_chip
from hardware_models.report import EnergyReport, LayerEnergy
from neuro.analysis.ops import LayerOps, OpCounts
from neuro.errors import ConfigError, UnknownNameError, unknown_name

__all__ = ["ALIASES", "CONVENTIONS", "PRECISIONS", "Convention", "compare", "estimate"]

PRECISIONS = ("fp32", "fp16", "int32", "int8")
_SYNAPTIC = ("synapse", "attention")


@dataclass
class _Costs:
    """Per-operation energies of one chip (and its host), remembering every figure used."""

    chip: ChipSpec
    precision: str
    weight_memory: str
    used: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _fig(self, chip: ChipSpec, key: str) -> float:
        fig = chip.figure(key)
        self.used[f"{chip.name}:{key}"] = fig
        return fig.joules

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def digital(self, why: str) -> ChipSpec:
        """The chip doing digital arithmetic: this one, or its host."""
        if self.chip.kind == "digital":
            return self.chip
        if not self.chip.host:
            raise ConfigError(f"chip {self.chip.name!r} cannot do {why} and names no host chip")
        self._note(f"{why} costed on host chip {self.chip.host!r}")
        return load_chip(self.chip.host)

    def mac(self) -> float:
        chip = self.digital("real-valued MACs")
        if chip.has(f"mac_{self.precision}"):
            return self._fig(chip, f"mac_{self.precision}")
        return self._fig(chip, f"mult_{self.precision}") + self._fig(chip, f"add_{self.precision}")

    def add(self) -> float:
        return self._fig(self.digital("additions"), f"add_{self.precision}")

    def ac(self) -> float:
        if self.chip.kind == "digital":
            return self.add()
        key = "sop" if self.chip.kind == "neuromorphic" else "imc_mac"
        if not self.chip.has(key):
            raise ConfigError(f"chip {self.chip.name!r} publishes no per-operation energy ({key!r}); use "
                              f"convention='power' with duration_s, or another chip")
        return self._fig(self.chip, key)

    def neuron(self, state_vars: int) -> float:
        if self.chip.has("neuron_update"):
            return self._fig(self.chip, "neuron_update")
        if self.chip.kind == "neuromorphic":
            self._note(f"chip {self.chip.name!r} publishes no neuron-update energy: neuron updates cost 0 here")
            return 0.0
        chip = self.digital("neuron updates")
        # leak (mult) and input (add) per state variable, one comparison (add) for the threshold
        mult, add = self._fig(chip, f"mult_{self.precision}"), self._fig(chip, f"add_{self.precision}")
        return max(state_vars, 1) * (mult + add) + add

    def memory_byte(self, what: str) -> float:
        if self.chip.kind == "neuromorphic":
            self._note(f"{what} traffic is inside the neuromorphic chip's per-operation figures (not charged)")
            return 0.0
        chip = self.digital(f"{what} traffic")
        key = "sram_byte" if what != "weight" or self.weight_memory == "sram" else "dram_byte"
        return self._fig(chip, key)

    def spike(self) -> float:
        return self._fig(self.chip, "spike") if self.chip.has("spike") else 0.0


def _layer(x: LayerOps, energy: dict[str, float], ops: dict[str, float]) -> LayerEnergy:
    return LayerEnergy(x.name, x.module, x.kind, {k: v for k, v in energy.items() if v},
                       {k: v for k, v in ops.items() if v})


def _sdt(counts: OpCounts, costs: _Costs, duration_s: float | None) -> list[LayerEnergy]:
    first = next((x.name for x in counts if x.kind in _SYNAPTIC), None)
    out = []
    for x in counts:
        if x.kind not in _SYNAPTIC:
            out.append(_layer(x, {}, {}))
        elif x.name == first and not x.input_binary:
            out.append(_layer(x, {"mac": x.macs_per_step * costs.mac()}, {"mac": x.macs_per_step}))
        else:
            if x.name == first:
                costs._note(f"first layer {x.name!r} receives spikes: counted as AC (PAPERS §5.2)")
            elif not x.input_binary:
                costs._note(f"layer {x.name!r} receives non-binary input but this convention counts it as AC")
            ops = x.input_rate * x.macs
            out.append(_layer(x, {"ac": ops * costs.ac()}, {"ac": ops}))
    return out


def _per_step(counts: OpCounts, costs: _Costs, duration_s: float | None) -> list[LayerEnergy]:
    out = []
    for x in counts:
        if x.kind not in _SYNAPTIC:
            out.append(_layer(x, {}, {}))
        elif x.input_binary:
            ops = x.input_rate * x.macs
            out.append(_layer(x, {"ac": ops * costs.ac()}, {"ac": ops}))
        else:
            out.append(_layer(x, {"mac": x.macs * costs.mac()}, {"mac": x.macs}))
    return out


def _memory(counts: OpCounts, costs: _Costs, duration_s: float | None) -> list[LayerEnergy]:
    out = []
    for x in counts:
        e: dict[str, float] = {}
        ops: dict[str, float] = {}
        if x.kind in _SYNAPTIC:
            key = "ac" if x.input_binary else "mac"
            ops[key] = x.synops
            e[key] = x.synops * (costs.ac() if x.input_binary else costs.mac())
            if costs.chip.kind == "digital" or not x.input_binary:
                e["weight_mem"] = x.weight_read_bytes * costs.memory_byte("weight")
        if x.kind == "neuron":
            ops["neuron"] = x.state_updates
            e["neuron"] = x.state_updates * costs.neuron(x.state_vars)
            if not costs.chip.has("neuron_update"):
                e["state_mem"] = (x.state_read_bytes + x.state_write_bytes) * costs.memory_byte("state")
            ops["spike"] = x.spikes
            e["spike"] = x.spikes * costs.spike()
        e["act_mem"] = (x.act_read_bytes + x.act_write_bytes) * costs.memory_byte("activation")
        out.append(_layer(x, e, ops))
    return out


def _ann(counts: OpCounts, costs: _Costs, duration_s: float | None) -> list[LayerEnergy]:
    opt = counts.options
    costs._note(f"ANN: {opt.weight_bits}-bit weights and {opt.act_bits}-bit activations, {costs.precision} "
                f"arithmetic, one pass (no time steps)")
    out = []
    for x in counts:
        t = x.time_steps
        e: dict[str, float] = {}
        ops: dict[str, float] = {}
        if x.kind in _SYNAPTIC:
            ops["mac"] = x.macs_per_step
            e["mac"] = x.macs_per_step * costs.mac()
            e["weight_mem"] = x.macs_per_step * opt.weight_bits / 8 * costs.memory_byte("weight")
            act_bytes = (x.input_elements + x.outputs) / t * opt.act_bits / 8
            e["act_mem"] = act_bytes * costs.memory_byte("activation")
        elif x.kind == "neuron":
            ops["neuron"] = x.neurons  # one activation function (a comparison) per neuron
            e["neuron"] = x.neurons * costs.add()
            e["act_mem"] = x.neurons * opt.act_bits / 8 * costs.memory_byte("activation")
        out.append(_layer(x, e, ops))
    return out


def _power(counts: OpCounts, costs: _Costs, duration_s: float | None) -> list[LayerEnergy]:
    if duration_s is None or not duration_s > 0:
        raise ConfigError("convention 'power' needs duration_s > 0 (the time one sample runs, e.g. T * dt)")
    if not costs.chip.has("power_total"):
        raise ConfigError(f"chip {costs.chip.name!r} records no power_total figure for convention 'power'")
    power = costs._fig(costs.chip, "power_total")
    costs._note(f"whole-chip power x {duration_s:g} s; not resolved per layer")
    return [LayerEnergy("(chip)", costs.chip.title, "chip", {"power": power * duration_s}, {"seconds": duration_s})]


@dataclass(frozen=True)
class Convention:
    name: str
    description: str
    fn: Callable[[OpCounts, _Costs, float | None], list[LayerEnergy]]


#: Registry of energy conventions. One line per convention.
CONVENTIONS: dict[str, Convention] = {
    "sdt": Convention("sdt", "SDT/Meta-SpikeFormer: first real-valued layer as MACs once, others fr*T*FL ACs", _sdt),
    "per_step": Convention("per_step", "Spikingformer/syops: binary-input layers fr*T*FL ACs, others T*FL MACs "
                           "(first layer x T)", _per_step),
    "memory": Convention("memory", "memory-inclusive: exact synaptic ops, neuron updates, spikes, weight/state/"
                         "activation traffic", _memory),
    "ann": Convention("ann", "bit-matched non-spiking ANN: FL MACs per layer once, plus memory traffic", _ann),
    "power": Convention("power", "published chip power x duration", _power),
}
#: Other names the literature uses for the same conventions.
ALIASES: dict[str, str] = {"first_layer_once": "sdt", "spike_driven": "sdt", "syops": "per_step",
                           "spikingformer": "per_step", "first_layer_x_t": "per_step"}


def estimate(counts: OpCounts, chip: str | ChipSpec, convention: str = "sdt", *, precision: str = "fp32",
             weight_memory: str = "sram", duration_s: float | None = None) -> EnergyReport:
    """Energy per sample of the network counted in ``counts`` on ``chip``.

    Args:
        counts: from :func:`neuro.analysis.count_ops`.
        chip: a name in :data:`hardware_models.chips.CHIPS`, a chip TOML path or a :class:`ChipSpec`.
        convention: a name in :data:`CONVENTIONS` (or :data:`ALIASES`).
        precision: arithmetic of digital operations, one of :data:`PRECISIONS`.
        weight_memory: ``"sram"`` (on-chip) or ``"dram"`` for weight traffic of digital chips.
        duration_s: seconds per sample (``"power"`` convention only).
    """
    name = ALIASES.get(convention.lower(), convention.lower())
    if name not in CONVENTIONS:
        raise unknown_name("energy convention", convention, [*CONVENTIONS, *ALIASES])
    if precision not in PRECISIONS:
        raise unknown_name("precision", precision, PRECISIONS)
    if weight_memory not in ("sram", "dram"):
        raise unknown_name("weight memory", weight_memory, ("sram", "dram"))
    spec = load_chip(chip)
    conv = CONVENTIONS[name]
    costs = _Costs(spec, precision, weight_memory)
    try:
        layers = conv.fn(counts, costs, duration_s)
    except UnknownNameError as exc:
        raise ConfigError(f"convention {name!r} on chip {spec.name!r}: {exc}") from None
    figures = tuple(costs.used.values())
    notes = list(costs.notes)
    flagged = [f"{f.key} ({f.status})" for f in figures if not f.verified]
    if flagged:
        notes.append("uses figures not checked against a source: " + ", ".join(flagged))
    return EnergyReport(spec.name, name, conv.description, precision, counts.time_steps, tuple(layers), figures,
                        tuple(notes))


def compare(counts: OpCounts, chips: list[str], conventions: tuple[str, ...] = ("sdt", "per_step", "memory", "ann"),
            **kwargs) -> dict[tuple[str, str], EnergyReport]:
    """Reports for every (chip, convention) pair that the chip supports; others are skipped."""
    out = {}
    for chip in chips:
        for conv in conventions:
            try:
                out[(chip, conv)] = estimate(counts, chip, conv, **kwargs)
            except ConfigError:
                continue
    return out
