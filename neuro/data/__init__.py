"""Event datasets: from files on disk (or a verified download) to time-major tensors.

:data:`DATASETS` maps the name an experiment writes in ``[data] name = ...`` to a :class:`DatasetEntry`:
a frozen config dataclass (its fields are the other keys of the ``[data]`` table) and a builder
``build(config, split) -> Dataset``. :func:`build_dataset` does both from the table. Every dataset yields
``(x, label)``: ``x`` float32 of shape ``(T, *input_shape)``, ``label`` an int; it has ``num_classes`` and
``input_shape`` (one time step). :func:`collate_time_major` batches samples into ``(T, B, ...)``.

Events follow tonic's convention (structured arrays ``x, y, t, p``, t in µs, plus ``sensor_size``); see
:mod:`neuro.data.events`. Files and caches live under the data root: ``$NEURO_DATA_ROOT`` or
``./datasets/data``.

Example:
    >>> import torch
    >>> x, y = collate_time_major([(torch.ones(3, 2), 1), (torch.ones(5, 2), 0)])
    >>> tuple(x.shape), y.tolist(), x[4, 0].tolist()
    ((5, 2, 2), [1, 0], [0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from neuro.config import named_entry
from neuro.data.archives import data_root
from neuro.data.base import FrameDataset
from neuro.data.dvs_gesture import DVSGestureConfig, build_dvs_gesture
from neuro.data.es_imagenet import ESImageNetConfig, build_es_imagenet
from neuro.data.events import EVENT_DTYPE, check_events, make_events
from neuro.data.frames import FrameSpec, to_frames, to_voxels
from neuro.data.nmnist import NMNISTConfig, build_nmnist
from neuro.data.nordland import NordlandConfig, build_nordland
from neuro.data.ntidigits import NTIDIGITSConfig, build_ntidigits
from neuro.data.odg import ODGConfig, build_odg_images, odg_convert, odg_frames
from neuro.errors import ShapeError


class DatasetEntry(NamedTuple):
    config: type
    build: Callable[[Any, str], Dataset]


#: Registry of datasets. One line per dataset.
DATASETS: dict[str, DatasetEntry] = {
    "nmnist": DatasetEntry(NMNISTConfig, build_nmnist),
    "dvs_gesture": DatasetEntry(DVSGestureConfig, build_dvs_gesture),
    "ntidigits": DatasetEntry(NTIDIGITSConfig, build_ntidigits),
    "es_imagenet": DatasetEntry(ESImageNetConfig, build_es_imagenet),
    "nordland": DatasetEntry(NordlandConfig, build_nordland),
    "odg_images": DatasetEntry(ODGConfig, build_odg_images),
}


def dataset_config(table: Mapping[str, Any]) -> tuple[DatasetEntry, Any]:
    """Validate an experiment's ``[data]`` table: its registry entry and config (errors name the key)."""
    return named_entry(DATASETS, table, "data", "dataset")


def build_dataset(table: Mapping[str, Any], split: str) -> Dataset:
    """Build split ``split`` (``"train"``, ``"test"``) of the dataset an experiment's ``[data]`` table names."""
    entry, config = dataset_config(table)
    return entry.build(config, split)


def collate_time_major(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x, label)`` samples into ``x: (T, B, ...)`` and ``y: (B,)`` int64.

    Samples with fewer time steps than the longest are zero-padded at the end.
    """
    if not batch:
        raise ShapeError("collate_time_major: empty batch")
    xs = [torch.as_tensor(x) for x, _ in batch]
    step = xs[0].shape[1:]
    for i, x in enumerate(xs):
        if x.dim() < 1 or x.shape[1:] != step:
            raise ShapeError(f"collate_time_major: sample {i} has shape {tuple(x.shape)}, expected (T, *{tuple(step)})")
    steps = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((steps, len(xs), *step))
    for i, x in enumerate(xs):
        out[: x.shape[0], i] = x
    y = torch.as_tensor([int(label) for _, label in batch], dtype=torch.long)
    return out, y


__all__ = [
    "DATASETS",
    "EVENT_DTYPE",
    "DatasetEntry",
    "FrameDataset",
    "FrameSpec",
    "build_dataset",
    "check_events",
    "collate_time_major",
    "data_root",
    "dataset_config",
    "make_events",
    "odg_convert",
    "odg_frames",
    "to_frames",
    "to_voxels",
]
