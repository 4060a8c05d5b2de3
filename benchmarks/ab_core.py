"""Compare two builds of bpfast's C core in one process, fit by fit (or, with --only
predict, batch prediction by batch prediction).

A shared VM's speed drifts by tens of percent from one minute to the next, so two runs of
bench.py cannot resolve a change of a few percent. This script loads both builds' `_core`
extension modules into one Python process and alternates the fits between them (A B, then
B A, ...), so that both builds see the same minutes. It prints each build's fit times, their
medians and the speed ratio (above 1: the second build is faster).

    # build and install the old commit first, then keep its core:
    cp "$(python -c 'import bpfast._core as c; print(c.__file__)')" /tmp/old.so
    # check out the change, rebuild (pip install --no-build-isolation --no-deps -e .), then:
    cp "$(python -c 'import bpfast._core as c; print(c.__file__)')" /tmp/new.so
    python benchmarks/ab_core.py /tmp/old.so /tmp/new.so --only gemm --threads 2 --rounds 8
    python benchmarks/ab_core.py /tmp/old.so /tmp/new.so --only predict --rounds 16

Run it with two copies of one build first (an A/A run): the spread of that ratio is the
noise a real difference has to exceed. Both cores run under the installed Python layer, so
only the compiled core may differ between them. These ratios are for deciding about a change;
bench.py's tables are the benchmark of record.

With --threads-b, B runs at another thread count than A: one build given twice then tells
whether a second thread helps, in the same minutes (bench.py runs the thread counts minutes
apart, and a VM's drift between them can look like a thread's cost):

    python benchmarks/ab_core.py /tmp/new.so /tmp/new.so --only digits --dtype float32 \
        --threads 1 --threads-b 2 --rounds 10
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import numpy as np

import bpfast._base


def _load_bench():
    """bench.py beside this file: the workloads, their data and the estimators."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return importlib.import_module("bench")


bench = _load_bench()


def load_core(path: str):
    """The `_core` extension module built at `path`, loaded beside any other copy."""
    loader = importlib.machinery.ExtensionFileLoader("bpfast._core", path)
    spec = importlib.util.spec_from_file_location("bpfast._core", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("core_a", help="the first build's _core extension module (.so/.pyd)")
    parser.add_argument("core_b", help="the second build's")
    parser.add_argument("--only", default="gemm", choices=sorted(bench.WORKLOADS),
                        help="workload (default: gemm); predict times predict_proba on the "
                        "workload's batch of rows instead of fits")
    parser.add_argument("--dtype", help="element type (default: the workload's first)")
    parser.add_argument("--threads", type=int, default=1, help="n_threads (default 1)")
    parser.add_argument("--threads-b", type=int, default=None,
                        help="n_threads of build B (default: --threads)")
    parser.add_argument("--rounds", type=int, default=8,
                        help="rounds of one measurement per build, alternating the order (default 8)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    wl = bench.WORKLOADS[args.only]
    dtype = args.dtype or wl.dtypes[0]
    cores = {"A": load_core(args.core_a), "B": load_core(args.core_b)}
    threads = {"A": args.threads, "B": args.threads if args.threads_b is None else args.threads_b}
    X, y, _, _ = bench.load_cast(wl, dtype)
    if args.only == "predict":
        measure, what = predict_timer(wl, dtype, cores, threads, X, y)
    else:
        measure, what = fit_timer(wl, dtype, cores, threads, X, y), "fit"
    times = alternate(measure, args.rounds)
    for name, path in (("A", args.core_a), ("B", args.core_b)):
        shown = " ".join(f"{t * 1e3:.4g}" for t in times[name])
        print(f"{name} ({path}, {threads[name]} thread(s)): {shown} ms; "
              f"median {np.median(times[name]) * 1e3:.4g} ms")
    speed = np.median(times["A"]) / np.median(times["B"])
    counts = str(threads["A"]) if threads["A"] == threads["B"] else f"{threads['A']}/{threads['B']}"
    print(f"{args.only} {what}, {dtype}, {counts} thread(s): B runs {speed:.3f}x A's speed")
    return 0


def alternate(measure, rounds: int) -> dict:
    """measure("A") and measure("B") once each to warm up, then `rounds` times each in the
    order A B, B A, A B, ...; the timings per build."""
    for name in "AB":
        measure(name)
    times = {"A": [], "B": []}
    for r in range(rounds):
        for name in ("AB" if r % 2 == 0 else "BA"):
            times[name].append(measure(name))
    return times


def fit_timer(wl, dtype, cores, threads, X, y):
    """Seconds of one fit of the workload through the named build's core, at its threads."""

    def fit_with(name):
        bpfast._base._core = cores[name]  # the estimators build their networks from it
        estimator = bench.make_estimator("bpfast", wl, dtype, threads[name])
        # bench.py's workers set the thread count through OMP_NUM_THREADS; here it is explicit
        estimator.set_params(n_threads=threads[name])
        return bench.fit_quietly(estimator, X, y)

    return fit_with


def predict_timer(wl, dtype, cores, threads, X, y):
    """Median seconds of `batch_repeats` predict_proba calls on the prediction workload's
    batch through the named build's core at its threads (the model is fitted once; each
    build's networks come from a pool of their own, as the estimator pools them), and what
    that measures."""
    p = wl.predict
    bpfast._base._core = cores["A"]
    estimator = bench.make_estimator("bpfast", wl, dtype, threads["A"])
    estimator.set_params(n_threads=threads["A"])
    bench.fit_quietly(estimator, X, y)
    rows = np.random.default_rng(bench.SEED).integers(0, X.shape[0], p["batch_rows"])
    batch = np.ascontiguousarray(X[rows])
    pools = {name: {} for name in cores}

    def predict_with(name):
        bpfast._base._core = cores[name]
        estimator._predict_nets = pools[name]
        estimator.set_params(n_threads=threads[name])  # its own pool per thread count too
        return bench.median_call_time(lambda: estimator.predict_proba(batch), p["batch_repeats"])

    return predict_with, f"predict_proba of {p['batch_rows']} rows"


if __name__ == "__main__":
    sys.exit(main())
