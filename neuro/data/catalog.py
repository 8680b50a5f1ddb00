"""The dataset catalog: URLs, checksums, layout, sensor, classes, samples, licence and citation.

The catalog is data (``catalog.toml``, shipped in the package) read into frozen :class:`Card` records.
:func:`load_catalog` reads it (or another file of the same schema, e.g. a local mirror's).

Example:
    >>> card = load_catalog()["nmnist"]
    >>> card.num_classes, card.sensor_size, [f.name for f in card.files]
    (10, (34, 34, 2), ['train.zip', 'test.zip'])
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from neuro.config import from_mapping, load_toml
from neuro.data.archives import data_root, resolve_path
from neuro.errors import ConfigError, unknown_name

__all__ = ["Card", "Check", "FileSpec", "get_card", "load_catalog"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: download URL (empty when it cannot be fetched), checksum, what to do with it."""

    name: str
    url: str = ""
    md5: str = ""
    sha256: str = ""
    size: int = 0
    extract: Literal["auto", "none", "manual"] = "none"
    manual: str = ""

    def __post_init__(self) -> None:
        if "/" in self.name or "\\" in self.name or self.name in ("", ".", ".."):
            raise ConfigError(f"catalog file name {self.name!r} must be a plain file name")


@dataclass(frozen=True)
class Check:
    """``min_count`` entries matching ``glob`` must exist under ``root/path``."""

    path: str
    glob: str = "*"
    min_count: int = 1


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    loader: str
    homepage: str
    licence: str
    citation: str
    num_classes: int
    layout: str
    sensor_size: tuple[int, ...] = ()
    samples: dict[str, int] | None = None
    files: tuple[FileSpec, ...] = ()
    checks: tuple[Check, ...] = ()
    default_root: str = ""
    manual: str = ""
    notes: str = ""

    def root(self, override: str | Path = "") -> Path:
        """Where the dataset lives: ``override``, else ``default_root``, else ``<data root>/<name>``."""
        return resolve_path(str(override) or self.default_root, data_root() / self.name)


def load_catalog(path: str | Path | None = None) -> dict[str, Card]:
    """Parse the catalog (the packaged ``catalog.toml`` unless ``path`` is given)."""
    if path is None:
        with resources.as_file(resources.files("neuro.data") / "catalog.toml") as p:
            raw = load_toml(p)
    else:
        raw = load_toml(path)
    return {name: from_mapping(Card, {"name": name, **table}, f"catalog.{name}") for name, table in raw.items()}


def get_card(name: str, catalog: str | Path | None = None) -> Card:
    cards = load_catalog(catalog)
    if name not in cards:
        raise unknown_name("catalog dataset", name, cards)
    return cards[name]
