"""Model zoo and its registry.

:data:`MODELS` maps a model name (as written in an experiment's ``[model] name = ...``) to a
:class:`ModelEntry`: a frozen config dataclass (its fields are the TOML keys) and a builder
``build(config, input_shape, num_classes) -> nn.Module``. ``input_shape`` is the shape of one time
step of one sample, e.g. ``(2, 34, 34)``. The returned module maps time-major input ``(T, B, ...)``
to outputs ``(T, B, num_classes)``, either as ``forward(x) -> out`` or, when stateful, as
``forward(x, state=None) -> (out, state)``; :func:`neuro.simulate` runs both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from torch import nn

from neuro.config import named_entry
from neuro.models.conv_snn import ConvSNNConfig, build_conv_snn
from neuro.models.lsm import LSMConfig, build_lsm
from neuro.models.meta_spikeformer import MetaSpikeFormerConfig, build_meta_spikeformer
from neuro.models.mlp_snn import MLPSNNConfig, build_mlp_snn
from neuro.models.spike_driven_transformer import SDTConfig, build_sdt


class ModelEntry(NamedTuple):
    config: type
    build: Callable[[Any, tuple[int, ...], int], nn.Module]


#: Registry of model builders. One line per model.
MODELS: dict[str, ModelEntry] = {
    "conv_snn": ModelEntry(ConvSNNConfig, build_conv_snn),
    "mlp_snn": ModelEntry(MLPSNNConfig, build_mlp_snn),
    "sdt": ModelEntry(SDTConfig, build_sdt),
    "meta_spikeformer": ModelEntry(MetaSpikeFormerConfig, build_meta_spikeformer),
    "lsm": ModelEntry(LSMConfig, build_lsm),
}


def model_config(table: Mapping[str, Any]) -> tuple[ModelEntry, Any]:
    """Validate an experiment's ``[model]`` table: its registry entry and config (errors name the key)."""
    return named_entry(MODELS, table, "model", "model")


def build_model(table: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build the model described by an experiment's ``[model]`` table."""
    entry, config = model_config(table)
    return entry.build(config, tuple(input_shape), int(num_classes))


__all__ = ["MODELS", "ModelEntry", "build_model", "model_config"]
