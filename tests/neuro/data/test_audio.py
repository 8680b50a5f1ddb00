"""Audio -> cochlea events, on sounds the tests synthesise: tones land in their channel, louder onsets cross more
levels, chirps sweep the channels, silence is silent; WAV round trips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from neuro.data.audio import (
    CochleaConfig,
    audio_to_events,
    centre_frequencies,
    level_crossings,
    read_wav,
    sensor_size,
    wav_to_events,
)
from neuro.errors import ConfigError, DataFormatError

RATE = 16000
T = np.arange(RATE // 2) / RATE  # half a second


def _tone(freq: float, amp: float) -> np.ndarray:
    """A tone with 20 ms raised-cosine ramps (an abrupt start is a broadband click)."""
    ramp = np.minimum(1.0, np.minimum(T, T[-1] - T) / 0.02)
    return amp * np.sin(2 * np.pi * freq * T) * (0.5 - 0.5 * np.cos(np.pi * ramp))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0, 6000.0])
def test_pure_tone_lands_in_its_channel(freq: float) -> None:
    ev = audio_to_events(_tone(freq, 0.3), RATE)
    cf = centre_frequencies(CochleaConfig(), RATE)
    peak = np.bincount(ev["x"], minlength=64).argmax()
    assert abs(cf[peak] - freq) / freq < 0.1
    # and its neighbourhood holds most events
    assert np.isin(ev["x"], np.arange(peak - 4, peak + 5)).mean() > 0.5


def test_level_crossing_counts_follow_the_level() -> None:
    # a tone 20 dB louder crosses 20 / delta more levels at its onset in its own channel
    cfg = CochleaConfig(delta_db=4.0)
    counts = []
    for amp in (0.01, 0.1, 1.0):
        ev = audio_to_events(_tone(1000.0, amp), RATE, cfg)
        counts.append(np.bincount(ev["x"], minlength=64).max())
    assert counts[0] < counts[1] < counts[2]
    assert abs((counts[2] - counts[1]) - 20 / 4.0) <= 1 and abs((counts[1] - counts[0]) - 20 / 4.0) <= 1
    totals = [len(audio_to_events(_tone(1000.0, a), RATE, cfg)) for a in (0.01, 0.1, 1.0)]
    assert totals[0] < totals[1] < totals[2]


def test_silence_and_sub_floor_sounds_are_silent() -> None:
    assert len(audio_to_events(np.zeros(RATE // 4), RATE)) == 0
    assert len(audio_to_events(_tone(1000.0, 10 ** (-70 / 20)), RATE)) == 0  # 10 dB under the -60 dB floor


def test_chirp_sweeps_the_channels() -> None:
    f = 200.0 * (5000.0 / 200.0) ** (T / T[-1])  # exponential sweep 200 Hz -> 5 kHz
    phase = 2 * np.pi * np.cumsum(f) / RATE
    ev = audio_to_events(0.3 * np.sin(phase), RATE, CochleaConfig(delta_db=2.0))
    bins = np.linspace(0, 500_000, 11)
    means = [ev["x"][(ev["t"] >= a) & (ev["t"] < b)].mean() for a, b in itertools.pairwise(bins)]
    assert all(b > a for a, b in itertools.pairwise(means[1:]))  # rising after the onset bin


def test_on_off_balance_and_format() -> None:
    sound = np.concatenate([_tone(1000.0, 0.5), np.zeros(RATE // 2)])  # a tone, then silence
    cfg = CochleaConfig(polarity="both")
    ev = audio_to_events(sound, RATE, cfg)
    assert sensor_size(cfg) == (64, 1, 2) and set(np.unique(ev["p"])) == {0, 1}
    on = np.bincount(ev["x"][ev["p"] == 1], minlength=64)
    off = np.bincount(ev["x"][ev["p"] == 0], minlength=64)
    assert on.sum() > 50 and np.array_equal(on, off)  # every level climbed is descended again
    assert np.all(np.diff(ev["t"]) >= 0) and ev["x"].min() >= 0 and ev["x"].max() < 64 and np.all(ev["y"] == 0)
    on_only = audio_to_events(sound, RATE)
    assert np.all(on_only["p"] == 0) and len(on_only) == on.sum()


def test_level_crossings_golden() -> None:
    # one channel, floor 0, delta 1, levels 0.5 2.2 2.9 1.1 0.0: the reference goes 0 -> 2 (two ON) -> 2 -> 2
    # (1.1 is less than one step below it: hysteresis) -> 0 (two OFF)
    on, off = level_crossings(np.array([[0.5, 2.2, 2.9, 1.1, 0.0]]), 1.0, 0.0)
    assert on[:, 0].tolist() == [0, 2, 0, 0, 0] and off[:, 0].tolist() == [0, 0, 0, 0, 2]


def test_wav_round_trip(tmp_path) -> None:
    from scipy.io import wavfile

    sound = _tone(1000.0, 0.4)
    wavfile.write(tmp_path / "f.wav", RATE, sound.astype(np.float32))
    wavfile.write(tmp_path / "i.wav", RATE, np.round(sound * 32767).astype(np.int16))
    wavfile.write(tmp_path / "s.wav", RATE, np.stack([sound, sound], 1).astype(np.float32))
    ref = audio_to_events(sound.astype(np.float32).astype(np.float64), RATE)
    assert np.array_equal(wav_to_events(tmp_path / "f.wav"), ref)
    assert np.array_equal(wav_to_events(tmp_path / "s.wav"), ref)  # stereo is averaged
    samples, rate = read_wav(tmp_path / "i.wav")
    assert rate == RATE and np.abs(samples - sound).max() < 1e-4
    assert abs(len(wav_to_events(tmp_path / "i.wav")) - len(ref)) <= 2
    with pytest.raises(DataFormatError, match="not found"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(DataFormatError, match="not a readable WAV"):
        read_wav(tmp_path / "bad.wav")


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        CochleaConfig(f_min=9000.0, f_max=8000.0)
    with pytest.raises(ConfigError):
        CochleaConfig(delta_db=0.0)
    with pytest.raises(ConfigError, match="sample rate"):
        centre_frequencies(CochleaConfig(f_min=5000.0), 8000)
