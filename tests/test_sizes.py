"""Absurd sizes are refused quickly, before anything of that size is allocated.

Through the estimators (layer widths of 2**31 ... 2**64, batch sizes of 2**62,
huge iteration limits) and through the core's Network directly (products of
widths and rows that overflow 64 bits), each request raises MemoryError or
ValueError (OverflowError for integers the core's C types cannot hold) within a
second, and the process's peak memory does not grow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from bpfast import MLPClassifier, MLPRegressor, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

REFUSED = (MemoryError, ValueError)


def _peak_rss_mb():
    """The process's peak resident memory in MiB, or None where POSIX's getrusage is absent."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


def _refused_quickly(call, errors=REFUSED):
    before = _peak_rss_mb()
    start = time.perf_counter()
    with pytest.raises(errors) as info:
        call()
    assert time.perf_counter() - start < 1.0
    # Nothing of the absurd size was touched (the peak grows by far less than 1 GiB).
    if before is not None:
        assert _peak_rss_mb() - before < 256
    return info.value


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(20, 3)
    return X, np.arange(20) % 2, X[:, 0]


@pytest.mark.parametrize(
    "hidden", [(2**40,), (2**62,), (2**63,), (2**64,), (2**31, 2**31), (4, 2**40), (2**20,) * 3]
)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_absurd_layer_widths_are_refused(data, hidden, solver, dtype):
    X, y_clf, y_reg = data
    for model, y in ((MLPClassifier(hidden, solver=solver), y_clf),
                     (MLPRegressor(hidden_layer_sizes=hidden, solver=solver), y_reg)):
        _refused_quickly(lambda: model.fit(X.astype(dtype), y))
        if solver != "lbfgs":
            fresh = model.__class__(**model.get_params())
            kwargs = {"classes": [0, 1]} if isinstance(model, MLPClassifier) else {}
            _refused_quickly(lambda: fresh.partial_fit(X.astype(dtype), y, **kwargs))


@pytest.mark.parametrize("batch_size", [2**31, 2**62, 2**63 - 1, 2**64])
def test_absurd_batch_size_is_clipped_like_sklearn(data, batch_size):
    X, y, _ = data
    reference = MLPClassifier((5,), batch_size=X.shape[0], max_iter=3, random_state=0).fit(X, y)
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        model = MLPClassifier((5,), batch_size=batch_size, max_iter=3, random_state=0).fit(X, y)
    assert time.perf_counter() - start < 5
    for a, b in zip(model.coefs_, reference.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="lbfgs", max_fun=2**62, max_iter=3),
        dict(solver="lbfgs", max_iter=2**62, tol=10.0),
        dict(solver="adam", n_iter_no_change=2**62, max_iter=3),
        dict(solver="sgd", max_iter=2**40, tol=10.0, n_iter_no_change=1),
    ],
)
def test_huge_iteration_limits_are_only_limits(data, params):
    X, y, _ = data
    start = time.perf_counter()
    model = MLPClassifier((5,), random_state=0, **params).fit(X, y)
    assert time.perf_counter() - start < 10
    assert model.n_iter_ <= 3   # 0 when L-BFGS's gradient test is met at once


@pytest.mark.parametrize(
    "widths, max_rows",
    [
        ([2**62, 2**62], 1),                  # weights: 2**124 elements
        ([3, 2**40, 2**40, 1], 1),            # 2**80
        ([3, 2**31, 2**31, 1], 1),            # 2**62: overflows the byte count
        ([3, 2**21, 2**21, 1], 1),            # 2**42 elements: too large to allocate
        ([3, 4, 1], 2**62),                   # rows x widths overflow
        ([3, 4, 1], 2**40),                   # 2**40 rows of workspace: too large
        ([2**40, 1], 2**40),
        ([3] + [2**20] * 40 + [1], 1),        # many wide layers
    ],
)
@pytest.mark.parametrize("itemsize", [4, 8])
def test_core_refuses_absurd_networks_before_allocating(widths, max_rows, itemsize):
    _refused_quickly(lambda: _core.Network(widths, "relu", "identity", "squared_error",
                                           itemsize, max_rows))


@pytest.mark.parametrize(
    "widths, max_rows",
    [([2**63, 1], 1), ([3, 2**64, 1], 1), ([3, 4, 1], 2**63), ([3, -1, 1], 1), ([3, 0, 1], 1),
     ([3, 4, 1], 0), ([3, 4, 1], -1), ([3], 1), ([], 1)],
)
def test_core_rejects_out_of_range_sizes(widths, max_rows):
    # Integers beyond int64 cannot even be passed: OverflowError from the conversion.
    _refused_quickly(
        lambda: _core.Network(widths, "relu", "identity", "squared_error", 8, max_rows),
        errors=REFUSED + (OverflowError,),
    )


def test_a_refused_network_leaves_the_core_usable(data):
    X, y, _ = data
    for _ in range(50):
        with pytest.raises(MemoryError):
            _core.Network([3, 2**21, 2**21, 1], "relu", "identity", "squared_error", 8, 1)
    model = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
    assert model.predict(X).shape == (20,)


# The core runs every parallel region with n_threads threads. An absurd count
# reaching libgomp either aborts the process ("Thread creation failed") or crashes
# it (SIGSEGV from a huge alloca in gomp_team_start), so the estimators cap it.
# Children with a capped address space, so that a failure cannot spawn thousands
# of threads on the machine.
_N_THREADS_CHILD = textwrap.dedent(
    """
    import os, sys, warnings
    # ASan needs its huge shadow map; macOS and Windows have no address-space limit
    if sys.platform.startswith("linux") and "libasan" not in os.environ.get("LD_PRELOAD", ""):
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    from bpfast import MLPClassifier, _core
    warnings.simplefilter("ignore")
    X = np.random.RandomState(0).randn(300, 256)
    for n_threads in map(int, sys.argv[2:]):
        try:
            if sys.argv[1] == "estimator":
                # products of 200 x 256 x 128 multiply-adds: shared between threads
                MLPClassifier((128,), n_threads=n_threads, max_iter=1).fit(X, np.arange(300) % 2)
            else:
                net = _core.Network([256, 128, 1], "relu", "identity", "squared_error", 8, 300,
                                    n_threads)
                net.predict(np.zeros(net.n_params), X, np.empty((300, 1)))
            print("ran", flush=True)
        except (ValueError, MemoryError, OverflowError) as exc:
            print("refused:", type(exc).__name__, exc, flush=True)
    """
)


def _run_n_threads_child(where, *n_threads):
    # cwd outside the checkout, so the child imports the installed package
    proc = subprocess.run([sys.executable, "-c", _N_THREADS_CHILD, where, *map(str, n_threads)],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.abspath(sys.executable)))
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-500:]}"
    lines = proc.stdout.splitlines()
    assert len(lines) == len(n_threads)
    for line in lines:
        assert line.startswith(("ran", "refused: ValueError", "refused: MemoryError")), line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS (Linux)")
def test_absurd_n_threads_is_capped_not_a_crash():
    _run_n_threads_child("estimator", 100_000, 2**31)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS (Linux)")
def test_core_network_refuses_or_caps_absurd_n_threads():
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("needs an address-space limit, which AddressSanitizer cannot run under")
    _run_n_threads_child("core", 100_000)
