"""Analysis of simulated networks: operation counting for energy estimation.

:func:`count_ops` runs a model once with forward hooks and returns :class:`OpCounts` (per-layer
dense MACs, input firing rates, synaptic operations triggered by spikes, neuron updates, spikes and
memory traffic). Custom layers plug in through :data:`COUNTERS` or a ``count_ops`` method;
:mod:`neuro.analysis.attention` counts the spike-driven attention forms.
"""

from neuro.analysis.attention import sdsa_v1_ops, sdsa_v2_ops
from neuro.analysis.count import RUNNERS, count_ops
from neuro.analysis.counters import COUNTERS, Counter, conv_ops, counter_for, is_binary, linear_ops, neuron_ops
from neuro.analysis.ops import SUM_FIELDS, CallOps, CountOptions, LayerOps, OpCounts

__all__ = ["COUNTERS", "RUNNERS", "SUM_FIELDS", "CallOps", "CountOptions", "Counter", "LayerOps", "OpCounts",
           "conv_ops", "count_ops", "counter_for", "is_binary", "linear_ops", "neuron_ops", "sdsa_v1_ops",
           "sdsa_v2_ops"]
