"""Build espeak_digits.hdf5: SYNTHETIC spoken digits turned into N-TIDIGITS-like cochlea events.

Real N-TIDIGITS (LDC TIDIGITS recorded by a silicon cochlea) cannot be downloaded offline. This script speaks
the eleven TIDIGITS words ("zero", "oh", "one" ... "nine") with the espeak-ng speech synthesiser under many
voices (English accents x voice variants), pitches, speeds and amplitudes, and converts every waveform into
64-channel cochlea events with :func:`neuro.data.audio.audio_to_events`. Training and test speakers are
disjoint (different voice variants). The file has the N-TIDIGITS HDF5 layout, so ``neuro.data``'s
``ntidigits`` loader reads it unchanged (``[data] name = "ntidigits"``, ``file = "espeak_digits.hdf5"``):

* ``{train,test}_labels``: byte strings ``<accent>_<variant>_p<pitch>_s<speed>_a<amp>_<n>-<digit>``, the last
  ``-`` field being the digit ('z' = zero, 'o' = oh, '1'..'9');
* ``{train,test}_addresses/<label>``: channels (uint8, 0..63); ``{train,test}_timestamps/<label>``: seconds.

Needs the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``) and scipy. Run by path from the
repository root (deterministic for a given seed and espeak-ng version):

    PYTHONPATH=. python datasets/espeak_digits/prepare.py            # -> datasets/data/espeak_digits/
    PYTHONPATH=. python datasets/espeak_digits/prepare.py --train-per-digit 20 --test-per-digit 10 --out /tmp/x
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from neuro.data.audio import CochleaConfig, audio_to_events, read_wav

WORDS = {"z": "zero", "o": "oh", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
         "7": "seven", "8": "eight", "9": "nine"}
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
#: Voice variants (``espeak-ng --voices=variant``); robotic, whispered and novelty variants are left out.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "klatt", "klatt2", "Alex", "Andy",
                  "Annie", "adam", "aunty", "david", "ed", "john", "linda", "max", "paul", "quincy", "rob", "steph",
                  "norbert", "grandma", "sandro", "zac")
TEST_VARIANTS = ("m7", "m8", "f5", "klatt3", "klatt4", "belinda", "benjamin", "edward", "iven", "Lee", "michel",
                 "travis", "victor", "shelby", "grandpa")


def speak(word: str, voice: str, pitch: int, speed: int, amplitude: int, wav: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amplitude),
                    "-w", str(wav), word], check=True, capture_output=True)


def build_split(f: h5py.File, split: str, variants: tuple[str, ...], per_digit: int, rng: np.random.Generator,
                cochlea: CochleaConfig, tmp: Path) -> int:
    labels, total = [], 0
    addresses = f.create_group(f"{split}_addresses")
    timestamps = f.create_group(f"{split}_timestamps")
    for digit, word in WORDS.items():
        for n in range(per_digit):
            accent = ACCENTS[rng.integers(len(ACCENTS))]
            variant = variants[rng.integers(len(variants))]
            pitch, speed, amp = int(rng.integers(25, 76)), int(rng.integers(120, 201)), int(rng.integers(40, 161))
            speak(word, f"{accent}+{variant}", pitch, speed, amp, tmp / "u.wav")
            samples, rate = read_wav(tmp / "u.wav")
            ev = audio_to_events(samples, rate, cochlea)
            key = f"{accent.replace('-', '_')}_{variant}_p{pitch}_s{speed}_a{amp}_{n}-{digit}"
            addresses.create_dataset(key, data=ev["x"].astype(np.uint8))
            timestamps.create_dataset(key, data=ev["t"].astype(np.float64) / 1e6)
            labels.append(key.encode())
            total += len(ev)
    f.create_dataset(f"{split}_labels", data=np.array(labels, dtype="S"))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="datasets/data/espeak_digits", help="output folder")
    ap.add_argument("--train-per-digit", type=int, default=120)
    ap.add_argument("--test-per-digit", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found: install it (Debian/Ubuntu: apt-get install espeak-ng)")
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "espeak_digits.hdf5"
    cochlea = CochleaConfig()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, h5py.File(path.with_suffix(".tmp"), "w") as f:
        n_train = build_split(f, "train", TRAIN_VARIANTS, args.train_per_digit, rng, cochlea, Path(tmp))
        n_test = build_split(f, "test", TEST_VARIANTS, args.test_per_digit, rng, cochlea, Path(tmp))
        f.attrs["description"] = ("SYNTHETIC speech (espeak-ng) converted to cochlea events by neuro.data.audio; "
                                  "not N-TIDIGITS recordings")
        f.attrs["espeak_ng"] = version
        f.attrs["cochlea"] = json.dumps(cochlea.__dict__)
        f.attrs["seed"] = args.seed
    path.with_suffix(".tmp").replace(path)
    n_utt = len(WORDS) * (args.train_per_digit + args.test_per_digit)
    print(f"{path}: {n_utt} utterances ({len(WORDS)} words x {args.train_per_digit} train + "
          f"{args.test_per_digit} test), {n_train + n_test} events, {time.perf_counter() - t0:.0f}s; {version}")


if __name__ == "__main__":
    main()
