"""The dataset registry, build_dataset, collation, the catalog's consistency and the data benchmark."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from neuro.data import DATASETS, build_dataset, collate_time_major
from neuro.data.benchmark import nmnist_pipeline_benchmark
from neuro.data.catalog import load_catalog
from neuro.errors import ConfigError, ShapeError, UnknownNameError
from tests.conftest import REPO
from tests.neuro.data.conftest import SHIPPED


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_entries_have_frozen_configs(name) -> None:
    cfg = DATASETS[name].config
    assert dataclasses.is_dataclass(cfg) and cfg.__dataclass_params__.frozen
    assert "root" in {f.name for f in dataclasses.fields(cfg)}


def test_catalog_and_registry_agree() -> None:
    cards = load_catalog()
    assert {c.loader for c in cards.values()} <= set(DATASETS)
    assert set(DATASETS) - {c.loader for c in cards.values()} == {"odg_images"}  # a converter, not a download
    for card in cards.values():
        assert card.licence and card.citation and card.homepage and card.layout
        for f in card.files:
            assert f.url or f.manual, (card.name, f.name)
            assert len(f.md5) in (0, 32) and len(f.sha256) in (0, 64)
            assert f.url.startswith(("https://", "")) and (f.md5 or f.sha256 or not f.url)


def test_build_dataset_errors() -> None:
    with pytest.raises(ConfigError, match=r"data\.name"):
        build_dataset({"root": "x"}, "train")
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnist'; expected one of: dvs_gesture"):
        build_dataset({"name": "mnist"}, "train")
    with pytest.raises(ConfigError, match=r"data\.n_time_bins: expected an integer"):
        build_dataset({"name": "nmnist", "n_time_bins": "ten"}, "train")
    with pytest.raises(ConfigError, match=r"data\.label_mapping"):
        build_dataset({"name": "ntidigits", "label_mapping": "z0_o10"}, "train")


def test_collate_time_major() -> None:
    batch = [(torch.ones(3, 2, 4, 4), 1), (2 * torch.ones(5, 2, 4, 4), 7)]
    x, y = collate_time_major(batch)
    assert x.shape == (5, 2, 2, 4, 4) and y.tolist() == [1, 7] and y.dtype == torch.long
    assert x[:3, 0].eq(1).all() and x[3:, 0].eq(0).all() and x[:, 1].eq(2).all()  # zero padding at the end
    with pytest.raises(ShapeError, match="sample 1"):
        collate_time_major([(torch.ones(3, 2), 0), (torch.ones(3, 4), 1)])
    with pytest.raises(ShapeError, match="empty"):
        collate_time_major([])


def test_benchmark_is_side_effect_free_and_verifies(shipped_work, monkeypatch) -> None:
    code = "import sys, neuro.data.benchmark; print('tonic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setenv("NEURO_DATA_ROOT", shipped_work)  # reuse the unpacked archive
    result = nmnist_pipeline_benchmark(SHIPPED, n_samples=30, repeats=1, n_time_bins=5)
    assert result["verified"] and result["samples"] == 30 and result["events"] > 30 * 1000
    assert result["neuro_samples_per_s"] > 0 and result["tonic_samples_per_s"] > 0
    assert result["speedup"] == pytest.approx(result["neuro_samples_per_s"] / result["tonic_samples_per_s"])


def test_readme_tables_are_valid_configs() -> None:
    import re
    import tomllib

    from neuro.config import from_mapping

    text = (REPO / "datasets" / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        table = dict(tomllib.loads(block)["data"])
        cfg = from_mapping(DATASETS[table.pop("name")].config, table, "data")
        assert dataclasses.is_dataclass(cfg)
