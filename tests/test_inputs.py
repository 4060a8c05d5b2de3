"""Inputs bpfast must accept, inputs it must reject (as scikit-learn does), and Ctrl-C.

Every rejected input is also given to scikit-learn 1.9's own MLP: bpfast must
raise the very same exception type, and the message must match where
scikit-learn's message is stable.
"""

from __future__ import annotations

import faulthandler
import re
import signal
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sk_nn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import bpfast
from bpfast import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [MLPClassifier, MLPRegressor]
SOLVERS = ["adam", "sgd", "lbfgs"]
STOCHASTIC = ["adam", "sgd"]


# --------------------------------------------------------------------- data


def _data(n=120, d=6, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    X[rng.rand(n, d) < 0.4] = 0.0  # some zeros, so sparse input has structure
    w = rng.randn(d)
    y_reg = X @ w + 0.1 * rng.randn(n)
    y_clf = np.digitize(y_reg, np.quantile(y_reg, [1 / 3, 2 / 3]))  # 3 classes
    return X.astype(dtype), y_clf, y_reg.astype(dtype)


def _target(Est, y_clf, y_reg):
    return y_clf if Est is MLPClassifier else y_reg


def _outputs(model, X):
    """Everything the model predicts for X, as a list of arrays."""
    if isinstance(model, MLPClassifier):
        return [model.predict(X), model.predict_proba(X)]
    return [model.predict(X)]


def _small(Est, **params):
    params = {"hidden_layer_sizes": (10,), "max_iter": 30, "random_state": 0, **params}
    return Est(**params)


def _all_params(model):
    return list(model.coefs_) + list(model.intercepts_)


# ------------------------------------------------------------- data frames


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pandas_dataframe(Est, dtype):
    pd = pytest.importorskip("pandas")
    X, y_clf, y_reg = _data(dtype=dtype)
    y = _target(Est, y_clf, y_reg)
    columns = [f"feat_{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    model = _small(Est).fit(df, pd.Series(y))
    assert_array_equal(model.feature_names_in_, columns)
    assert model.n_features_in_ == X.shape[1]
    # A float32 frame trains in float32, exactly as the float32 ndarray does.
    for w in _all_params(model):
        assert w.dtype == dtype
    reference = _small(Est).fit(X, y)
    for a, b in zip(_all_params(model), _all_params(reference)):
        assert_array_equal(a, b)
    for a, b in zip(_outputs(model, df), _outputs(reference, X)):
        assert_array_equal(a, b)
    if Est is MLPClassifier:
        assert model.predict_proba(df).dtype == dtype
    # Feature-name checks come from scikit-learn's validate_data.
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.predict(X)
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(df.rename(columns={"feat_0": "other"}))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_polars_dataframe(Est):
    pl = pytest.importorskip("polars")
    X, y_clf, y_reg = _data()
    y = _target(Est, y_clf, y_reg)
    columns = [f"c{i}" for i in range(X.shape[1])]
    df = pl.DataFrame({c: X[:, i] for i, c in enumerate(columns)})
    model = _small(Est).fit(df, pl.Series(y))
    assert_array_equal(model.feature_names_in_, columns)
    reference = _small(Est).fit(X, y)
    for a, b in zip(_outputs(model, df), _outputs(reference, X)):
        assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_pandas_extension_dtypes(backend):
    pd = pytest.importorskip("pandas")
    if backend == "pyarrow":
        pytest.importorskip("pyarrow")
    X, y, _ = _data()
    X[:, 0] = np.arange(X.shape[0]) % 5  # an integer column
    df = pd.DataFrame(X, columns=list("abcdef")).astype({"a": "int64"})
    df = df.convert_dtypes(dtype_backend=backend)
    assert str(df.dtypes["a"]).lower().startswith("int64")
    model = _small(MLPClassifier).fit(df, y)
    reference = _small(MLPClassifier).fit(X, y)
    for a, b in zip(_outputs(model, df), _outputs(reference, X)):
        assert_array_equal(a, b)
    with_na = df.copy()
    with_na.loc[3, "b"] = pd.NA
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(with_na)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _small(MLPClassifier).fit(with_na, y)


def test_pandas_categorical_string_labels():
    pd = pytest.importorskip("pandas")
    X, y_clf, _ = _data()
    labels = np.array(["cat", "dog", "fish"])[y_clf]
    df = pd.DataFrame(X, columns=list("abcdef"))
    model = _small(MLPClassifier).fit(df, pd.Series(labels, dtype="category"))
    assert_array_equal(model.classes_, ["cat", "dog", "fish"])
    assert set(model.predict(df)) <= {"cat", "dog", "fish"}


# ------------------------------------------------------------------ sparse


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_matrix", "csr_array", "csc_array"])
def test_sparse_matches_dense(Est, solver, fmt):
    X, y_clf, y_reg = _data()
    y = _target(Est, y_clf, y_reg)
    Xs = getattr(sp, fmt)(X)
    # L-BFGS amplifies rounding differences iteration after iteration; with
    # 15 iterations the sparse and dense fits still agree far below 1e-10.
    max_iter = 15 if solver == "lbfgs" else 30
    dense = _small(Est, solver=solver, max_iter=max_iter).fit(X, y)
    sparse = _small(Est, solver=solver, max_iter=max_iter).fit(Xs, y)
    assert sparse.n_iter_ == dense.n_iter_
    for a, b in zip(_all_params(sparse), _all_params(dense)):
        assert_allclose(a, b, rtol=0, atol=1e-10)
    for a, b in zip(_outputs(sparse, Xs), _outputs(dense, X)):
        assert_allclose(a, b, rtol=0, atol=1e-10)
    # Sparse and dense prediction inputs are interchangeable on either model.
    for a, b in zip(_outputs(dense, Xs), _outputs(dense, X)):
        assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_sparse_partial_fit_matches_dense(Est):
    X, y_clf, y_reg = _data()
    y = _target(Est, y_clf, y_reg)
    extra = {"classes": np.unique(y_clf)} if Est is MLPClassifier else {}
    dense, sparse = _small(Est), _small(Est)
    for _ in range(3):
        dense.partial_fit(X, y, **extra)
        sparse.partial_fit(sp.csr_matrix(X), y, **extra)
    for a, b in zip(_all_params(sparse), _all_params(dense)):
        assert_allclose(a, b, rtol=0, atol=1e-10)


def test_sparse_unsorted_and_duplicate_entries():
    """A CSR matrix with unsorted indices and duplicates means the summed matrix."""
    X, _, y = _data(n=40, d=4)
    rng = np.random.RandomState(1)
    rows, cols = np.nonzero(X)
    vals = X[rows, cols]
    # Split every value in two duplicate entries and shuffle the order in each row.
    rows = np.r_[rows, rows]
    cols = np.r_[cols, cols]
    vals = np.r_[0.25 * vals, 0.75 * vals]
    perm = rng.permutation(len(rows))
    coo = sp.coo_matrix((vals[perm], (rows[perm], cols[perm])), shape=X.shape)
    indptr = np.r_[0, np.cumsum(np.bincount(coo.row, minlength=X.shape[0]))]
    order = np.argsort(coo.row, kind="stable")
    Xs = sp.csr_matrix((coo.data[order], coo.col[order], indptr), shape=X.shape)
    assert not Xs.has_canonical_format
    before = (Xs.data.copy(), Xs.indices.copy(), Xs.indptr.copy())
    dense = _small(MLPRegressor).fit(X, y)
    sparse = _small(MLPRegressor).fit(Xs, y)
    assert_allclose(sparse.predict(Xs), dense.predict(X), rtol=0, atol=1e-10)
    for a, b in zip((Xs.data, Xs.indices, Xs.indptr), before):
        assert_array_equal(a, b)


# ------------------------------------------------------------------ dtypes


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_stays_float32(Est, solver, sparse):
    X, y_clf, y_reg = _data(dtype=np.float32)
    y = _target(Est, y_clf, y_reg)
    Xin = sp.csr_matrix(X) if sparse else X
    model = _small(Est, solver=solver).fit(Xin, y)
    for w in _all_params(model):
        assert w.dtype == np.float32
    if Est is MLPClassifier:
        assert model.predict_proba(Xin).dtype == np.float32
        assert model.predict_log_proba(Xin).dtype == np.float32
    else:
        assert model.predict(Xin).dtype == np.float32
    # float64 input on a float32 model is computed in float64, as X @ coefs_ would be.
    out64 = _outputs(model, X.astype(np.float64))[-1]
    assert out64.dtype == np.float64
    # float32 training follows float64 training closely (same draws, same steps).
    # (L-BFGS's line searches amplify rounding more than a few SGD/Adam epochs.)
    model64 = _small(Est, solver=solver).fit(Xin.astype(np.float64), y)
    atol = 2e-2 if solver == "lbfgs" else 2e-3
    assert_allclose(_outputs(model, X)[-1], _outputs(model64, X)[-1], rtol=0, atol=atol)
    if solver != "lbfgs":
        extra = {"classes": np.unique(y_clf)} if Est is MLPClassifier else {}
        pf = _small(Est, solver=solver).partial_fit(Xin, y, **extra)
        pf.partial_fit(Xin, y)
        assert all(w.dtype == np.float32 for w in _all_params(pf))


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, bool, object])
def test_other_numeric_dtypes_train_in_float64(Est, dtype):
    X, y_clf, y_reg = _data()
    y = _target(Est, y_clf, y_reg)
    Xd = (X * 3).astype(dtype)
    model = _small(Est).fit(Xd, y)
    reference = _small(Est).fit(Xd.astype(np.float64), y)
    assert all(w.dtype == np.float64 for w in _all_params(model))
    for a, b in zip(_outputs(model, Xd), _outputs(reference, Xd.astype(np.float64))):
        assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float16, np.int8, bool, np.int64, np.float64, object])
def test_prediction_dtype_follows_scikit_learn(dtype):
    """The output dtype for any X dtype on a float32 model is scikit-learn's."""
    X, y, _ = _data(dtype=np.float32)
    ours = _small(MLPClassifier).fit(X, y)
    theirs = _small(sk_nn.MLPClassifier).fit(X, y)
    Xd = (X * 3).astype(dtype)
    assert ours.predict_proba(Xd).dtype == theirs.predict_proba(Xd).dtype


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize("labels", [["cat", "dog", "fish"], [-5, 7, 100], [0.0, 1.0, 2.0]])
def test_class_labels_of_any_type(labels):
    X, y_clf, _ = _data()
    y = np.array(labels)[y_clf]
    ours = _small(MLPClassifier).fit(X, y)
    theirs = _small(sk_nn.MLPClassifier).fit(X, y)
    assert_array_equal(ours.classes_, np.sort(labels))
    assert ours.predict(X).dtype == theirs.predict(X).dtype
    assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-10)
    # partial_fit with the classes given up front.
    pf = _small(MLPClassifier).partial_fit(X, y, classes=np.array(labels))
    assert set(pf.predict(X)) <= set(labels)
    if y.dtype.kind == "U":
        # Object-dtype string labels work as well.
        obj = _small(MLPClassifier).fit(X, y.astype(object))
        assert_array_equal(obj.predict(X), ours.predict(X))
    # Binary string labels use the logistic output.
    yb = np.where(y_clf == 0, "no", "yes")
    binary = _small(MLPClassifier).fit(X, yb)
    assert binary.out_activation_ == "logistic"
    assert binary.predict_proba(X).shape == (X.shape[0], 2)
    assert set(binary.predict(X)) <= {"no", "yes"}


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel_y(solver):
    X, _, _ = _data()
    rng = np.random.RandomState(3)
    Y = (X[:, :3] + 0.3 * rng.randn(X.shape[0], 3) > 0).astype(int)
    ours = _small(MLPClassifier, solver=solver, max_iter=15).fit(X, Y)
    theirs = _small(sk_nn.MLPClassifier, solver=solver, max_iter=15).fit(X, Y)
    assert ours.out_activation_ == "logistic"
    assert ours.n_outputs_ == 3
    pred = ours.predict(X)
    assert pred.shape == Y.shape
    assert set(np.unique(pred)) <= {0, 1}
    assert_array_equal(pred, theirs.predict(X))
    proba = ours.predict_proba(X)
    assert proba.shape == Y.shape
    assert_allclose(proba, theirs.predict_proba(X), rtol=0, atol=1e-9)
    if solver != "lbfgs":
        pf = _small(MLPClassifier, solver=solver).partial_fit(X, Y, classes=[0, 1, 2])
        assert pf.predict(X).shape == Y.shape


@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_output_regression(solver):
    X, _, _ = _data()
    rng = np.random.RandomState(4)
    Y = X @ rng.randn(X.shape[1], 3)
    ours = _small(MLPRegressor, solver=solver, max_iter=15).fit(X, Y)
    theirs = _small(sk_nn.MLPRegressor, solver=solver, max_iter=15).fit(X, Y)
    assert ours.n_outputs_ == 3
    assert ours.predict(X).shape == Y.shape
    assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-9)
    if solver != "lbfgs":
        pf = _small(MLPRegressor, solver=solver).partial_fit(X, Y)
        assert pf.predict(X).shape == Y.shape


def test_column_vector_y_warns_and_is_raveled():
    X, y_clf, y_reg = _data()
    with pytest.warns(DataConversionWarning):
        reg = _small(MLPRegressor).fit(X, y_reg.reshape(-1, 1))
    assert reg.predict(X).shape == (X.shape[0],)
    assert_array_equal(reg.predict(X), _small(MLPRegressor).fit(X, y_reg).predict(X))
    with pytest.warns(DataConversionWarning):
        clf = _small(MLPClassifier).fit(X, y_clf.reshape(-1, 1))
    assert clf.predict(X).shape == (X.shape[0],)


# ----------------------------------------------------------- memory layouts


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fortran_and_strided_inputs_match_c_contiguous(Est, solver, dtype):
    X, y_clf, y_reg = _data(dtype=dtype)
    y = _target(Est, y_clf, y_reg)
    X_f = np.asfortranarray(X)
    big = np.zeros((2 * X.shape[0], 3 * X.shape[1]), dtype=dtype)
    big[::2, 1::3] = X
    X_strided = big[::2, 1::3]
    assert X_f.flags.f_contiguous and not X_f.flags.c_contiguous
    assert not X_strided.flags.c_contiguous and not X_strided.flags.f_contiguous
    y_strided = np.repeat(y, 2)[::2]  # non-contiguous y as well
    reference = _small(Est, solver=solver).fit(X, y)
    ref_out = _outputs(reference, X)
    for Xl, yl in [(X_f, y), (X_strided, y_strided)]:
        model = _small(Est, solver=solver).fit(Xl, yl)
        for a, b in zip(_all_params(model), _all_params(reference)):
            assert_array_equal(a, b)
        for a, b in zip(_outputs(model, Xl), ref_out):
            assert_array_equal(a, b)
        for a, b in zip(_outputs(reference, Xl), ref_out):
            assert_array_equal(a, b)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_fit_allocates_the_model_and_its_optimizer_state_once(Est, solver):
    """Python-side memory of a fit on C-contiguous float32 data: no copy of X, one
    slab of weights and the optimizer's state (one slab's worth for sgd, two for
    adam), plus small change (the initial weights' draws, the targets). A second
    model's worth (scikit-learn's copy of the initial weights, read only when
    stopping early) fails it. The core's workspace is malloc'd, so not traced."""
    rng = np.random.RandomState(0)
    X = rng.randn(8000, 50).astype(np.float32)  # 1.6 MB: a copy would exceed the slack
    y = (X[:, 0] > 0).astype(int) if Est is MLPClassifier else X[:, 1].copy()
    widths = [50, 512, 512, 1]
    model_bytes = 4 * sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))  # 1.16 MB
    assert X.nbytes > 0.5 * model_bytes
    estimator = _small(Est, solver=solver, hidden_layer_sizes=(512, 512), max_iter=1)
    tracemalloc.start()
    try:
        estimator.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    state_slabs = 2 if solver == "adam" else 1
    assert peak < (1 + state_slabs + 0.5) * model_bytes


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_strided_sample_weight(Est):
    X, y_clf, y_reg = _data()
    y = _target(Est, y_clf, y_reg)
    sw = np.random.RandomState(5).uniform(0.5, 2, X.shape[0])
    sw_strided = np.repeat(sw, 3)[::3]
    assert not sw_strided.flags.c_contiguous
    a = _small(Est).fit(X, y, sample_weight=sw)
    b = _small(Est).fit(X, y, sample_weight=sw_strided)
    for p, q in zip(_all_params(a), _all_params(b)):
        assert_array_equal(p, q)


# ------------------------------------------------- read-only, never modified


def _readonly(a):
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
def test_read_only_inputs(Est, solver, dtype, sparse):
    X, y_clf, y_reg = _data(dtype=dtype)
    y = _readonly(_target(Est, y_clf, y_reg))
    sw = _readonly(np.random.RandomState(6).uniform(0.5, 2, X.shape[0]).astype(dtype))
    if sparse:
        csr = sp.csr_matrix(X)
        Xin = sp.csr_matrix(
            (_readonly(csr.data), _readonly(csr.indices), _readonly(csr.indptr)), shape=X.shape
        )
        assert not Xin.data.flags.writeable
    else:
        Xin = _readonly(X)
    X_writable = Xin.copy()  # the same matrix (dense or sparse), writable
    model = _small(Est, solver=solver).fit(Xin, y, sample_weight=sw)
    reference = _small(Est, solver=solver).fit(X_writable, y.copy(), sample_weight=sw.copy())
    for a, b in zip(_outputs(model, Xin), _outputs(reference, X_writable)):
        assert_array_equal(a, b)
    if solver != "lbfgs":
        extra = {"classes": np.unique(y_clf)} if Est is MLPClassifier else {}
        _small(Est, solver=solver).partial_fit(Xin, y, sample_weight=sw, **extra).predict(Xin)


def _snapshot(a):
    if sp.issparse(a):
        return (a.format, a.shape, a.data.copy(), a.indices.copy(), a.indptr.copy())
    return (type(a), a.dtype, a.shape, a.strides, a.copy())


def _assert_unchanged(a, snap):
    now = _snapshot(a)
    assert len(now) == len(snap)
    for u, v in zip(now, snap):
        if isinstance(u, np.ndarray):
            assert_array_equal(u, v)
        else:
            assert u == v


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("layout", ["C64", "C32", "F64", "csr64", "csc32", "list"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_user_arrays_never_modified(Est, solver, layout, early_stopping):
    X, y_clf, y_reg = _data(dtype=np.float32 if layout.endswith("32") else np.float64)
    y = _target(Est, y_clf, y_reg).copy()
    sw = np.random.RandomState(7).uniform(0.5, 2, X.shape[0])
    if layout.startswith("csr"):
        X = sp.csr_matrix(X)
    elif layout.startswith("csc"):
        X = sp.csc_matrix(X)
    elif layout.startswith("F"):
        X = np.asfortranarray(X)
    elif layout == "list":
        X = X.tolist()
    snaps = [(a, _snapshot(a)) for a in (y, sw)]
    if layout != "list":
        snaps.append((X, _snapshot(X)))
    else:
        X_copy = [row[:] for row in X]
    model = _small(Est, solver=solver, early_stopping=early_stopping).fit(X, y, sample_weight=sw)
    _outputs(model, X)
    model.score(X, y, sample_weight=sw)
    if solver != "lbfgs" and not early_stopping:
        extra = {"classes": np.unique(y_clf)} if Est is MLPClassifier else {}
        pf = _small(Est, solver=solver).partial_fit(X, y, sample_weight=sw, **extra)
        pf.partial_fit(X, y, sample_weight=sw)
        _outputs(pf, X)
    warm = _small(Est, solver=solver, warm_start=True).fit(X, y, sample_weight=sw)
    warm.fit(X, y, sample_weight=sw)
    for a, snap in snaps:
        _assert_unchanged(a, snap)
    if layout == "list":
        assert X == X_copy


@pytest.mark.parametrize("early_stopping", [False, True])
def test_fitted_weights_do_not_alias_between_calls(early_stopping):
    """Arrays a user took from a model are not changed by a later fit or partial_fit."""
    X, _, y = _data()
    model = _small(MLPRegressor, warm_start=True, early_stopping=early_stopping)
    model.fit(X, y)
    held = [w for w in _all_params(model)]
    copies = [w.copy() for w in held]
    model.fit(X, y)  # warm start
    if not early_stopping:
        model.partial_fit(X, y)
    model.set_params(warm_start=False).fit(X, y)
    for a, b in zip(held, copies):
        assert_array_equal(a, b)


# ---------------------------------------------- assigned weights are used


def _numpy_loss(coefs, intercepts, X, Y, alpha, activation, out_activation, loss):
    """scikit-learn's reported loss (data loss + L2 penalty), computed with numpy."""
    act = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "logistic": lambda z: 1 / (1 + np.exp(-z)),
        "identity": lambda z: z,
    }
    a = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = a @ W + b
        last = i == len(coefs) - 1
        a = act[out_activation if last else activation](z)
    n = X.shape[0]
    if loss == "squared_error":
        data = ((Y - a) ** 2).mean() / 2
    else:  # binary log loss
        eps = np.finfo(a.dtype).eps
        p = np.clip(a, eps, 1 - eps)
        data = -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum() / n
    return data + 0.5 * alpha * sum((W**2).sum() for W in coefs) / n


def _assigned_weights(n_features, hidden, n_out, seed=10):
    rng = np.random.RandomState(seed)
    units = [n_features, hidden, n_out]
    coefs = [0.4 * rng.randn(a, b) for a, b in zip(units[:-1], units[1:])]
    intercepts = [0.1 * rng.randn(b) for b in units[1:]]
    return coefs, intercepts


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_training_continues_from_assigned_weights(name, solver, how):
    X, y_clf, y_reg = _data(n=100, d=5)
    y = (y_clf == 2).astype(int) if name == "MLPClassifier" else y_reg
    coefs, intercepts = _assigned_weights(X.shape[1], 7, 1)
    params = dict(
        hidden_layer_sizes=(7,),
        solver=solver,
        random_state=0,
        alpha=1e-3,
        batch_size=X.shape[0],  # full batch: the first loss is the loss at the assigned weights
    )
    models = {}
    for mod in (bpfast, sk_nn):
        Est = getattr(mod, name)
        model = Est(max_iter=3, warm_start=(how == "warm_start"), **params)
        if how == "partial_fit":
            if name == "MLPClassifier":
                model.partial_fit(X, y, classes=[0, 1])
            else:
                model.partial_fit(X, y)
        else:
            model.fit(X, y)
        n_before = len(model.loss_curve_)
        model.coefs_ = [c.copy() for c in coefs]
        model.intercepts_ = [b.copy() for b in intercepts]
        if how == "partial_fit":
            model.partial_fit(X, y)
            model.partial_fit(X, y)
        else:
            model.fit(X, y)
        models[mod] = (model, n_before)
    ours, n_before = models[bpfast]
    theirs, _ = models[sk_nn]
    # The loss of the first epoch after the assignment is the loss at the assigned weights.
    out_act = "logistic" if name == "MLPClassifier" else "identity"
    loss = "binary_log_loss" if name == "MLPClassifier" else "squared_error"
    expected = _numpy_loss(
        coefs, intercepts, X, y.reshape(-1, 1), params["alpha"], "relu", out_act, loss
    )
    assert ours.loss_curve_[n_before] == pytest.approx(expected, rel=1e-12)
    # And the whole continuation is what scikit-learn computes from those weights.
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12)
    for a, b in zip(_all_params(ours), _all_params(theirs)):
        assert_allclose(a, b, rtol=0, atol=1e-12)
    # The user's arrays were copied in, not written to.
    fresh_coefs, fresh_intercepts = _assigned_weights(X.shape[1], 7, 1)
    for a, b in zip(coefs + intercepts, fresh_coefs + fresh_intercepts):
        assert_array_equal(a, b)


def test_lbfgs_warm_start_from_assigned_weights():
    X, _, y = _data(n=100, d=5)
    coefs, intercepts = _assigned_weights(X.shape[1], 7, 1)
    models = []
    for mod in (bpfast, sk_nn):
        model = mod.MLPRegressor(
            hidden_layer_sizes=(7,), solver="lbfgs", max_iter=5, warm_start=True, random_state=0
        ).fit(X, y)
        model.coefs_ = [c.copy() for c in coefs]
        model.intercepts_ = [b.copy() for b in intercepts]
        models.append(model.fit(X, y))
    for a, b in zip(_all_params(models[0]), _all_params(models[1])):
        assert_allclose(a, b, rtol=0, atol=1e-9)


def test_assigned_weights_are_used_by_predict():
    X, _, y = _data(n=50, d=5)
    coefs, intercepts = _assigned_weights(X.shape[1], 7, 1)
    model = _small(MLPRegressor, hidden_layer_sizes=(7,)).fit(X, y)
    model.coefs_, model.intercepts_ = coefs, intercepts
    expected = np.maximum(X @ coefs[0] + intercepts[0], 0) @ coefs[1] + intercepts[1]
    assert_allclose(model.predict(X), expected.ravel(), rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------- bad input


def _raises_like_sklearn(action, match=None):
    """``action(module)`` raises the same exception type with bpfast as with sklearn."""
    with pytest.raises(Exception) as theirs, np.errstate(all="ignore"):
        action(sk_nn)  # (numpy overflow warnings of a diverging sklearn fit silenced)
    if match is not None:
        # Only stable messages are matched: confirm the pattern describes sklearn's too.
        assert re.search(match, str(theirs.value)), str(theirs.value)
    with pytest.raises(Exception, match=match) as ours:
        action(bpfast)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    return ours.value


def _X():
    return _data(n=30, d=3)[0]


def _y():
    return np.arange(30) % 2


def _yr():
    return _data(n=30, d=3)[2]


def _with(X, i, j, value):
    X = X.copy()
    X[i, j] = value
    return X


def _clf(m, **kw):
    return m.MLPClassifier(max_iter=5, random_state=0, **kw)


def _reg(m, **kw):
    return m.MLPRegressor(max_iter=5, random_state=0, **kw)


def _dict_cell():
    X = _X().astype(object)
    X[0, 0] = {"a": 1}
    return X


BAD_INPUT_CASES = {
    # NaN / inf in X, at fit and at predict.
    "fit_nan": (lambda m: _clf(m).fit(_with(_X(), 0, 0, np.nan), _y()), r"Input X contains NaN"),
    "fit_inf": (
        lambda m: _reg(m).fit(_with(_X(), 3, 1, np.inf), _yr()),
        r"Input X contains infinity",
    ),
    "fit_neg_inf": (lambda m: _clf(m).fit(_with(_X(), 3, 1, -np.inf), _y()), r"infinity"),
    "fit_sparse_nan": (
        lambda m: _reg(m).fit(sp.csr_matrix(_with(_X(), 0, 0, np.nan)), _yr()),
        r"Input X contains NaN",
    ),
    "fit_float32_inf": (
        lambda m: _reg(m).fit(_with(_X(), 0, 0, np.inf).astype(np.float32), _yr()),
        r"Input X contains infinity",
    ),
    "predict_nan": (
        lambda m: _clf(m).fit(_X(), _y()).predict(_with(_X(), 1, 1, np.nan)),
        r"Input X contains NaN",
    ),
    "predict_proba_inf": (
        lambda m: _clf(m).fit(_X(), _y()).predict_proba(_with(_X(), 1, 1, np.inf)),
        r"Input X contains infinity",
    ),
    "reg_predict_nan": (
        lambda m: _reg(m).fit(_X(), _yr()).predict(_with(_X(), 1, 1, np.nan)),
        r"Input X contains NaN",
    ),
    "score_nan": (
        lambda m: _reg(m).fit(_X(), _yr()).score(_with(_X(), 1, 1, np.nan), _yr()),
        r"Input X contains NaN",
    ),
    "y_nan": (lambda m: _reg(m).fit(_X(), np.full(30, np.nan)), r"Input y contains NaN"),
    "y_inf": (lambda m: _reg(m).fit(_X(), np.full(30, np.inf)), r"Input y contains infinity"),
    # Wrong number of features.
    "predict_n_features": (
        lambda m: _clf(m).fit(_X(), _y()).predict(_X()[:, :2]),
        r"X has 2 features, but MLPClassifier is expecting 3 features as input",
    ),
    "reg_predict_n_features": (
        lambda m: _reg(m).fit(_X(), _yr()).predict(np.c_[_X(), _X()]),
        r"X has 6 features, but MLPRegressor is expecting 3 features as input",
    ),
    "partial_fit_n_features": (
        lambda m: _reg(m).partial_fit(_X(), _yr()).partial_fit(_X()[:, :2], _yr()),
        r"X has 2 features, but MLPRegressor is expecting 3 features as input",
    ),
    "warm_start_n_features": (
        lambda m: _clf(m, warm_start=True).fit(_X(), _y()).fit(_X()[:, :2], _y()),
        r"X has 2 features, but MLPClassifier is expecting 3 features as input",
    ),
    # Empty X.
    "zero_rows": (
        lambda m: _clf(m).fit(np.empty((0, 3)), np.empty(0)),
        r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\) while a minimum of 1 is required",
    ),
    "zero_columns": (
        lambda m: _reg(m).fit(np.empty((30, 0)), _yr()),
        r"Found array with 0 feature\(s\) \(shape=\(30, 0\)\) while a minimum of 1 is required",
    ),
    "predict_zero_rows": (
        lambda m: _reg(m).fit(_X(), _yr()).predict(np.empty((0, 3))),
        r"Found array with 0 sample\(s\)",
    ),
    "sparse_zero_rows": (
        lambda m: _reg(m).fit(sp.csr_matrix((0, 3)), np.empty(0)),
        r"Found array with 0 sample\(s\)",
    ),
    # Non-numeric X.
    "string_X": (
        lambda m: _clf(m).fit(np.array([["a", "b", "c"]] * 30), _y()),
        r"could not convert string to float",
    ),
    "string_X_predict": (
        lambda m: _clf(m).fit(_X(), _y()).predict(np.array([["a", "b", "c"]] * 2)),
        r"dtype='numeric' is not compatible with arrays of bytes/strings",
    ),
    "dict_cell": (
        lambda m: _clf(m).fit(_dict_cell(), _y()),
        r"argument must be a string or a real number",
    ),
    "complex_X": (lambda m: _reg(m).fit(_X() + 1j, _yr()), r"Complex data not supported"),
    "complex_y": (lambda m: _reg(m).fit(_X(), _yr() + 1j), r"Complex data not supported"),
    # Dimensions.
    "1d_X": (lambda m: _clf(m).fit(_X()[:, 0], _y()), r"Expected 2D array, got 1D array instead"),
    "1d_X_predict": (
        lambda m: _reg(m).fit(_X(), _yr()).predict(_X()[0]),
        r"Reshape your data either using array.reshape",
    ),
    "3d_X": (lambda m: _reg(m).fit(_X()[:, :, None], _yr()), r"Found array with dim 3"),
    "n_samples_mismatch": (
        lambda m: _reg(m).fit(_X(), _yr()[:-1]),
        r"Found input variables with inconsistent numbers of samples: \[30, 29\]",
    ),
    "y_none": (
        lambda m: _reg(m).fit(_X(), None),
        r"requires y to be passed, but the target y is None",
    ),
    # Targets a classifier cannot use.
    "continuous_y_classifier": (lambda m: _clf(m).fit(_X(), _yr()), r"Unknown label type"),
    "multiclass_multioutput": (
        lambda m: _clf(m).fit(_X(), np.c_[np.arange(30) % 3, np.arange(30) % 2]),
        r"Multioutput target data is not supported with label binarization",
    ),
    # Parameters.
    "activation_foo": (
        lambda m: _clf(m, activation="foo").fit(_X(), _y()),
        r"The 'activation' parameter of MLPClassifier must be a str among",
    ),
    "solver_foo": (lambda m: _reg(m, solver="foo").fit(_X(), _yr()), r"'solver' parameter"),
    "loss_foo": (lambda m: _reg(m, loss="foo").fit(_X(), _yr()), r"'loss' parameter"),
    "alpha_negative": (
        lambda m: _clf(m, alpha=-1).fit(_X(), _y()),
        r"The 'alpha' parameter of MLPClassifier must be a float in the range \[0.0, inf\)",
    ),
    "max_iter_zero": (
        lambda m: m.MLPClassifier(max_iter=0).fit(_X(), _y()),
        r"'max_iter' parameter",
    ),
    "learning_rate_init_zero": (
        lambda m: _reg(m, learning_rate_init=0).fit(_X(), _yr()),
        r"'learning_rate_init' parameter",
    ),
    "batch_size_zero": (
        lambda m: _reg(m, batch_size=0).fit(_X(), _yr()),
        r"'batch_size' parameter",
    ),
    "validation_fraction_one": (
        lambda m: _clf(m, validation_fraction=1.0).fit(_X(), _y()),
        r"'validation_fraction' parameter",
    ),
    "beta_1_one": (lambda m: _reg(m, beta_1=1.0).fit(_X(), _yr()), r"'beta_1' parameter"),
    "hidden_layer_sizes_string": (
        lambda m: _clf(m, hidden_layer_sizes="10").fit(_X(), _y()),
        r"'hidden_layer_sizes' parameter",
    ),
    "hidden_layer_sizes_zero": (
        lambda m: _clf(m, hidden_layer_sizes=(0,)).fit(_X(), _y()),
        r"hidden_layer_sizes must be > 0, got \[0\]",
    ),
    "hidden_layer_sizes_negative": (
        lambda m: _reg(m, hidden_layer_sizes=(5, -1)).fit(_X(), _yr()),
        r"hidden_layer_sizes must be > 0, got \[5, -1\]",
    ),
    "partial_fit_bad_param": (
        lambda m: _reg(m, alpha=-1).partial_fit(_X(), _yr()),
        r"'alpha' parameter",
    ),
    # partial_fit.
    "partial_fit_without_classes": (
        lambda m: _clf(m).partial_fit(_X(), _y()),
        r"classes must be passed on the first call to partial_fit",
    ),
    "partial_fit_unseen_class": (
        lambda m: _clf(m).partial_fit(_X(), _y(), classes=[0, 1]).partial_fit(_X(), _y() + 1),
        r"`y` has classes not in `self.classes_`",
    ),
    "partial_fit_first_call_unseen_class": (
        lambda m: _clf(m).partial_fit(_X(), np.arange(30) % 3, classes=[0, 1]),
        r"`y` has classes not in `self.classes_`",
    ),
    "partial_fit_changed_classes": (
        lambda m: _clf(m)
        .partial_fit(_X(), _y(), classes=[0, 1])
        .partial_fit(_X(), _y(), classes=[0, 1, 2]),
        r"is not the same as on last call to partial_fit",
    ),
    "partial_fit_early_stopping_clf": (
        lambda m: _clf(m, early_stopping=True).partial_fit(_X(), _y(), classes=[0, 1]),
        r"partial_fit does not support early_stopping=True",
    ),
    "partial_fit_early_stopping_reg": (
        lambda m: _reg(m, early_stopping=True).partial_fit(_X(), _yr()),
        r"partial_fit does not support early_stopping=True",
    ),
    "lbfgs_partial_fit_clf": (
        lambda m: _clf(m, solver="lbfgs").partial_fit(_X(), _y(), classes=[0, 1]),
        r"has no attribute 'partial_fit'",
    ),
    # Sample weights.
    "sample_weight_all_zero": (
        lambda m: _reg(m).fit(_X(), _yr(), sample_weight=np.zeros(30)),
        r"Sample weights must contain at least one non-zero number",
    ),
    "sample_weight_all_zero_clf_partial_fit": (
        lambda m: _clf(m).partial_fit(_X(), _y(), sample_weight=np.zeros(30), classes=[0, 1]),
        r"Sample weights must contain at least one non-zero number",
    ),
    "sample_weight_wrong_length": (
        lambda m: _clf(m).fit(_X(), _y(), sample_weight=np.ones(5)),
        r"sample_weight.shape == \(5,\), expected \(30,\)!",
    ),
    "sample_weight_2d": (
        lambda m: _reg(m).fit(_X(), _yr(), sample_weight=np.ones((30, 1))),
        r"Sample weights must be 1D array or scalar",
    ),
    "sample_weight_nan": (
        lambda m: _reg(m).fit(_X(), _yr(), sample_weight=np.full(30, np.nan)),
        r"Input sample_weight contains NaN",
    ),
    # warm_start.
    "warm_start_different_classes": (
        lambda m: _clf(m, warm_start=True).fit(_X(), _y()).fit(_X(), _y() + 1),
        r"warm_start can only be used where `y` has the same classes as in the previous"
        r" call to fit",
    ),
    "warm_start_fewer_classes": (
        lambda m: _clf(m, warm_start=True).fit(_X(), np.arange(30) % 3).fit(_X(), _y()),
        r"warm_start can only be used where `y` has the same classes",
    ),
    # Early stopping on too little data.
    "validation_set_too_small": (
        lambda m: _reg(m, early_stopping=True, validation_fraction=0.01).fit(_X(), _yr()),
        r"The validation set is too small",
    ),
    # Not fitted.
    "unfitted_predict": (
        lambda m: _clf(m).predict(_X()),
        r"This MLPClassifier instance is not fitted yet",
    ),
    "unfitted_predict_proba": (lambda m: _clf(m).predict_proba(_X()), r"is not fitted yet"),
    "unfitted_predict_log_proba": (lambda m: _clf(m).predict_log_proba(_X()), r"is not fitted yet"),
    "unfitted_reg_predict": (
        lambda m: _reg(m).predict(_X()),
        r"This MLPRegressor instance is not fitted yet",
    ),
    "unfitted_score": (lambda m: _reg(m).score(_X(), _yr()), r"is not fitted yet"),
    # Divergence.
    "diverging_sgd": (
        lambda m: _reg(m, solver="sgd", learning_rate_init=1e10).fit(_X() * 1e10, _yr() * 1e10),
        r"Solver produced non-finite parameter weights",
    ),
    "diverging_sgd_float32": (
        lambda m: _reg(m, solver="sgd", learning_rate_init=1e10).fit(
            (_X() * 1e10).astype(np.float32), _yr() * 1e10
        ),
        r"Solver produced non-finite parameter weights",
    ),
    "diverging_sgd_partial_fit": (
        lambda m: _reg(m, solver="sgd", learning_rate_init=1e10, batch_size=5).partial_fit(
            _X() * 1e10, _yr() * 1e10
        ),
        r"Solver produced non-finite parameter weights",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT_CASES))
def test_bad_input_raises_like_sklearn(case):
    action, match = BAD_INPUT_CASES[case]
    _raises_like_sklearn(action, match)


def test_bad_input_exception_classes():
    """A few exception classes spelled out, not only compared."""
    e = _raises_like_sklearn(BAD_INPUT_CASES["activation_foo"][0])
    assert isinstance(e, InvalidParameterError)
    assert isinstance(e, ValueError) and isinstance(e, TypeError)
    assert type(_raises_like_sklearn(BAD_INPUT_CASES["unfitted_predict"][0])) is NotFittedError
    assert type(_raises_like_sklearn(BAD_INPUT_CASES["dict_cell"][0])) is TypeError
    assert type(_raises_like_sklearn(BAD_INPUT_CASES["hidden_layer_sizes_zero"][0])) is ValueError
    assert type(_raises_like_sklearn(BAD_INPUT_CASES["lbfgs_partial_fit_clf"][0])) is AttributeError


@pytest.mark.parametrize("rows", [1, 30])
def test_nonfinite_input_at_predict_reports_only_sklearns_error(rows):
    # The C core finds the NaN/inf as it reads the input; the estimator then raises
    # scikit-learn's own error, not chained to the core's, and a one-row call returns
    # its pooled workspace to the pool all the same.
    model = _clf(bpfast).fit(_X(), _y())
    reference = _clf(sk_nn).fit(_X(), _y())
    for value in (np.nan, np.inf, -np.inf):
        X = _with(_X()[:rows], rows - 1, 2, value)
        with pytest.raises(ValueError) as ours:
            model.predict_proba(X)
        with pytest.raises(ValueError) as theirs:
            reference.predict_proba(X)
        assert type(ours.value) is ValueError
        assert str(ours.value) == str(theirs.value)
        assert ours.value.__context__ is None and ours.value.__cause__ is None
    if rows == 1:
        assert [len(pool) for pool in model._predict_nets.values()] == [1]
    assert_array_equal(model.predict(_X()[:rows]), reference.predict(_X()[:rows]))


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is float64 here")
def test_input_finite_only_before_conversion_is_named_at_predict():
    # A long double input beyond float64's range passes scikit-learn's validation but
    # becomes infinite in the float64 computation: reported as such, not as garbage.
    model = _clf(bpfast).fit(_X(), _y())
    X = _X().astype(np.longdouble)
    X[4, 1] = np.longdouble(10) ** 400
    with pytest.raises(ValueError, match="not finite in float64"), np.errstate(over="ignore"):
        model.predict_proba(X)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_lbfgs_has_no_partial_fit(Est):
    # scikit-learn 1.9's MLPRegressor forgets to call _check_solver in its
    # available_if (it tests the bound method, which is always truthy), so its
    # lbfgs regressor exposes a partial_fit that runs a full L-BFGS fit. bpfast
    # hides partial_fit for lbfgs in both estimators, as the classifier does there.
    model = Est(solver="lbfgs")
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        model.partial_fit
    assert hasattr(Est(solver="sgd"), "partial_fit")
    assert hasattr(Est(solver="adam"), "partial_fit")


def test_wrong_shape_assigned_weights_raise_clear_errors():
    X, _, y = _data(n=30, d=3)
    for action in ("predict", "partial_fit"):
        for mod in (bpfast, sk_nn):
            model = mod.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
            model.partial_fit(X, y)
            model.coefs_ = [model.coefs_[0], model.coefs_[1][:2]]
            with pytest.raises(ValueError) as info:
                getattr(model, action)(*((X,) if action == "predict" else (X, y)))
            if mod is bpfast:
                expected = r"coefs_\[1\] has shape \(2, 1\), expected \(4, 1\)"
                assert re.search(expected, str(info.value))


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPRegressor(solver="sgd", learning_rate_init=1e10, max_iter=50),
        lambda: MLPRegressor(solver="adam", learning_rate_init=1e10, max_iter=50),
        lambda: MLPRegressor(solver="lbfgs", max_iter=50),
        lambda: MLPClassifier(solver="sgd", learning_rate_init=1e10, max_iter=50),
        lambda: MLPClassifier(solver="lbfgs", max_iter=50),
        lambda: MLPRegressor(
            solver="sgd", learning_rate_init=1e10, max_iter=50, early_stopping=True
        ),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_data_never_crashes_or_hangs(make, dtype):
    """Huge values either train or raise scikit-learn's ValueError, within seconds."""
    X, y_clf, y_reg = _data(n=60, d=4)
    model = make().set_params(random_state=0)
    y = y_clf if isinstance(model, MLPClassifier) else y_reg * 1e30
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model.fit((X * 1e30).astype(dtype), y)
        except ValueError as e:
            assert "non-finite parameter weights" in str(e)
        else:
            model.predict(X.astype(dtype))
    assert time.perf_counter() - start < 20


# ---------------------------------------------------------------- Ctrl-C


def _long_fit_setup(Est, solver, early_stopping=False, n_samples=3000):
    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, 40)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) if Est is MLPClassifier else X[:, 0] - X[:, 1]
    model = Est(
        hidden_layer_sizes=(256, 256),  # about 40 ms an epoch on one core
        solver=solver,
        max_iter=100_000,
        tol=0.0,
        n_iter_no_change=10**9,
        early_stopping=early_stopping,
        random_state=0,
    )
    return model, X, y


def _interrupted_fit(model, X, y, send_interrupt, delay=0.5, min_epochs=1):
    """Fit while another thread interrupts it; return the seconds from interrupt to return.

    The interrupt is sent ``delay`` seconds after fit starts, like a
    ``threading.Timer`` would, but not before ``min_epochs`` epochs have
    finished, so that the test stays meaningful on a heavily loaded machine too.
    """
    fired = []
    stop = threading.Event()

    def epochs_done():
        # With early stopping an epoch ends once its validation score is in.
        name = "validation_scores_" if model.early_stopping else "loss_curve_"
        return len(getattr(model, name, None) or ())

    def interrupter():
        start = time.perf_counter()
        if stop.wait(delay):
            return
        while epochs_done() < min_epochs and time.perf_counter() - start < 60:
            if stop.wait(0.005):
                return
        fired.append(time.perf_counter())
        send_interrupt()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # A safety net: if the interrupt were ignored, fail loudly instead of hanging.
    faulthandler.dump_traceback_later(180, exit=True)
    thread = threading.Thread(target=interrupter, daemon=True)
    try:
        with pytest.warns(UserWarning, match="Training interrupted by user.") as record:
            thread.start()
            try:
                model.fit(X, y)
            except KeyboardInterrupt:
                pytest.fail("KeyboardInterrupt escaped from fit")
            returned = time.perf_counter()
    finally:
        stop.set()
        thread.join()
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGINT, previous)
    assert fired, "fit returned before the interrupt was sent"
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert messages.count("Training interrupted by user.") == 1
    return returned - fired[0]


from _signals import SENDERS  # noqa: E402  (tests/_signals.py)


@pytest.mark.parametrize("send", SENDERS)
@pytest.mark.parametrize(
    "Est, solver, early_stopping",
    [
        (MLPClassifier, "adam", False),
        (MLPRegressor, "sgd", False),
        (MLPClassifier, "adam", True),
    ],
)
def test_ctrl_c_stops_quickly_and_leaves_a_usable_model(send, Est, solver, early_stopping):
    # On an idle machine fit returns within ~20 ms of the interrupt. Other
    # processes competing for the cores can stretch the C core's chunk of
    # mini-batches between two signal checks, so a slow attempt is retried
    # (up to 3 attempts); a Ctrl-C that is not honoured fails every attempt.
    latencies = []
    for _ in range(3):
        model, X, y = _long_fit_setup(Est, solver, early_stopping)
        latencies.append(_interrupted_fit(model, X, y, send))
        if latencies[-1] < 0.5:
            break
    assert min(latencies) < 0.5, f"fit returned {latencies} s after the interrupt"
    assert max(latencies) < 5.0, f"fit returned {latencies} s after the interrupt"
    # Some epochs ran, and the model is consistent and usable.
    assert model.n_iter_ >= 1
    assert len(model.loss_curve_) >= 1
    assert all(np.isfinite(w).all() for w in _all_params(model))
    for out in _outputs(model, X[:100]):
        assert out.shape[0] == 100
    if Est is MLPClassifier:
        assert model.score(X, y) > 0.6
        proba = model.predict_proba(X[:100])
        assert np.isfinite(proba).all()
        assert_allclose(proba.sum(axis=1), 1.0)
    # A later fit on the same estimator runs normally.
    model.set_params(max_iter=2, hidden_layer_sizes=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        model.fit(X[:200], y[:200])
    assert model.n_iter_ == 2


@pytest.mark.parametrize("send", SENDERS)
@pytest.mark.parametrize("Est, solver", [(MLPClassifier, "adam"), (MLPRegressor, "sgd")])
def test_ctrl_c_within_an_epoch(send, Est, solver):
    """An interrupt in the middle of a long epoch is honoured between mini-batches.

    One epoch over 60,000 rows takes about a second here, so returning within
    0.5 s requires the core to check for signals inside the epoch.
    """
    latencies = []
    for _ in range(3):
        model, X, y = _long_fit_setup(Est, solver, n_samples=60_000)
        latencies.append(_interrupted_fit(model, X, y, send, delay=0.2, min_epochs=0))
        if latencies[-1] < 0.5:
            break
    assert min(latencies) < 0.5, f"fit returned {latencies} s after the interrupt"
    assert max(latencies) < 5.0, f"fit returned {latencies} s after the interrupt"
    # The parameters are those after the last finished mini-batch: finite, usable.
    assert len(model.loss_curve_) == model.n_iter_
    assert all(np.isfinite(w).all() for w in _all_params(model))
    for out in _outputs(model, X[:100]):
        assert out.shape[0] == 100
    assert np.isfinite(_outputs(model, X[:100])[-1]).all()


@pytest.mark.parametrize("classes, y_dtype", [
    (np.arange(10), np.int64),                # the direct comparison
    (np.array([3, 7, 11], np.int32), np.uint8),
    (np.array([0, 1]), np.int64),             # binary: one column, through the binarizer
    (np.array([-1.0, 0.0, 2.0]), np.float64),  # float labels: through the binarizer
    (np.array(["a", "b", "c"]), str),          # string labels: through the binarizer
])
def test_partial_fit_indicator_matches_the_label_binarizer(classes, y_dtype):
    # partial_fit turns y into the label binarizer's indicator matrix; integer labels of a
    # multiclass model take a direct comparison, which must give the same matrix, for a
    # batch holding every class or only some, in any order.
    from sklearn.preprocessing import LabelBinarizer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    est = MLPClassifier((4,), random_state=0)
    est.partial_fit(X[:20], classes[np.arange(20) % len(classes)], classes=classes)
    binarizer = LabelBinarizer().fit(classes)
    for y in (rng.choice(classes, 40), classes[:1].repeat(40), classes[::-1].repeat(2)):
        y = y.astype(y_dtype)
        expected = binarizer.transform(y).astype(bool)
        got = est._indicator(y)
        assert got.dtype == bool and np.array_equal(got, expected)
    est.partial_fit(X, rng.choice(classes, 40).astype(y_dtype))
