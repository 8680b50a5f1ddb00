"""What first use of fresh memory costs on this machine: filling a newly allocated tensor against filling one
that is reused, for a 22 MB (W2's first neuron layer) and a 77 MB (W4's input currents) float32 tensor. Medians
of ``--repeats`` calls. Run it with and without ``THP_MEM_ALLOC_ENABLE=1`` (huge pages for large tensors, as
``neuro bench`` runs by default) to see what the allocator setting does here.

Usage: ``PYTHONPATH=. python experiments/fresh_memory.py [--repeats 15]``
"""

from __future__ import annotations

import argparse
import os

import torch

from neuro.bench.harness import stats, time_interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '0')}")
    for label, shape in (("22 MB", (16, 345600)), ("77 MB", (19200, 1000))):
        kept = torch.empty(shape)
        samples = time_interleaved({"fresh": lambda shape=shape: torch.empty(shape).fill_(0),
                                    "reused": lambda kept=kept: kept.fill_(0)}, args.repeats)
        print(f"  {label}: " + ", ".join(f"{name} {stats(t).median:6.2f} ms" for name, t in samples.items()))


if __name__ == "__main__":
    main()
