"""The reservoir on RRAM weights as the experiment runner wires them: statistics of the programmed weights, read
noise on every step, and agreement with the ideal reservoir when reads are exact."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hardware_models.devices import RRAMWeights, load_card
from neuro.core.weight_source import GaussianWeights
from neuro.models.lsm import Connectivity, Reservoir
from neuro.tasks.hardware import WeightsConfig, resolve_weights


def test_programmed_weights_statistics() -> None:
    source = resolve_weights(WeightsConfig("rram", "lsm_40nm"), 0.3)
    assert isinstance(source, RRAMWeights)
    res = Reservoir(256, 200, weights=source, seed=10)
    for w in (res.input.weight, res.recurrent.weight[~torch.eye(200, dtype=torch.bool)]):
        # w = k (G+ - G-), k = c / (sqrt(2) sigma_G): zero mean, std c (the card's window clips ~0.1% of cells)
        assert abs(float(w.mean())) < 0.01
        assert float(w.std()) == pytest.approx(0.3, rel=0.02)
        kurt = float(((w - w.mean()) ** 4).mean() / w.var() ** 2)
        assert kurt == pytest.approx(3.0, abs=0.15)  # Gaussian-like
    assert not res.input.exact_reads and not res.recurrent.exact_reads


def test_reads_add_noise_of_the_card_size() -> None:
    card = load_card("lsm_40nm")
    source = RRAMWeights(card, 0.3)
    res = Reservoir(64, 100, weights=source, seed=0, connectivity=Connectivity("random", p=0.2))
    w = res.recurrent.weight
    reads = torch.stack([res.recurrent.read_weight() for _ in range(50)])
    assert torch.all(reads[:, w == 0] == 0)  # absent synapses stay absent on every read
    noise = (reads - w)[:, w != 0]
    k = source.gain
    p = card.params
    expected = p.read_noise * torch.sqrt(k**2 * (2 * p.form_mean**2 + p.form_std**2) + w[w != 0] ** 2 / 2)
    assert float(noise.std()) == pytest.approx(float(expected.pow(2).mean().sqrt()), rel=0.05)


def test_read_noise_per_step_and_exact_reads() -> None:
    x = (torch.rand(40, 8, 64, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    noisy = Reservoir(64, 100, v_threshold=1.0, weights=RRAMWeights("lsm_40nm", 0.4), seed=3)
    torch.manual_seed(0)
    a = noisy(x)[0]
    torch.manual_seed(1)
    b = noisy(x)[0]
    assert not torch.equal(a, b)  # fresh reads: spikes differ between two presentations ...
    assert abs(float(a.mean()) - float(b.mean())) < 0.1 * float(a.mean())  # ... but not their statistics
    torch.manual_seed(0)
    assert torch.equal(noisy(x)[0], a)  # and reads follow torch's RNG
    # a device without read noise reads exactly: the reservoir equals an ideal one holding the same weights
    params = dataclasses.replace(load_card("lsm_40nm").params, read_noise=0.0)
    exact = Reservoir(64, 100, v_threshold=1.0, weights=RRAMWeights(params, 0.4), seed=3)
    assert exact.input.exact_reads
    ideal = Reservoir.from_weights(exact.input.weight, exact.recurrent.weight, v_threshold=1.0)
    assert torch.equal(exact(x)[0], ideal(x)[0])
    # and its weights are not those of the Gaussian twin with the same seed: the device is its own RNG
    twin = Reservoir(64, 100, v_threshold=1.0, weights=GaussianWeights(0.4), seed=3)
    assert not torch.equal(twin.input.weight, exact.input.weight)
