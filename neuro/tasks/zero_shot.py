"""The ``zero_shot`` experiment task: two fixed reservoir encoders, contrastive projection heads, retrieval of
unseen classes (MemristorLSM's audio-to-image set-up).

::

    name = "zero_shot_audio_vision"
    task = "zero_shot"
    seed = 10
    seeds = 5
    seen_classes = [1, 2, 3, 4, 5, 6, 7]
    unseen_classes = [8, 9]
    [vision]                 # encoder 1: data (train / test_data), reservoir, features
    [audio]                  # encoder 2 (the queries)
    [weights]                # source = "gaussian" | "rram" (both encoders)
    [calibrate]              # weight constants tried per encoder (CV on its seen-class training data)
    [head]                   # neuro.training.contrastive.ContrastiveConfig

Protocol: each encoder's weight constant is calibrated by cross-validated ridge classification of the *seen*
classes on its *training* split (nothing from test data or unseen classes). Then, per seed: both reservoirs
are built and simulated once per sample; projection heads (Linear + GELU to ``head.dim``) are trained with
symmetric InfoNCE on seen-class training pairs (every audio sample paired, each epoch, with a random training
image of its class); the heads are then frozen and evaluated on audio queries from the test split:

* **seen**: queries of the seen classes; gallery = the vision *test* images of those classes;
* **unseen**: queries of the unseen classes; gallery = all vision images of those classes (test, plus the
  training split's when ``unseen_gallery = "train+test"``: no image of an unseen class is used in training).

Metrics (top-1): ``instance`` — the nearest gallery image has the query's class (the paper's metric; its
chance level :math:`\\sum_k q_k g_k` is reported beside it); ``prototype`` — the nearest class-mean gallery
embedding is the query's class (chance 1/K). The final epoch is evaluated (no selection on test data).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from neuro.errors import ConfigError
from neuro.models.lsm import LSMConfig, build_reservoir
from neuro.models.readout import ProjectionHead, Standardizer
from neuro.tasks.common import (
    CalibrateConfig,
    FeatureConfig,
    calibrate,
    features_of,
    load_split,
    seed_everything,
)
from neuro.tasks.hardware import WeightsConfig, resolve_weights
from neuro.training.contrastive import (
    ContrastiveConfig,
    chance_level,
    fit_contrastive,
    prototype_accuracy,
    retrieval_accuracy,
)

if TYPE_CHECKING:
    from neuro.experiment import Experiment

__all__ = ["EncoderConfig", "ZeroShotConfig", "run_zero_shot"]


@dataclass(frozen=True)
class EncoderConfig:
    """One modality: its ``[data]`` table (train split; ``test_data`` overrides for test), reservoir, features."""

    data: dict[str, Any]
    test_data: dict[str, Any] = field(default_factory=dict)
    reservoir: LSMConfig = field(default_factory=LSMConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self) -> None:  # fail on a bad [data] table before any data is loaded
        from neuro.data import dataset_config

        dataset_config(self.data)
        dataset_config({**self.data, **self.test_data})


@dataclass(frozen=True)
class ZeroShotConfig:
    vision: EncoderConfig
    audio: EncoderConfig
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    calibrate: CalibrateConfig = field(default_factory=CalibrateConfig)
    head: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    seen_classes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    unseen_classes: tuple[int, ...] = (8, 9)
    unseen_gallery: Literal["test", "train+test"] = "train+test"
    seeds: int = 5
    track_epochs: bool = False
    threads: int = 0

    def __post_init__(self) -> None:
        if set(self.seen_classes) & set(self.unseen_classes) or not self.seen_classes or not self.unseen_classes:
            raise ConfigError("seen_classes and unseen_classes must be non-empty and disjoint")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {self.seeds}")


def _has(y: Tensor, classes: tuple[int, ...]) -> Tensor:
    return torch.isin(y, torch.tensor(classes, dtype=y.dtype))


class _Encoder:
    """An encoder's splits and calibrated weight constant."""

    def __init__(self, name: str, cfg: EncoderConfig, zs: ZeroShotConfig, seed: int, log: Any) -> None:
        self.name, self.cfg, self.weights = name, cfg, zs.weights
        self.train = load_split(cfg.data, "train")
        self.test = load_split({**cfg.data, **cfg.test_data}, "test")
        self.n_in = int(np.prod(self.train.input_shape))
        for split, data in (("train", self.train), ("test", self.test)):
            for c in (*zs.seen_classes, *zs.unseen_classes):
                if not bool((data.y == c).any()):
                    raise ConfigError(f"{name}: the {split} split has no sample of class {c}")
        log(f"{name}: {self.train.x.shape[1]} train / {self.test.x.shape[1]} test samples, "
            f"{self.train.x.shape[0]} steps of {self.train.input_shape}")
        seen = self.train.select(_has(self.train.y, zs.seen_classes))
        log(f"{name}: calibrating the weight constant on {seen.x.shape[1]} seen-class training samples")
        self.scale, _, self.calibration = calibrate(self.make, seen, cfg.features, zs.calibrate,
                                                    cfg.reservoir.weight_scale, 1.0, True, seed, log)

    def make(self, scale: float, seed: int) -> torch.nn.Module:
        res_cfg = replace(self.cfg.reservoir, weight_scale=scale)
        return build_reservoir(res_cfg, self.n_in, resolve_weights(self.weights, scale), seed=seed)

    def features(self, seed: int) -> tuple[Any, Any]:
        res = self.make(self.scale, seed)
        return features_of(res, self.train, self.cfg.features), features_of(res, self.test, self.cfg.features)


def _sampler(x: Tensor, y: Tensor) -> Any:
    """``sample(labels, g)``: for every label, a random row of ``x`` with that label."""
    pools = {int(c): torch.nonzero(y == c).flatten() for c in y.unique()}

    def sample(labels: Tensor, g: torch.Generator) -> Tensor:
        out = torch.empty(labels.shape[0], dtype=torch.long)
        for c, pool in pools.items():
            at = labels == c
            out[at] = pool[torch.randint(pool.numel(), (int(at.sum()),), generator=g)]
        return x[out]
    return sample


def _evaluate(head_a: torch.nn.Module, head_v: torch.nn.Module, qa: Tensor, qy: Tensor, gv: Tensor,
              gy: Tensor) -> dict[str, float]:
    with torch.no_grad():
        ea, ev = head_a(qa), head_v(gv)
    return {"instance": retrieval_accuracy(ea, qy, ev, gy), "prototype": prototype_accuracy(ea, qy, ev, gy),
            "image_to_audio": retrieval_accuracy(ev, gy, ea, qy),
            "chance_instance": chance_level(qy, gy), "chance_prototype": 1.0 / len(gy.unique()),
            "queries": int(qy.numel()), "gallery": int(gy.numel())}


def _run_seed(cfg: ZeroShotConfig, vision: _Encoder, audio: _Encoder, seed: int, log: Any) -> dict[str, Any]:
    """Features of both encoders, heads trained on seen classes, retrieval on seen and unseen classes."""
    seen, unseen = cfg.seen_classes, cfg.unseen_classes
    (vtr, vte), (atr, ate) = vision.features(seed), audio.features(seed)
    a_seen = _has(atr.y, seen)
    v_seen = _has(vtr.y, seen)
    xa, ya = atr.x[a_seen], atr.y[a_seen]
    torch.manual_seed(seed)
    head_a = ProjectionHead(xa.shape[1], cfg.head.dim, cfg.head.hidden, Standardizer(xa, cfg.head.standardize))
    head_v = ProjectionHead(vtr.x.shape[1], cfg.head.dim, cfg.head.hidden,
                            Standardizer(vtr.x[v_seen], cfg.head.standardize))
    qs, qu = _has(ate.y, seen), _has(ate.y, unseen)
    gs = _has(vte.y, seen)
    gu_x, gu_y = vte.x[_has(vte.y, unseen)], vte.y[_has(vte.y, unseen)]
    if cfg.unseen_gallery == "train+test":
        tr_u = _has(vtr.y, unseen)
        gu_x, gu_y = torch.cat([gu_x, vtr.x[tr_u]]), torch.cat([gu_y, vtr.y[tr_u]])

    def evaluate() -> dict[str, dict[str, float]]:
        return {"seen": _evaluate(head_a, head_v, ate.x[qs], ate.y[qs], vte.x[gs], vte.y[gs]),
                "unseen": _evaluate(head_a, head_v, ate.x[qu], ate.y[qu], gu_x, gu_y)}

    curve: list[dict[str, float]] = []

    def track(epoch: int, loss: float) -> None:  # monitoring only: nothing is selected on these numbers
        m = evaluate()
        curve.append({"epoch": epoch, "loss": loss, "seen": m["seen"]["instance"], "unseen": m["unseen"]["instance"]})

    losses = fit_contrastive(head_a, head_v, xa, ya, _sampler(vtr.x[v_seen], vtr.y[v_seen]), cfg.head, seed,
                             track if cfg.track_epochs else None)
    run = {"seed": seed, "final_loss": losses[-1], "first_loss": losses[0],
           "firing_rate": {"vision": vtr.firing_rate, "audio": atr.firing_rate}, **evaluate()}
    if curve:
        run["epochs"] = curve
    log(f"seed {seed}: loss {losses[0]:.3f} -> {losses[-1]:.3f}; seen top-1 {run['seen']['instance']:.3f} "
        f"(prototype {run['seen']['prototype']:.3f}), unseen top-1 {run['unseen']['instance']:.3f} "
        f"(prototype {run['unseen']['prototype']:.3f})")
    return run


def run_zero_shot(exp: Experiment, run_dir: Path, resume: bool) -> dict[str, Any]:
    cfg: ZeroShotConfig = exp.settings
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    def log(msg: str) -> None:
        print(f"[{exp.name}] {msg}", flush=True)

    t0 = time.perf_counter()
    seed_everything(exp.seed)
    vision = _Encoder("vision", cfg.vision, cfg, exp.seed, log)
    audio = _Encoder("audio", cfg.audio, cfg, exp.seed, log)
    runs = [_run_seed(cfg, vision, audio, exp.seed + i, log) for i in range(cfg.seeds)]

    def stat(split: str, key: str) -> dict[str, float]:
        v = np.array([r[split][key] for r in runs])
        return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}

    summary = {f"{s}_{k}": stat(s, k) for s in ("seen", "unseen") for k in ("instance", "prototype",
                                                                              "image_to_audio")}
    metrics = {"name": exp.name, "task": exp.task, "weights": cfg.weights.source,
               "weight_scale": {"vision": vision.scale, "audio": audio.scale},
               "calibration": {"vision": vision.calibration, "audio": audio.calibration},
               "chance": {"seen_instance": runs[0]["seen"]["chance_instance"],
                          "unseen_instance": runs[0]["unseen"]["chance_instance"],
                          "seen_prototype": runs[0]["seen"]["chance_prototype"],
                          "unseen_prototype": runs[0]["unseen"]["chance_prototype"]},
               "summary": summary, "runs": runs, "seconds": time.perf_counter() - t0}
    if cfg.track_epochs:  # what choosing the epoch on the test classes would report: NOT a valid estimate
        best = [max(e["unseen"] for e in r["epochs"]) for r in runs]
        metrics["test_selected_epoch_unseen_max"] = {"mean": float(np.mean(best)), "per_seed": best}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for s in ("seen", "unseen"):
        log(f"{s} classes: audio->image top-1 {summary[f'{s}_instance']['mean']:.3f} ± "
            f"{summary[f'{s}_instance']['std']:.3f} (chance {metrics['chance'][f'{s}_instance']:.3f}), prototype "
            f"{summary[f'{s}_prototype']['mean']:.3f} ± {summary[f'{s}_prototype']['std']:.3f} "
            f"(chance {metrics['chance'][f'{s}_prototype']:.3f}) over {cfg.seeds} seeds")
    log(f"outputs in {run_dir}/ ({metrics['seconds']:.0f}s)")
    return metrics
