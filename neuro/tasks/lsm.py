"""The ``lsm`` experiment task: a fixed reservoir, features stored once, a trained readout, over several seeds.

::

    name = "lsm_nmnist_ideal"
    task = "lsm"
    seed = 10
    seeds = 5                       # reservoir seeds seed, seed + 1, ...
    sizes = [200, 1000]             # optional: repeat everything for these reservoir sizes
    [data]                          # -> neuro.data.build_dataset (train split; [test_data] overrides for test)
    [reservoir]                     # -> neuro.models.lsm.LSMConfig
    [weights]                       # source = "gaussian" | "rram" (card = "lsm_40nm")
    [features]                      # kind = "counts" | "binned" | ..., n_bins, batch_size
    [readout]                       # kind = "ridge" | "head" (neuro.models.readout.ReadoutConfig)
    [calibrate]                     # scales = [...] (weight constants to try), alphas, folds, seeds
    [energy]                        # chips, convention, samples

Protocol per reservoir size: (1) **calibration on the training split only** — for every weight constant in
``calibrate.scales`` and every calibration seed, simulate the reservoir once over the training data and score
each ridge ``alpha`` by k-fold cross-validation; the (scale, alpha) with the best mean CV accuracy is kept
(without ``scales`` the constant is ``reservoir.weight_scale``); (2) for each of ``seeds`` reservoir seeds,
store train and test features (one reservoir pass each), fit the readout, report test accuracy, firing rate,
separation and spectral radius; (3) energy of the reservoir (and of the linear readout) per sample on each chip,
from operation counts on ``energy.samples`` test samples. Writes ``metrics.json`` and ``calibration.png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from neuro.errors import ConfigError
from neuro.models.lsm import LSMConfig, build_reservoir, firing_stats, separation
from neuro.models.readout import ReadoutConfig, accuracy, fit_readout
from neuro.tasks.common import (
    CalibrateConfig,
    FeatureConfig,
    SplitData,
    calibrate,
    features_of,
    load_split,
    seed_everything,
)
from neuro.tasks.hardware import EnergyConfig, WeightsConfig, energy_per_sample, resolve_weights

if TYPE_CHECKING:
    from neuro.experiment import Experiment

__all__ = ["LSMTaskConfig", "run_lsm"]


@dataclass(frozen=True)
class LSMTaskConfig:
    data: dict[str, Any]
    test_data: dict[str, Any] = field(default_factory=dict)
    reservoir: LSMConfig = field(default_factory=LSMConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)
    calibrate: CalibrateConfig = field(default_factory=CalibrateConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    seeds: int = 5
    sizes: tuple[int, ...] = ()
    threads: int = 0

    def __post_init__(self) -> None:  # fail on a bad [data] table before any data is loaded
        from neuro.data import dataset_config

        dataset_config(self.data)
        dataset_config({**self.data, **self.test_data})
        if self.seeds < 1 or any(n < 1 for n in self.sizes):
            raise ConfigError("seeds and sizes must be >= 1")


def _reservoir(cfg: LSMTaskConfig, res_cfg: LSMConfig, n_inputs: int, scale: float, seed: int) -> nn.Module:
    res_cfg = replace(res_cfg, weight_scale=scale)
    input_weights = resolve_weights(cfg.weights, res_cfg.input_scale) if res_cfg.input_scale > 0 else None
    return build_reservoir(res_cfg, n_inputs, resolve_weights(cfg.weights, scale), input_weights, seed=seed)


def _run_size(cfg: LSMTaskConfig, res_cfg: LSMConfig, train: SplitData, test: SplitData, seed: int,
              log: Any) -> dict[str, Any]:
    log(f"reservoir of {res_cfg.n_neurons} neurons, {cfg.weights.source} weights")
    n_in = int(np.prod(train.input_shape))
    scale, alpha, table = calibrate(lambda c, s: _reservoir(cfg, res_cfg, n_in, c, s), train, cfg.features,
                                    cfg.calibrate, res_cfg.weight_scale, cfg.readout.alpha,
                                    cfg.readout.standardize, seed, log)
    readout_cfg = replace(cfg.readout, alpha=alpha)
    runs = []
    for i in range(cfg.seeds):
        t0 = time.perf_counter()
        res = _reservoir(cfg, res_cfg, n_in, scale, seed + i)
        ftr, fte = features_of(res, train, cfg.features), features_of(res, test, cfg.features)
        readout = fit_readout(readout_cfg, ftr.x, ftr.y, train.num_classes, seed + i)
        run = {"seed": seed + i, "test_accuracy": accuracy(readout, fte.x, fte.y),
               "train_accuracy": accuracy(readout, ftr.x, ftr.y), "firing_rate": ftr.firing_rate,
               "firing_rate_test": fte.firing_rate, "separation": separation(ftr.x, ftr.y),
               "spectral_radius": res.spectral_radius, "seconds": time.perf_counter() - t0}
        runs.append(run)
        log(f"  seed {seed + i}: test accuracy {run['test_accuracy']:.3f} (train {run['train_accuracy']:.3f}), "
            f"firing rate {run['firing_rate']:.4f}, {run['seconds']:.1f}s")
    accs = np.array([r["test_accuracy"] for r in runs])
    out = {"n_neurons": res_cfg.n_neurons, "weight_scale": scale, "alpha": alpha, "calibration": table,
           "runs": runs, "test_accuracy_mean": float(accs.mean()),
           "test_accuracy_std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
           "firing_rate_mean": float(np.mean([r["firing_rate"] for r in runs]))}
    if cfg.energy.samples > 0 and cfg.energy.chips:
        res = _reservoir(cfg, res_cfg, n_in, scale, seed)
        x = test.x[:, :cfg.energy.samples]
        spikes = res(x)[0]
        feats = features_of(res, test.select(torch.arange(test.x.shape[1]) < cfg.energy.samples), cfg.features)
        out["energy"] = {"reservoir": energy_per_sample(res, x, cfg.energy),
                         "readout": energy_per_sample(nn.Linear(feats.x.shape[1], train.num_classes),
                                                      feats.x.unsqueeze(0), cfg.energy),
                         "firing": firing_stats(spikes)._asdict() | {"per_neuron": None}}
        for chip, rep in out["energy"]["reservoir"]["chips"].items():
            if "total_j" in rep:
                log(f"  energy on {chip}: reservoir {rep['total_j']:.3e} J per sample ({cfg.energy.convention})")
    log(f"  => test accuracy {out['test_accuracy_mean']:.3f} ± {out['test_accuracy_std']:.3f} over {cfg.seeds} "
        f"seeds (scale {scale:g}, alpha {alpha:g}, firing rate {out['firing_rate_mean']:.4f})")
    return out


def _plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for r in results:
        scales = [c["scale"] for c in r["calibration"]]
        ax1.plot(scales, [c["best_cv_accuracy"] for c in r["calibration"]], "o-", label=f"{r['n_neurons']} neurons")
        ax2.plot(scales, [c["firing_rate"] for c in r["calibration"]], "o-", label=f"{r['n_neurons']} neurons")
    for ax, label in ((ax1, "CV accuracy (train split)"), (ax2, "firing rate (spikes/neuron/step)")):
        ax.set_xscale("log")
        ax.set_xlabel("weight constant")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_lsm(exp: Experiment, run_dir: Path, resume: bool) -> dict[str, Any]:
    cfg: LSMTaskConfig = exp.settings
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    def log(msg: str) -> None:
        print(f"[{exp.name}] {msg}", flush=True)

    t0 = time.perf_counter()
    train = load_split(cfg.data, "train")
    test = load_split({**cfg.data, **cfg.test_data}, "test")
    log(f"data: {train.x.shape[1]} train / {test.x.shape[1]} test samples, {train.x.shape[0]} steps of "
        f"{train.input_shape}, input density {float((train.x != 0).float().mean()):.4f} "
        f"({time.perf_counter() - t0:.1f}s)")
    seed_everything(exp.seed)
    sizes = cfg.sizes or (cfg.reservoir.n_neurons,)
    results = [_run_size(cfg, replace(cfg.reservoir, n_neurons=n), train, test, exp.seed, log) for n in sizes]
    metrics = {"name": exp.name, "task": exp.task, "weights": cfg.weights.source, "sizes": results,
               "test_accuracy_mean": results[0]["test_accuracy_mean"],
               "test_accuracy_std": results[0]["test_accuracy_std"], "seconds": time.perf_counter() - t0}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot(results, run_dir / "calibration.png", f"{exp.name}: calibration on the training split")
    log(f"outputs in {run_dir}/ ({metrics['seconds']:.0f}s)")
    return metrics
