"""Property-based tests of the C core through the estimators (hypothesis).

Random shapes (one sample, one feature, a batch larger than the data, width-1
layers, up to 100 hidden layers), both dtypes, every activation and solver, and
every memory layout the estimators accept (Fortran order, strided and reversed
slices, read-only arrays, np.memmap) must give bitwise the results of a
C-contiguous copy, and never crash. CSR input must agree with dense input to
rounding. Bounded and deterministic for CI: few examples, derandomized, no
deadline, no example database.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from bpfast import MLPClassifier, MLPRegressor

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
SOLVERS = ["sgd", "adam", "lbfgs"]
LAYOUTS = ["fortran", "row_stride", "col_stride", "reversed", "read_only", "memmap"]


def make_problem(n, d, hidden, dtype, classifier, solver, activation="relu", batch_size="auto",
                 alpha=1e-4, max_iter=2, random_state=0, shuffle=True, seed=0, scale=1.0,
                 n_classes=3):
    """(estimator class, parameters, X, y) of a small training problem."""
    params = dict(
        hidden_layer_sizes=tuple(hidden),
        activation=activation,
        solver=solver,
        batch_size=batch_size,
        alpha=alpha,
        max_iter=max_iter,
        random_state=random_state,
        shuffle=shuffle,
    )
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * scale
    X[rng.rand(n, d) < 0.3] = 0.0
    if classifier:
        return MLPClassifier, params, X.astype(dtype), rng.randint(0, n_classes, size=n)
    return MLPRegressor, params, X.astype(dtype), X.sum(axis=1) + rng.randn(n)


@st.composite
def problems(draw, max_layers=100):
    """A small training problem and the estimator to fit on it."""
    n = draw(st.integers(1, 40))
    d = draw(st.integers(1, 8))
    deep = draw(st.booleans())
    n_hidden = draw(st.integers(1, max_layers) if deep else st.integers(1, 3))
    width = st.integers(1, 3) if n_hidden > 10 else st.integers(1, 12)
    return make_problem(
        n,
        d,
        draw(st.lists(width, min_size=n_hidden, max_size=n_hidden)),
        dtype=draw(st.sampled_from([np.float64, np.float32])),
        classifier=draw(st.booleans()),
        solver=draw(st.sampled_from(SOLVERS)),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        batch_size=draw(st.one_of(st.just("auto"), st.integers(1, n + 10))),
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.1])),
        max_iter=draw(st.integers(1, 3)),
        random_state=draw(st.integers(0, 2**16)),
        shuffle=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
        scale=draw(st.sampled_from([1e-3, 1.0, 30.0])),
        n_classes=draw(st.integers(1, 4)),
    )


# Edge cases every run covers explicitly, whatever hypothesis draws besides.
EDGE_CASES = [
    # one sample, one feature, width-1 layer
    make_problem(1, 1, (1,), np.float64, True, "lbfgs"),
    make_problem(1, 1, (1,), np.float32, False, "adam", batch_size=5),
    # a batch much larger than the data
    make_problem(7, 3, (4,), np.float64, True, "sgd", batch_size=1000),
    # 100 hidden layers of small width, both dtypes
    make_problem(9, 2, (2,) * 100, np.float64, False, "adam", activation="tanh"),
    make_problem(9, 2, (1, 3) * 50, np.float32, True, "lbfgs", activation="logistic"),
    # one sample per batch
    make_problem(25, 8, (12, 1), np.float32, False, "sgd", batch_size=1, activation="identity"),
]


def _fit(Est, params, X, y, sample_weight=None):
    with warnings.catch_warnings():
        # batch_size > n, ConvergenceWarning, overflow in a saturated activation
        warnings.simplefilter("ignore")
        return Est(**params).fit(X, y, sample_weight=sample_weight)


def _outputs(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = [model.predict(X)]
        if isinstance(model, MLPClassifier):
            outs.append(model.predict_proba(X))
    return outs


def _params(model):
    return list(model.coefs_) + list(model.intercepts_)


def _assert_same_model(a, b):
    for pa, pb in zip(_params(a), _params(b), strict=True):
        assert pa.dtype == pb.dtype
        assert_array_equal(pa, pb)
    assert a.n_iter_ == b.n_iter_
    if hasattr(a, "loss_curve_"):
        assert_array_equal(a.loss_curve_, b.loss_curve_)


class _Layouts:
    """The same values as X in another memory layout; keeps temp files alive."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="bpfast-props-")

    def close(self):
        self._tmp.cleanup()

    def make(self, X, layout):
        if layout == "fortran":
            out = np.asfortranarray(X)
        elif layout == "row_stride":
            big = np.zeros((2 * X.shape[0], X.shape[1]), dtype=X.dtype)
            big[::2] = X
            out = big[::2]
        elif layout == "col_stride":
            big = np.zeros((X.shape[0], 3 * X.shape[1]), dtype=X.dtype)
            big[:, 1::3] = X
            out = big[:, 1::3]
        elif layout == "reversed":
            out = X[::-1].copy()[::-1]
        elif layout == "read_only":
            out = X.copy()
            out.setflags(write=False)
        elif layout == "memmap":
            path = os.path.join(self._tmp.name, f"X{id(X)}-{X.dtype}.dat")
            mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
            mm[...] = X
            mm.flush()
            del mm
            out = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
        else:  # pragma: no cover
            raise AssertionError(layout)
        assert out.dtype == X.dtype
        assert_array_equal(out, X)
        return out


@pytest.fixture(scope="module")
def layouts():
    maker = _Layouts()
    yield maker
    maker.close()


def edge_cases(**extra):
    """Add EDGE_CASES as explicit examples; extra arguments cycle through the lists given."""

    def decorate(test):
        for i, problem in enumerate(EDGE_CASES):
            test = example(problem=problem, **{k: v[i % len(v)] for k, v in extra.items()})(test)
        return test

    return decorate


@settings(max_examples=50, **SETTINGS)
@given(problem=problems(), layout=st.sampled_from(LAYOUTS))
@edge_cases(layout=LAYOUTS)
def test_any_layout_fits_and_predicts_like_c_order(layouts, problem, layout):
    Est, params, X, y = problem
    reference = _fit(Est, params, np.ascontiguousarray(X), y)
    Xl = layouts.make(X, layout)
    model = _fit(Est, params, Xl, y)
    _assert_same_model(model, reference)
    for out, ref in zip(_outputs(model, Xl), _outputs(reference, np.ascontiguousarray(X))):
        assert out.shape[0] == X.shape[0]
        assert_array_equal(out, ref)
    # predict_proba of logistic/softmax outputs: finite rows summing to one
    if Est is MLPClassifier:
        proba = _outputs(model, Xl)[1]
        assert np.isfinite(proba).all()
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5 if X.dtype == np.float32 else 1e-12)


@settings(max_examples=40, **SETTINGS)
@given(problem=problems(), layout=st.sampled_from(LAYOUTS + ["c"]))
@edge_cases(layout=LAYOUTS[::-1])
def test_sample_weight_layouts_and_predict_row_by_row(layouts, problem, layout):
    """Strided/read-only sample weights fit like a contiguous copy; each row
    predicted alone (the small-product path) is bitwise that row of the batch."""
    Est, params, X, y = problem
    sw = np.random.RandomState(0).uniform(0.5, 2.0, size=X.shape[0])
    reference = _fit(Est, params, X, y, sample_weight=sw.copy())
    sw_l = sw if layout == "c" else layouts.make(sw[:, None], layout)[:, 0]
    model = _fit(Est, params, X, y, sample_weight=sw_l)
    _assert_same_model(model, reference)
    batch = _outputs(model, X)
    for i in range(min(X.shape[0], 6)):
        for one, full in zip(_outputs(model, X[i : i + 1]), batch):
            assert_array_equal(one, full[i : i + 1])


@settings(max_examples=40, **SETTINGS)
@given(problem=problems(max_layers=20), fmt=st.sampled_from(["csr", "csc"]))
@edge_cases(fmt=["csr", "csc"])
def test_sparse_matches_dense(problem, fmt):
    Est, params, X, y = problem
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    dense = _fit(Est, params, X, y)
    sparse = _fit(Est, params, Xs, y)
    # The sparse forward pass sums a row in nonzero order, the dense one in blocked
    # order: equal up to rounding, amplified a little by a few training steps.
    rtol, atol = (1e-4, 1e-5) if X.dtype == np.float32 else (1e-9, 1e-11)
    assert sparse.n_iter_ == dense.n_iter_
    for ps, pd in zip(_params(sparse), _params(dense), strict=True):
        assert ps.dtype == X.dtype
        assert_allclose(ps, pd, rtol=rtol, atol=atol)
    for out_s, out_d in zip(_outputs(sparse, Xs), _outputs(dense, X)):
        if out_s.dtype.kind == "f":
            assert_allclose(out_s, out_d, rtol=rtol, atol=atol)
    # Predicting a dense model on sparse input and vice versa.
    for out_s, out_d in zip(_outputs(dense, Xs), _outputs(dense, X)):
        if out_s.dtype.kind == "f":
            assert_allclose(out_s, out_d, rtol=rtol, atol=atol)


@settings(max_examples=30, **SETTINGS)
@given(problem=problems(max_layers=10))
@edge_cases()
def test_partial_fit_never_crashes_and_stays_finite(problem):
    Est, params, X, y = problem
    if params["solver"] == "lbfgs":
        params = {**params, "solver": "adam"}
    params.pop("max_iter")
    model = Est(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(3):
            Xk = X[k::3] if X[k::3].shape[0] else X
            yk = y[k::3] if X[k::3].shape[0] else y
            if Est is MLPClassifier:
                model.partial_fit(Xk, yk, classes=np.unique(y))
            else:
                model.partial_fit(Xk, yk)
    for p in _params(model):
        assert p.dtype == X.dtype
        assert np.isfinite(p).all()
    for out in _outputs(model, X):
        assert out.shape[0] == X.shape[0]
