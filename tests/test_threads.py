"""Python threads and child processes around the C core.

* predict from 8 Python threads at once is bitwise the serial result, one row at a
  time included;
* two estimators fitted in two Python threads at once give bitwise the serial
  fits, and run in parallel (the GIL is released while the core works);
* after a threaded fit in the parent (OpenMP's thread pool exists), children made
  with fork, forkserver and spawn predict and fit without hanging.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from bpfast import MLPClassifier, MLPRegressor
from bpfast import _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _params(model):
    return list(model.coefs_) + list(model.intercepts_)


def _assert_same_fit(a, b):
    for pa, pb in zip(_params(a), _params(b), strict=True):
        assert_array_equal(pa, pb)
    assert a.n_iter_ == b.n_iter_
    assert a.loss_ == b.loss_


# ----------------------------------------------------------- predict, 8 threads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_from_eight_threads_is_bitwise_serial(dtype):
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 40).astype(dtype)
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    model = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=3, random_state=0).fit(X, y)
    # Inputs of different sizes (one row: the unpacked small product; thousands:
    # blocks and parallel regions), layouts and sparse.
    inputs = [X, X[:1], X[:3], X[:777], np.asfortranarray(X[:500]), X[::3], sp.csr_matrix(X[:400])]
    expected = [(model.predict(Z), model.predict_proba(Z)) for Z in inputs]

    def work(k):
        i = k % len(inputs)
        return i, model.predict(inputs[i]), model.predict_proba(inputs[i])

    start = threading.Barrier(8)

    def run(k):
        if k < 8:
            start.wait(timeout=60)   # all 8 threads enter the core together
        return work(k)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(8 * 6)))
    assert len(results) == 48
    for i, labels, proba in results:
        assert_array_equal(labels, expected[i][0])
        assert_array_equal(proba, expected[i][1])
        assert proba.dtype == dtype


def test_one_row_predictions_from_eight_threads_match_the_batch():
    # one-row predictions share networks kept on the estimator: each caller must
    # get its own workspace, however the calls interleave
    rng = np.random.RandomState(1)
    X = rng.randn(800, 30)
    model = MLPRegressor(hidden_layer_sizes=(64,), max_iter=5, random_state=0).fit(X, X[:, 0])
    expected = model.predict(X)

    def run(start):
        return [(i, model.predict(X[i : i + 1])[0]) for i in range(start, len(X), 8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for part in pool.map(run, range(8)) for r in part]
    assert len(results) == len(X)
    for i, value in results:
        assert value == expected[i]


def test_predictions_reuse_pooled_networks_with_the_same_bits():
    # Every prediction borrows a network from the estimator's pool, one per size class
    # (a handful of rows, or more: 3000 rows run several blocks of the larger one), and
    # returns it; repeated calls create none, and the results are bitwise those of a
    # network created for the call.
    rng = np.random.RandomState(2)
    X = rng.randn(3000, 12)
    model = MLPClassifier(hidden_layer_sizes=(40,), max_iter=3, random_state=0).fit(
        X, X[:, 0] > 0
    )
    inputs = [X, X[:100], X[:5]]
    first = [model.predict_proba(Z) for Z in inputs]
    nets = {key: list(free) for key, free in model._predict_nets.items()}
    assert sorted(len(free) for free in nets.values()) == [1, 1]
    again = [model.predict_proba(Z) for Z in inputs]
    assert {key: list(free) for key, free in model._predict_nets.items()} == nets
    pool, model._predict_nets = model._predict_nets, None   # a fresh network per call
    fresh = [model.predict_proba(Z) for Z in inputs]
    model._predict_nets = pool
    for a, b, c in zip(first, again, fresh, strict=True):
        assert_array_equal(a, b)
        assert_array_equal(a, c)


# ------------------------------------------------- two fits in two threads


def _gil_free_control(seconds):
    """Serial and two-thread wall times of a job that certainly runs without the GIL
    (hashlib releases it for large buffers): what this machine can give right now."""
    data = b"\x5a" * (8 << 20)
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < seconds / 2:
        hashlib.sha256(data).digest()
        n += 1

    def job():
        for _ in range(n):
            hashlib.sha256(data).digest()

    t = time.perf_counter()
    job()
    job()
    serial = time.perf_counter() - t
    threads = [threading.Thread(target=job) for _ in range(2)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return (time.perf_counter() - t) / serial


def _fit_jobs():
    rng = np.random.RandomState(0)
    X = rng.randn(4000, 32)
    y = (X[:, 0] + X[:, 3] > 0).astype(int)
    common = dict(hidden_layer_sizes=(128,), n_threads=1, tol=0.0, n_iter_no_change=10**9,
                  random_state=0)
    # About 0.4-0.7 s each on one idle core.
    return [
        (MLPClassifier(solver="adam", max_iter=60, **common), X, y),
        (MLPRegressor(solver="sgd", max_iter=60, **common), X, X[:, 1] - X[:, 2]),
    ]


def test_two_fits_in_two_threads_match_serial_fits_and_run_in_parallel():
    ratios = []
    for attempt in range(3):
        jobs = _fit_jobs()
        serial, serial_times = [], []
        for est, X, y in jobs:
            t = time.perf_counter()
            serial.append(est.__class__(**est.get_params()).fit(X, y))
            serial_times.append(time.perf_counter() - t)
        concurrent = [est for est, _, _ in jobs]
        errors = []

        def fit(i):
            try:
                concurrent[i].fit(jobs[i][1], jobs[i][2])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=fit, args=(i,)) for i in range(2)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        wall = time.perf_counter() - t
        assert not any(th.is_alive() for th in threads), "a concurrent fit hung"
        assert not errors, errors
        # Correctness never depends on timing: bitwise the serial fits.
        for a, b in zip(concurrent, serial):
            _assert_same_fit(a, b)
        ratios.append(wall / sum(serial_times))
        if ratios[-1] < 0.85:
            return
    # Every attempt looked serial. Either the GIL was held, or this machine had no
    # second idle core; tell the two apart with a job that surely runs in parallel.
    control = _gil_free_control(sum(serial_times) / 2)
    if control > 0.8:
        pytest.skip(
            f"no idle second core to measure parallelism (GIL-free control ran at "
            f"{control:.2f} of serial; fits at {[round(r, 2) for r in ratios]})"
        )
    pytest.fail(
        f"two fits in two threads took {[round(r, 2) for r in ratios]} of their serial time, "
        f"while a GIL-free job ran at {control:.2f}: the GIL is not released during fit"
    )


def test_concurrent_lbfgs_and_partial_fit_match_serial():
    """The L-BFGS objective and partial_fit also run concurrently and correctly
    (one Network per call: no scratch space shared between estimators)."""
    rng = np.random.RandomState(1)
    X = rng.randn(1500, 20).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)

    def make():
        return [
            MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=30, random_state=0),
            MLPRegressor(hidden_layer_sizes=(64, 8), solver="lbfgs", max_iter=30, random_state=0),
            MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", random_state=0),
            MLPRegressor(hidden_layer_sizes=(32,), solver="adam", random_state=0),
        ]

    def train(model):
        target = y if isinstance(model, MLPClassifier) else X[:, 1]
        if model.solver == "lbfgs":
            return model.fit(X, target)
        for k in range(4):
            if isinstance(model, MLPClassifier):
                model.partial_fit(X[k::4], target[k::4], classes=[0, 1])
            else:
                model.partial_fit(X[k::4], target[k::4])
        return model

    serial = [train(m) for m in make()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(train, make()))
    for a, b in zip(concurrent, serial):
        for pa, pb in zip(_params(a), _params(b), strict=True):
            assert_array_equal(pa, pb)


# ------------------------------------------------------------------- fork


def _child(conn, model, X, expected):
    """In the child: predict with the parent's model, fit a fresh one, report back."""
    try:
        warnings.simplefilter("ignore")
        proba = model.predict_proba(X)
        refit = MLPClassifier(**model.get_params()).set_params(max_iter=2)
        refit.fit(X, model.predict(X))
        conn.send(("ok", bool(np.array_equal(proba, expected)), _core.max_threads(),
                   refit.n_iter_))
    except BaseException as exc:  # pragma: no cover - reported by the parent
        conn.send(("error", repr(exc), None, None))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def threaded_parent_model():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 64)
    y = (X[:, 0] - X[:, 5] > 0).astype(int)
    # n_threads=2 and the 200 x 256 x 256 products of the second layer: the core's
    # parallel regions run, so the parent holds a live OpenMP thread pool when it forks.
    model = MLPClassifier(hidden_layer_sizes=(256, 256), n_threads=2, max_iter=2,
                          random_state=0).fit(X, y)
    return model, X[:300]


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_children_predict_and_fit_after_a_threaded_fit(threaded_parent_model, method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method on this platform")
    model, X = threaded_parent_model
    expected = model.predict_proba(X)
    ctx = mp.get_context(method)
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
        proc = ctx.Process(target=_child, args=(child_conn, model, X, expected))
        proc.start()
    child_conn.close()
    try:
        # A child that hangs in OpenMP never answers: fail instead of waiting forever.
        assert parent_conn.poll(120), f"the {method} child hung (no answer in 120 s)"
        status, same, _threads, n_iter = parent_conn.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    assert status == "ok", same
    assert same, f"the {method} child predicted differently from the parent"
    assert n_iter == 2
    assert proc.exitcode == 0


def test_lbfgs_runs_scipys_blas_on_one_thread(monkeypatch):
    # SciPy's L-BFGS-B does its vector algebra through BLAS between the core's threaded
    # evaluations; with BLAS on several threads the two runtimes' idle threads spin on
    # each other's cores (a two-thread fit ran 5-8x slower than one). bpfast limits BLAS
    # to one thread for the optimisation, and only for it.
    from threadpoolctl import threadpool_info

    import bpfast._base as base

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    seen = []
    minimize = base.scipy.optimize.minimize

    def recording_minimize(fun, x0, **kwargs):
        def recorded(theta):
            seen.append(blas_threads())
            return fun(theta)
        return minimize(recorded, x0, **kwargs)

    before = blas_threads()
    if not before:
        pytest.skip("threadpoolctl sees no BLAS library in this process")
    monkeypatch.setattr(base.scipy.optimize, "minimize", recording_minimize)
    X, y = np.random.default_rng(0).standard_normal((60, 4)), np.arange(60) % 3
    MLPClassifier((5,), solver="lbfgs", max_iter=5, n_threads=2).fit(X, y)
    assert seen and all(threads == [1] * len(threads) for threads in seen)
    assert blas_threads() == before


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity interface")
def test_config_reports_a_main_thread_pinned_to_one_cpu(tmp_path):
    """Pinned as a binding OpenMP runtime loaded first pins it: ``cpus`` shows the one CPU."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "import bpfast._config as c; print(c.config()['cpus'])"
    )
    # from tmp_path, so that the child imports the installed package, not a source tree
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"1 of {os.cpu_count()}"
