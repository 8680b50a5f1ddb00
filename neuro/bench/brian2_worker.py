"""W4's reservoir in Brian2, run by a separate Python that has Brian2 (never imported by neuro).

Brian2 does not import with numpy >= 2.4, so it lives in its own environment and this file is run
as a script by that environment's interpreter (it imports only numpy and brian2, not neuro)::

    <brian2-python> brian2_worker.py IN.npz OUT.npz --repeats 3 --dtype float32 [--device standalone --threads 2]

``IN.npz`` holds the input currents ``current`` ``(T, B, N)`` (the input projection, computed by the
caller as for every other implementation), the recurrent weights ``w_rec`` ``(N, N)`` (post, pre),
``decay`` and ``v_threshold``. The B samples run as one network of ``B x N`` neurons with
block-diagonal recurrent synapses (Brian2's vectorised form, not B separate runs). One Brian2 time step
is one step of neuro's LIF: the state update ``v = decay * v + (x_t + I)`` runs in the ``groups`` slot,
then the threshold ``v >= v_threshold``, then the synapses add ``w`` to ``I`` of their targets
(consumed at the next step), then the reset ``v = 0`` — exactly ``h = decay * v + x_t + W s_{t-1}``,
``s_t = [h >= v_th]``, hard reset to 0. ``OUT.npz`` gets the spikes of the last run ``(T, B, N)`` and the
time of every run after a first, untimed one (code generation and compilation).

``--device runtime`` (default) runs the network from Python with Brian2's compiled Cython code objects (numpy
where Cython is missing), timing each ``Network.run``; ``--device standalone`` generates and compiles a C++
program (Brian2's ``cpp_standalone`` device, which its documentation recommends for speed; it needs a C++
compiler) in ``--build-dir``, with ``--threads`` OpenMP threads (0: none), and times each run of that program
by the simulation time it reports itself (the program's start-up and its loading of the inputs excluded, as
``Network.run`` excludes them in the runtime mode).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def simulate(current: np.ndarray, w_rec: np.ndarray, decay: float, v_threshold: float, dtype: str, repeats: int,
             device: str = "runtime", threads: int = 0, build_dir: str | None = None
             ) -> tuple[np.ndarray, list[float], str]:
    """Spikes ``(T, B, N)`` of the last run, the timed runs' seconds, and the code-generation target used."""
    import brian2 as b2

    standalone = device == "standalone"
    if standalone:
        if build_dir is None:
            raise ValueError("the standalone device needs a build directory (--build-dir)")
        b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = threads
        target = f"cpp_standalone, {threads} OpenMP threads" if threads else "cpp_standalone"
    b2.prefs.core.default_float_dtype = np.float32 if dtype == "float32" else np.float64
    if not standalone:
        try:
            import Cython  # noqa: F401  (Brian2's compiled runtime target)

            b2.prefs.codegen.target = "cython"
        except ImportError:
            b2.prefs.codegen.target = "numpy"
        target = b2.prefs.codegen.target
    steps, batch, n = current.shape
    b2.defaultclock.dt = 1 * b2.ms
    drive = b2.TimedArray(current.reshape(steps, batch * n).astype(dtype), dt=1 * b2.ms)
    group = b2.NeuronGroup(batch * n, "v : 1\nI : 1", threshold="v >= v_th", reset="v = 0",
                           namespace={"v_th": v_threshold, "decay": decay, "drive": drive})
    group.run_regularly("v = decay * v + (drive(t, i) + I)\nI = 0", when="groups")
    post, pre = np.nonzero(w_rec)
    synapses = b2.Synapses(group, group, "w : 1", on_pre="I += w")
    offsets = (np.arange(batch) * n)[:, None]
    synapses.connect(i=(offsets + pre).ravel(), j=(offsets + post).ravel())
    synapses.w = np.tile(w_rec[post, pre], batch)
    monitor = b2.SpikeMonitor(group)
    net = b2.Network(group, synapses, monitor)
    seconds = []
    if standalone:
        net.run(steps * b2.ms)
        b2.device.build(directory=build_dir, run=True)  # code generation, compilation and a first, untimed run
        for _ in range(repeats):
            start = time.perf_counter()
            b2.device.run()
            wall = time.perf_counter() - start
            # the program's own measure of its simulation loop (Brian2 reads it from the run's results); the wall
            # time of the whole program where a Brian2 version does not provide it
            seconds.append(float(getattr(b2.device, "_last_run_time", None) or wall))
    else:
        net.store()
        for k in range(repeats + 1):
            net.restore()
            start = time.perf_counter()
            net.run(steps * b2.ms)
            if k:
                seconds.append(time.perf_counter() - start)
    spikes = np.zeros((steps, batch, n), dtype=bool)
    step = np.rint(np.asarray(monitor.t / b2.ms)).astype(np.int64)
    index = np.asarray(monitor.i)
    spikes[step, index // n, index % n] = True
    return spikes, seconds, target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs")
    parser.add_argument("outputs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--device", choices=("runtime", "standalone"), default="runtime")
    parser.add_argument("--threads", type=int, default=0, help="standalone: OpenMP threads (0: none)")
    parser.add_argument("--build-dir", default=None, help="standalone: where the C++ program is generated and built")
    args = parser.parse_args(argv)
    data = np.load(args.inputs)
    spikes, seconds, target = simulate(data["current"], data["w_rec"], float(data["decay"]),
                                       float(data["v_threshold"]), args.dtype, args.repeats, args.device,
                                       args.threads, args.build_dir)
    import brian2

    np.savez(args.outputs, spikes=spikes, seconds=np.array(seconds), target=target, version=brian2.__version__)


if __name__ == "__main__":
    main()
