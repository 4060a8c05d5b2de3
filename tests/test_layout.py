"""The parameter slab and the optimizer's state start on a cache line.

The core reads small weight matrices in place and walks the slab and the state in the
update with full-width vector loads; from numpy's 16-byte-aligned buffers every 64-byte
load straddled two lines (the 60000 x 784 fit ran ~15% slower on an AMD Zen 4). numpy's
own buffers land on a line by chance often enough that these tests make numpy's ``empty``
and ``zeros`` return arrays 16 bytes into a line instead: an allocation that is not
realigned then fails every time.
"""

from __future__ import annotations

import numpy as np
import pytest

from bpfast import MLPClassifier, MLPRegressor
from bpfast._layout import aligned_empty, aligned_zeros, as_aligned, pack, unpack

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _on_a_line(array):
    return array.ctypes.data % 64 == 0


@pytest.fixture
def misaligned_numpy(monkeypatch):
    """numpy's ``empty`` and ``zeros`` giving arrays that start 16 bytes into a line."""
    numpy_empty = np.empty

    def empty(shape, dtype=float, order="C", **kwargs):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        raw = numpy_empty(nbytes + 128, dtype=np.uint8)
        skip = (16 - raw.ctypes.data) % 64
        return raw[skip : skip + nbytes].view(dtype).reshape(shape, order=order)

    def zeros(shape, dtype=float, order="C", **kwargs):
        out = empty(shape, dtype, order)
        out[...] = 0
        return out

    monkeypatch.setattr(np, "empty", empty)
    monkeypatch.setattr(np, "zeros", zeros)
    assert np.empty(1000, np.float32).ctypes.data % 64 == 16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 1000, 100_003])
def test_aligned_vectors(misaligned_numpy, dtype, n):
    empty, zeros = aligned_empty(n, dtype), aligned_zeros(n, dtype)
    for a in (empty, zeros):
        assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous
        assert a.flags.writeable and _on_a_line(a)
    assert not zeros.any()
    assert aligned_empty(0, dtype).shape == (0,)


def test_as_aligned_keeps_an_aligned_vector_and_copies_any_other(misaligned_numpy):
    aligned = aligned_zeros(40, np.float64)
    assert as_aligned(aligned, np.float64) is aligned
    for other, dtype in [
        (np.arange(40.0), np.float64),  # 16 bytes into a line
        (aligned, np.float32),  # another dtype
        (aligned_zeros(80, np.float64)[::2], np.float64),  # strided
    ]:
        copy = as_aligned(other, dtype)
        assert copy.dtype == dtype and copy.flags.c_contiguous and _on_a_line(copy)
        np.testing.assert_array_equal(copy, other)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_trains_an_aligned_slab_and_state(misaligned_numpy, solver, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)).astype(dtype)
    y = rng.integers(0, 3, 60)
    model = MLPClassifier(hidden_layer_sizes=(7,), solver=solver, max_iter=3, random_state=0)
    model.fit(X, y)
    assert _on_a_line(model.coefs_[0])  # the first view of the slab
    if solver != "lbfgs":
        assert _on_a_line(model._optimizer_state)
        # partial_fit and a warm start copy the weights into a new slab: aligned too
        model.partial_fit(X, y)
        assert _on_a_line(model.coefs_[0]) and _on_a_line(model._optimizer_state)
        # a state that arrives unaligned (loaded from a file, say) is realigned
        moved = np.empty(model._optimizer_state.shape, dtype)  # 16 bytes into a line
        moved[...] = model._optimizer_state
        model._optimizer_state = moved
        model.partial_fit(X, y)
        assert _on_a_line(model._optimizer_state)
    model.set_params(warm_start=True).fit(X, y)
    assert _on_a_line(model.coefs_[0])


def test_pack_gives_an_aligned_slab_with_the_same_values(misaligned_numpy):
    model = MLPRegressor(hidden_layer_sizes=(4, 3), max_iter=2, random_state=0)
    model.fit(np.eye(6), np.arange(6.0))
    layer_units = [6, 4, 3, 1]
    slab = pack(model.coefs_, model.intercepts_, layer_units, np.float64)
    assert _on_a_line(slab)
    coefs, intercepts = unpack(slab, layer_units)
    for a, b in zip(coefs + intercepts, model.coefs_ + model.intercepts_):
        np.testing.assert_array_equal(a, b)
