"""``neuro audio``: WAV files in, cochlea events out (bs1 read back by neuro.data, npz), errors as exit code 2."""

from __future__ import annotations

import numpy as np
from scipy.io import wavfile

from neuro.cli import main
from neuro.data.audio import wav_to_events
from neuro.data.binary import read_bs1


def test_audio_command(tmp_path, capsys) -> None:
    rate = 16000
    t = np.arange(rate // 2) / rate
    wavfile.write(tmp_path / "tone.wav", rate, (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    ref = wav_to_events(tmp_path / "tone.wav")
    assert main(["audio", str(tmp_path / "tone.wav"), "--out", str(tmp_path / "bs1")]) == 0
    back = read_bs1(tmp_path / "bs1" / "tone.bs1", n_channels=64)
    assert np.array_equal(back["x"], ref["x"]) and np.array_equal(back["t"], ref["t"])
    assert f"{len(ref)} events" in capsys.readouterr().out
    assert main(["audio", str(tmp_path / "tone.wav"), "--out", str(tmp_path), "--format", "npz",
                 "--polarity", "both", "--delta-db", "3"]) == 0
    with np.load(tmp_path / "tone.npz") as z:
        assert set(z.files) == {"x", "y", "t", "p"} and set(np.unique(z["p"])) == {0, 1}
        assert len(z["x"]) > len(ref)  # a finer step and OFF events: more events
    assert main(["audio", str(tmp_path / "tone.wav"), "--polarity", "both"]) == 2  # bs1 holds ON events only
    assert "npz" in capsys.readouterr().err
