"""The parameter slab and the optimizer's state start on a cache line.

The core reads small weight matrices in place and walks the slab and the state in the
update with full-width vector loads; from numpy's 16-byte-aligned buffers every 64-byte
load straddled two cache lines (the 60000 x 784 fit ran ~15% slower on an AMD Zen 4).
"""

from __future__ import annotations

import numpy as np
import pytest

from bpfast import MLPClassifier, MLPRegressor
from bpfast._layout import aligned_empty, aligned_zeros, pack, unpack

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _on_a_line(array):
    return array.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 1000, 100_003])
def test_aligned_vectors(dtype, n):
    # numpy's own buffers start 16 bytes into a line for most of these sizes; forty
    # allocations in a row would almost surely include one that is not on a line
    for _ in range(40):
        empty, zeros = aligned_empty(n, dtype), aligned_zeros(n, dtype)
        for a in (empty, zeros):
            assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous
            assert a.flags.writeable and _on_a_line(a)
        assert not zeros.any()


def _slab_of(model):
    """The fitted slab, of which coefs_[0] is the first view."""
    return model.coefs_[0]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_trains_an_aligned_slab_and_state(solver, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)).astype(dtype)
    y = rng.integers(0, 3, 60)
    model = MLPClassifier(hidden_layer_sizes=(7,), solver=solver, max_iter=3, random_state=0).fit(X, y)
    assert _on_a_line(_slab_of(model))
    if solver != "lbfgs":
        assert _on_a_line(model._optimizer_state)
        # partial_fit and a warm start copy the weights into a new slab: aligned too
        model.partial_fit(X, y)
        assert _on_a_line(_slab_of(model)) and _on_a_line(model._optimizer_state)
    model.set_params(warm_start=True).fit(X, y)
    assert _on_a_line(_slab_of(model))


def test_pack_gives_an_aligned_slab_with_the_same_values():
    model = MLPRegressor(hidden_layer_sizes=(4, 3), max_iter=2, random_state=0).fit(np.eye(6), np.arange(6.0))
    layer_units = [6, 4, 3, 1]
    for _ in range(20):
        slab = pack(model.coefs_, model.intercepts_, layer_units, np.float64)
        assert _on_a_line(slab)
        coefs, intercepts = unpack(slab, layer_units)
        for a, b in zip(coefs + intercepts, model.coefs_ + model.intercepts_):
            np.testing.assert_array_equal(a, b)
