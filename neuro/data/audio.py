r"""Any sound -> cochlea-like spike events (the N-TIDIGITS format): a gammatone filterbank and level crossing.

The model of a silicon cochlea (such as the 64-channel DAS used to record N-TIDIGITS), in four stages:

1. **Filterbank** — ``n_channels`` 4th-order gammatone band-pass filters (``scipy.signal.gammatone``) with
   centre frequencies equally spaced on the ERB-rate scale :math:`E(f) = 21.4\log_{10}(1 + 0.00437 f)` between
   ``f_min`` and ``f_max``; channel 0 is the lowest frequency.
2. **Envelope** — the magnitude of each band's analytic signal (``scipy.signal.hilbert``: a steady tone has a
   flat envelope, with no ripple at the carrier) smoothed by a 2nd-order Butterworth low-pass at
   ``envelope_cutoff`` Hz and sampled at ``envelope_rate`` Hz. The Hilbert transform sees the whole file, so
   the conversion is offline (not causal).
3. **Level** — :math:`L = 20\log_{10}\max(e, 10^{floor/20})` in dB re full scale (samples in [-1, 1]).
4. **Level crossing** (send-on-delta with hysteresis) — each channel keeps a reference level :math:`r`
   (initially ``floor_db``); whenever :math:`L - r \ge \delta` it emits :math:`\lfloor (L-r)/\delta\rfloor` ON
   events and raises :math:`r` by that many steps, and whenever :math:`r - L \ge \delta` it lowers :math:`r`
   likewise (emitting OFF events when ``polarity = "both"``).

So a louder onset crosses more levels (more events) and a steady tone is silent after its onset, like a DVS
pixel on the log-envelope. Events follow tonic's convention: a structured array ``x`` (channel), ``y = 0``,
``t`` (µs), ``p`` (0 for ON-only output on sensor ``(n_channels, 1, 1)``; 1 = ON, 0 = OFF on
``(n_channels, 1, 2)``), sorted by time then channel.

Needs scipy (``pip install neuro[audio]``).

Example:
    >>> import numpy as np
    >>> rate = 16000
    >>> t = np.arange(rate // 2) / rate
    >>> tone = 0.5 * np.sin(2 * np.pi * 1000 * t)                 # half a second of 1 kHz
    >>> ev = audio_to_events(tone, rate)
    >>> cf = centre_frequencies(CochleaConfig(), rate)
    >>> bool(abs(cf[np.bincount(ev["x"]).argmax()] - 1000) < 100)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from neuro.data.events import EVENT_DTYPE
from neuro.errors import ConfigError, DataFormatError

__all__ = ["CochleaConfig", "audio_to_events", "centre_frequencies", "envelopes", "level_crossings",
           "read_wav", "sensor_size", "wav_to_events"]

@dataclass(frozen=True)
class CochleaConfig:
    """Settings of the cochlea model; see the module docstring."""

    n_channels: int = 64
    f_min: float = 100.0
    f_max: float = 8000.0
    envelope_cutoff: float = 200.0
    envelope_rate: float = 2000.0
    delta_db: float = 6.0
    floor_db: float = -60.0
    polarity: Literal["on", "both"] = "on"

    def __post_init__(self) -> None:
        if self.n_channels < 1 or not 0 < self.f_min < self.f_max:
            raise ConfigError(f"cochlea: need n_channels >= 1 and 0 < f_min < f_max, got {self.n_channels}, "
                              f"{self.f_min}, {self.f_max}")
        if not (self.delta_db > 0 and self.envelope_cutoff > 0 and self.envelope_rate > 0):
            raise ConfigError("cochlea: delta_db, envelope_cutoff and envelope_rate must be > 0")
        if self.polarity not in ("on", "both"):
            raise ConfigError(f"cochlea: polarity must be 'on' or 'both', got {self.polarity!r}")


def sensor_size(cfg: CochleaConfig) -> tuple[int, int, int]:
    """tonic sensor size of the events: ``(n_channels, 1, 1)`` or ``(n_channels, 1, 2)``."""
    return (cfg.n_channels, 1, 1 if cfg.polarity == "on" else 2)


def centre_frequencies(cfg: CochleaConfig, sample_rate: float) -> np.ndarray:
    """Centre frequencies (Hz) of the channels, ERB-rate spaced; ``f_max`` is capped at 0.45 × the sample rate."""
    f_max = min(cfg.f_max, 0.45 * sample_rate)
    if f_max <= cfg.f_min:
        raise ConfigError(f"cochlea: f_min {cfg.f_min} Hz is above 0.45 x the sample rate ({sample_rate} Hz)")
    erb = np.linspace(*(21.4 * np.log10(1 + 0.00437 * np.array([cfg.f_min, f_max]))), cfg.n_channels)
    return (10 ** (erb / 21.4) - 1) / 0.00437


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples of a WAV file as mono float64 in [-1, 1] and its sample rate (integer PCM is scaled by its
    dtype's range; channels are averaged)."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(str(path))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: WAV file not found") from None
    except ValueError as exc:
        raise DataFormatError(f"{path}: not a readable WAV file ({exc})") from None
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data, int(rate)


def envelopes(samples: np.ndarray, sample_rate: float, cfg: CochleaConfig) -> np.ndarray:
    """Band envelopes ``(n_channels, n_frames)`` at ``cfg.envelope_rate`` (stages 1-2)."""
    from scipy import fft, signal

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise DataFormatError(f"audio: expected mono samples (N,), got shape {x.shape}")
    step = max(round(sample_rate / cfg.envelope_rate), 1)
    lowpass = signal.butter(2, min(cfg.envelope_cutoff, 0.45 * sample_rate), fs=sample_rate, output="sos")
    freqs = centre_frequencies(cfg, sample_rate)
    bands = np.stack([signal.lfilter(*signal.gammatone(fc, "iir", fs=sample_rate), x) for fc in freqs])
    if x.shape[0] == 0:
        return np.zeros((len(freqs), 0))
    # analytic signals of all bands in one FFT of a fast length (zero padding at the end)
    analytic = signal.hilbert(bands, N=fft.next_fast_len(x.shape[0]), axis=-1)[:, :x.shape[0]]
    return np.maximum(signal.sosfilt(lowpass, np.abs(analytic), axis=-1), 0.0)[:, ::step]


def level_crossings(level_db: np.ndarray, delta_db: float, floor_db: float) -> tuple[np.ndarray, np.ndarray]:
    """ON and OFF event counts ``(n_frames, n_channels)`` of levels ``(n_channels, n_frames)`` (stage 4)."""
    channels, frames = level_db.shape
    ref = np.full(channels, float(floor_db))
    on = np.zeros((frames, channels), dtype=np.int64)
    off = np.zeros((frames, channels), dtype=np.int64)
    for k in range(frames):
        d = level_db[:, k] - ref
        up = np.floor(np.maximum(d, 0.0) / delta_db)
        down = np.floor(np.maximum(-d, 0.0) / delta_db)
        ref += (up - down) * delta_db
        on[k], off[k] = up, down
    return on, off


def audio_to_events(samples: np.ndarray, sample_rate: float, cfg: CochleaConfig | None = None) -> np.ndarray:
    """Cochlea events of mono ``samples`` (float, full scale 1) at ``sample_rate`` Hz; see the module docstring."""
    cfg = cfg or CochleaConfig()
    env = envelopes(samples, sample_rate, cfg)
    level = 20 * np.log10(np.maximum(env, 10 ** (cfg.floor_db / 20)))
    on, off = level_crossings(level, cfg.delta_db, cfg.floor_db)
    frame_us = 1e6 * max(round(sample_rate / cfg.envelope_rate), 1) / sample_rate
    parts = [(on, 0 if cfg.polarity == "on" else 1)] + ([(off, 0)] if cfg.polarity == "both" else [])
    chunks = []
    for counts, pol in parts:
        k, c = np.nonzero(counts)  # row-major: by frame, then channel
        n = counts[k, c]
        ev = np.empty(int(n.sum()), dtype=EVENT_DTYPE)
        ev["x"] = np.repeat(c, n)
        ev["y"] = 0
        ev["t"] = np.round(np.repeat(k, n) * frame_us).astype(np.int64)
        ev["p"] = pol
        chunks.append(ev)
    events = np.concatenate(chunks)
    return events[np.lexsort((events["x"], events["t"]))]


def wav_to_events(path: str | Path, cfg: CochleaConfig | None = None) -> np.ndarray:
    """Cochlea events of a WAV file (see :func:`audio_to_events`)."""
    samples, rate = read_wav(path)
    return audio_to_events(samples, rate, cfg)
