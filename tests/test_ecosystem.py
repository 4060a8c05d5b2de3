"""bpfast among the tools around scikit-learn.

- meta-estimators and model selection: Pipeline, ColumnTransformer, clone,
  cross_val_score, GridSearchCV and RandomizedSearchCV with n_jobs=2 (loky),
  each compared with the serial or hand-written equivalent;
- inputs: pandas, polars and pyarrow frames, scipy.sparse CSR/CSC; float32 stays
  float32 end to end, and validation (feature names, NaN, feature count) is
  scikit-learn's own, message for message;
- threadpoolctl sees and limits the OpenMP runtime bpfast's core is linked to;
- fork-based process pools (multiprocessing, joblib's "multiprocessing"
  backend) do not hang after a threaded fit in the parent.

Dask is covered in test_dask.py.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import sys

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import loguniform
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import _get_feature_names

from bpfast import MLPClassifier, MLPRegressor, _base, _config, _core

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [MLPClassifier, MLPRegressor]
SKLEARN_TWIN = {MLPClassifier: SkMLPClassifier, MLPRegressor: SkMLPRegressor}


# --------------------------------------------------------------------- data


def _data(Est, n=150, d=6, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    s = X @ rng.randn(d, 3)
    y = s.argmax(axis=1) if Est is MLPClassifier else s[:, 0] + 0.1 * rng.randn(n)
    return X.astype(dtype), y


def _small(Est, **params):
    return Est(**{"hidden_layer_sizes": (8,), "max_iter": 20, "random_state": 0, **params})


def _outputs(model, X):
    if isinstance(model, (MLPClassifier, SkMLPClassifier)):
        return [model.predict(X), model.predict_proba(X)]
    return [model.predict(X)]


def _params(model):
    return list(model.coefs_) + list(model.intercepts_)


def _assert_same_model(a, b):
    for u, v in zip(_params(a), _params(b), strict=True):
        assert_array_equal(u, v)


# ----------------------------------------------------- meta-estimators, search


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_pipeline_is_the_steps_run_by_hand(Est):
    X, y = _data(Est)
    pipe = make_pipeline(StandardScaler(), _small(Est)).fit(X, y)
    scaler = StandardScaler().fit(X)
    by_hand = _small(Est).fit(scaler.transform(X), y)
    _assert_same_model(pipe[-1], by_hand)
    for a, b in zip(_outputs(pipe, X), _outputs(by_hand, scaler.transform(X))):
        assert_array_equal(a, b)
    assert pipe.score(X, y) == by_hand.score(scaler.transform(X), y)


@pytest.mark.parametrize("sparse_output", [False, True])
def test_column_transformer_matches_sklearn_mlp(sparse_output):
    """Mixed numeric/categorical frame -> ColumnTransformer -> MLP, dense or CSR.

    scikit-learn's own MLP in the same pipeline is the reference (same
    random_state, so the same trajectory up to rounding).
    """
    pd = pytest.importorskip("pandas")
    X, y = _data(MLPClassifier, n=200)
    rng = np.random.RandomState(1)
    df = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    df["color"] = np.array(["red", "green", "blue"])[(y + rng.randint(0, 2, len(y))) % 3]
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b", "c", "d"]), ("cat", OneHotEncoder(), ["color"])],
        sparse_threshold=1.0 if sparse_output else 0.0,
    )
    params = {"hidden_layer_sizes": (8,), "max_iter": 20, "random_state": 0}
    model = make_pipeline(clone(columns), MLPClassifier(**params)).fit(df, y)
    reference = make_pipeline(clone(columns), SkMLPClassifier(**params)).fit(df, y)
    assert sp.issparse(model[0].transform(df)) == sparse_output
    assert model[-1].n_features_in_ == 7
    assert_array_equal(model.predict(df), reference.predict(df))
    assert_allclose(model.predict_proba(df), reference.predict_proba(df), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_clone_keeps_parameters_and_drops_the_fit(Est):
    X, y = _data(Est)
    fitted = _small(Est, alpha=1e-3, learning_rate_init=0.01, n_threads=1).fit(X, y)
    copy = clone(fitted)
    assert type(copy) is Est
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "coefs_") and not hasattr(copy, "n_features_in_")
    _assert_same_model(copy.fit(X, y), fitted)
    # Nested parameters survive cloning a pipeline too.
    pipe = clone(make_pipeline(StandardScaler(), _small(Est, alpha=0.5)))
    assert pipe.get_params()[f"{Est.__name__.lower()}__alpha"] == 0.5


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_cross_val_score_serial_parallel_and_by_hand(Est):
    X, y = _data(Est)
    model = _small(Est)
    serial = cross_val_score(model, X, y, cv=3)
    with joblib.parallel_config(backend="loky"):
        parallel = cross_val_score(model, X, y, cv=3, n_jobs=2)
    cv = StratifiedKFold(3) if Est is MLPClassifier else KFold(3)
    by_hand = [
        _small(Est).fit(X[train], y[train]).score(X[test], y[test])
        for train, test in cv.split(X, y)
    ]
    assert_array_equal(serial, by_hand)
    assert_array_equal(parallel, serial)


def test_grid_search_n_jobs_2_loky_matches_serial():
    X, y = _data(MLPClassifier)
    pipe = make_pipeline(StandardScaler(), _small(MLPClassifier))
    grid = {
        "mlpclassifier__alpha": [1e-4, 1.0],
        "mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
    }
    serial = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    with joblib.parallel_config(backend="loky"):
        parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    scores = serial.cv_results_["mean_test_score"]
    assert len(set(scores)) > 1  # the grid makes a difference
    assert_array_equal(parallel.cv_results_["mean_test_score"], scores)
    assert_array_equal(parallel.cv_results_["std_test_score"], serial.cv_results_["std_test_score"])
    assert parallel.best_params_ == serial.best_params_
    _assert_same_model(parallel.best_estimator_[-1], serial.best_estimator_[-1])


def test_randomized_search_n_jobs_2_loky_matches_serial():
    X, y = _data(MLPRegressor)
    distributions = {
        "alpha": loguniform(1e-5, 1e-1),
        "learning_rate_init": loguniform(1e-3, 1e-1),
    }
    search = RandomizedSearchCV(
        _small(MLPRegressor), distributions, n_iter=4, cv=3, random_state=0
    )
    serial = clone(search).fit(X, y)
    with joblib.parallel_config(backend="loky"):
        parallel = clone(search).set_params(n_jobs=2).fit(X, y)
    assert [p["alpha"] for p in parallel.cv_results_["params"]] == [
        p["alpha"] for p in serial.cv_results_["params"]
    ]
    assert_array_equal(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert_array_equal(parallel.predict(X), serial.predict(X))


# ----------------------------------------------------------------- inputs

INPUT_KINDS = ["numpy", "pandas", "pandas-nullable", "polars", "pyarrow", "csr", "csc"]


def _as_input(kind, X):
    """X (a numpy array) in the container ``kind``, keeping its dtype."""
    columns = [f"f{i}" for i in range(X.shape[1])]
    if kind == "numpy":
        return X
    if kind == "csr":
        return sp.csr_matrix(X)
    if kind == "csc":
        return sp.csc_matrix(X)
    if kind.startswith("pandas"):
        pd = pytest.importorskip("pandas")
        df = pd.DataFrame(X, columns=columns)
        if kind == "pandas-nullable":  # pandas extension dtypes: Float32 / Float64
            df = df.astype("Float32" if X.dtype == np.float32 else "Float64")
        return df
    if kind == "polars":
        pl = pytest.importorskip("polars")
        return pl.DataFrame({c: X[:, i] for i, c in enumerate(columns)})
    if kind == "pyarrow":
        pa = pytest.importorskip("pyarrow")
        return pa.table({c: X[:, i] for i, c in enumerate(columns)})
    raise ValueError(kind)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_input_containers_keep_their_float_dtype(kind, dtype, Est):
    X, y = _data(Est, dtype=dtype)
    Xin = _as_input(kind, X)
    model = _small(Est).fit(Xin, y)
    assert all(w.dtype == dtype for w in _params(model))
    for out in _outputs(model, Xin)[-1:]:  # predict_proba / predict
        assert out.dtype == dtype
    # Feature names recorded exactly as scikit-learn's validate_data records them.
    names = _get_feature_names(Xin)
    if names is None:
        assert not hasattr(model, "feature_names_in_")
    else:
        assert_array_equal(model.feature_names_in_, names)
        sk = SKLEARN_TWIN[Est](max_iter=1).fit(Xin, y)
        assert_array_equal(model.feature_names_in_, sk.feature_names_in_)
    # A frame trains exactly as the numpy array of the same dtype does.
    reference = _small(Est).fit(X, y)
    if sp.issparse(Xin):  # the sparse kernels sum in another order
        tol = 1e-4 if dtype == np.float32 else 1e-10
        for a, b in zip(_params(model), _params(reference)):
            assert_allclose(a, b, rtol=0, atol=tol)
    else:
        _assert_same_model(model, reference)
        for a, b in zip(_outputs(model, Xin), _outputs(reference, X)):
            assert_array_equal(a, b)
    # partial_fit goes through the same validation.
    extra = {"classes": np.unique(y)} if Est is MLPClassifier else {}
    incremental = _small(Est).partial_fit(Xin, y, **extra).partial_fit(Xin, y)
    assert all(w.dtype == dtype for w in _params(incremental))


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_mixed_and_integer_frames_train_in_float64(kind):
    """Only frames whose columns are all float32 train in float32, as with numpy."""
    X, y = _data(MLPClassifier, dtype=np.float32)
    mixed = _as_input(kind, X)
    ints = _as_input(kind, (X * 4).astype(np.int64))
    if kind == "pandas":
        mixed = mixed.astype({"f0": np.float64})
    elif kind == "polars":
        import polars as pl

        mixed = mixed.with_columns(pl.col("f0").cast(pl.Float64))
    else:
        import pyarrow as pa

        mixed = mixed.set_column(0, "f0", mixed.column(0).cast(pa.float64()))
    for Xin in (mixed, ints):
        model = _small(MLPClassifier).fit(Xin, y)
        assert all(w.dtype == np.float64 for w in _params(model))
        assert SkMLPClassifier(max_iter=1).fit(Xin, y).coefs_[0].dtype == np.float64


def _raised(call):
    """(exception type, message) raised by ``call()``."""
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("kind", ["polars", "pyarrow", "pandas-nullable"])
def test_float32_frame_validation_is_sklearn_validation(kind):
    """Errors and warnings on float32 frames are scikit-learn's, word for word.

    The reference is scikit-learn's own MLPClassifier: on the same frame where
    the message does not name a dtype, and on the same data as a float32 pandas
    frame (which scikit-learn keeps in float32) where it does.
    """
    pd = pytest.importorskip("pandas")
    X, y = _data(MLPClassifier, dtype=np.float32)
    frame = _as_input(kind, X)
    ours = _small(MLPClassifier).fit(frame, y)
    theirs = SkMLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(frame, y)
    assert ours.coefs_[0].dtype == np.float32

    def with_value(value):
        bad = X.copy()
        bad[3, 1] = value
        return bad

    cases = {
        "fit NaN": lambda m: m.fit(_as_input(kind, with_value(np.nan)), y),
        "predict NaN": lambda m: m.predict(_as_input(kind, with_value(np.nan))),
        "missing column": lambda m: m.predict(_as_input(kind, X[:, :-1])),
        "numpy, too few features": lambda m: m.predict(X[:, :-1]),
        "renamed columns": lambda m: m.predict(_renamed(kind, frame)),
        "1 row, 1-D": lambda m: m.predict(X[0]),
    }
    for name, case in cases.items():
        fresh = name.startswith("fit")  # a failed fit must not touch the fitted models
        ours_now, theirs_now = (clone(ours), clone(theirs)) if fresh else (ours, theirs)
        assert _raised(lambda: case(ours_now)) == _raised(lambda: case(theirs_now)), name
    # Where the message names the dtype: float32, as for the same data in a
    # float32 pandas frame (scikit-learn keeps that one in float32).
    as_pandas = pd.DataFrame(X, columns=list(ours.feature_names_in_))
    theirs32 = clone(theirs).fit(as_pandas, y)
    inf_X = with_value(np.inf)
    inf_pandas = pd.DataFrame(inf_X, columns=list(ours.feature_names_in_))
    for ours_call, theirs_call in [
        (
            lambda: clone(ours).fit(_as_input(kind, inf_X), y),
            lambda: clone(theirs).fit(inf_pandas, y),
        ),
        (
            lambda: ours.predict(_as_input(kind, inf_X)),
            lambda: theirs32.predict(inf_pandas),
        ),
    ]:
        raised = _raised(ours_call)
        assert raised == _raised(theirs_call)
        assert "dtype('float32')" in raised[1]
    # Fitted with names, predicting without: scikit-learn's warning.
    with pytest.warns(UserWarning) as ours_warned:
        ours.predict(X)
    with pytest.warns(UserWarning) as theirs_warned:
        theirs.predict(X)
    assert [str(w.message) for w in ours_warned] == [str(w.message) for w in theirs_warned]


def _renamed(kind, frame):
    if kind == "polars":
        return frame.rename({"f0": "other"})
    if kind == "pyarrow":
        return frame.rename_columns(["other", *frame.column_names[1:]])
    return frame.rename(columns={"f0": "other"})


def test_polars_null_is_rejected_like_sklearn():
    pl = pytest.importorskip("polars")
    X, y = _data(MLPClassifier, dtype=np.float32)
    frame = pl.DataFrame({f"f{i}": X[:, i] for i in range(X.shape[1])})
    with_null = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("f1")).alias("f1")
    )
    assert with_null["f1"].null_count() == 1
    ours = _small(MLPClassifier).fit(frame, y)
    theirs = SkMLPClassifier(max_iter=1).fit(frame, y)
    assert _raised(lambda: ours.predict(with_null)) == _raised(lambda: theirs.predict(with_null))
    assert _raised(lambda: clone(ours).fit(with_null, y)) == _raised(
        lambda: clone(theirs).fit(with_null, y)
    )


# ---------------------------------------------------------- threadpoolctl

NETWORK_THREADS: list[int] = []  # n_threads of every core Network built (see the fixture)


@pytest.fixture
def network_threads(monkeypatch):
    """Record the thread count each fit/predict hands to the C core.

    Module-level, so a forked child inherits the spy and can read its own list.
    """
    real = _core.Network

    def spy(*args, **kwargs):
        NETWORK_THREADS.append(kwargs["n_threads"] if "n_threads" in kwargs else args[6])
        return real(*args, **kwargs)

    NETWORK_THREADS.clear()
    monkeypatch.setattr(_core, "Network", spy)
    yield NETWORK_THREADS
    NETWORK_THREADS.clear()


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _core_openmp_library():
    """Real path of the OpenMP runtime that bpfast's loaded _core extension uses.

    ``dlsym`` on the extension's handle resolves ``omp_get_max_threads`` the way
    the extension itself does (itself, then its dependencies); ``dladdr`` names
    the shared object the symbol lives in.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("dlsym/dladdr lookup written for Linux")
    if not _core.openmp_enabled():
        pytest.skip("bpfast built without OpenMP")
    core = ctypes.CDLL(_core.__file__, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    symbol = ctypes.cast(core.omp_get_max_threads, ctypes.c_void_p)
    info = _DlInfo()
    assert ctypes.CDLL(None).dladdr(symbol, ctypes.byref(info)) != 0
    return os.path.realpath(info.dli_fname.decode())


def test_threadpoolctl_lists_bpfast_openmp_runtime():
    from threadpoolctl import threadpool_info

    library = _core_openmp_library()
    openmp = {
        os.path.realpath(i["filepath"]): i for i in threadpool_info() if i["user_api"] == "openmp"
    }
    assert library in openmp, (library, list(openmp))
    assert openmp[library]["internal_api"] == "openmp"
    assert openmp[library]["num_threads"] == _core.max_threads()


def test_threadpool_limits_constrain_bpfast(network_threads):
    from threadpoolctl import threadpool_info, threadpool_limits

    library = _core_openmp_library()

    def runtime_threads():
        (info,) = [i for i in threadpool_info() if os.path.realpath(i["filepath"]) == library]
        return info["num_threads"]

    X, y = _data(MLPClassifier)
    with threadpool_limits(2, user_api="openmp"):  # 2 whatever the machine
        assert _core.max_threads() == 2
        _small(MLPClassifier).fit(X, y).predict(X)
        assert network_threads and set(network_threads) == {2}
        network_threads.clear()
        with threadpool_limits(1, user_api="openmp"):
            assert runtime_threads() == 1
            assert _core.max_threads() == 1
            _small(MLPClassifier).fit(X, y).predict(X)
            _small(MLPRegressor, solver="lbfgs").fit(X, X[:, 0]).predict(X)
            assert network_threads and set(network_threads) == {1}
            network_threads.clear()
            # An explicit n_threads is the user's choice and wins over the default.
            _small(MLPClassifier, n_threads=2).fit(X, y)
            assert set(network_threads) == {2}
        assert _core.max_threads() == 2 and runtime_threads() == 2


# ------------------------------------------------------------------- fork

_FORK_TIMEOUT = 60  # seconds; a hang fails the test instead of blocking CI


@pytest.fixture
def hang_guard():
    """Last line of defence: dump every thread's stack and exit if still running."""
    faulthandler.dump_traceback_later(3 * _FORK_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _big_data():
    """2000 x 64: with hidden (256, 256) the second layer's mini-batch products
    (200 x 256 x 256) are shared between threads, so n_threads=2 runs OpenMP."""
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 64)
    y = (X[:, :8].sum(axis=1) > 0).astype(int)
    return X, y


def _big_model(**params):
    return MLPClassifier(
        **{"hidden_layer_sizes": (256, 256), "max_iter": 1, "random_state": 0, **params}
    )


def _fit_in_child(seed):
    """Run in a forked child: fit and predict, asking for 2 threads."""
    X, y = _big_data()
    NETWORK_THREADS.clear()
    model = _big_model(n_threads=2, random_state=seed).fit(X[:400], y[:400])
    proba = model.predict_proba(X[:300])
    return _config.forked_child(), list(NETWORK_THREADS), proba


def _threaded_parent_fit(network_threads):
    X, y = _big_data()
    _big_model(n_threads=2).fit(X, y)
    assert set(network_threads) == {2}  # the parent really ran OpenMP regions


def _expected_child_results(seeds):
    X, y = _big_data()
    return [
        _big_model(n_threads=2, random_state=s).fit(X[:400], y[:400]).predict_proba(X[:300])
        for s in seeds
    ]


def _check_child_results(results, seeds):
    for (forked, threads, proba), expected in zip(results, _expected_child_results(seeds)):
        assert forked
        assert threads and set(threads) == {1}  # fit and predict ran single-threaded
        assert_array_equal(proba, expected)  # same numbers as the threaded parent


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_from_c_is_seen_as_a_forked_child(hang_guard):
    # A prefork server (uWSGI, say) forks with libc's fork(), which runs none of
    # Python's os.register_at_fork hooks; the child must still run single-threaded.
    from bpfast import _config

    assert not _config.forked_child()
    read, write = os.pipe()
    pid = ctypes.CDLL(None).fork()
    if pid == 0:   # the child: report and leave at once, running nothing else
        os.write(write, b"1" if _config.forked_child() else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert not _config.forked_child()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_pool_after_threaded_fit_does_not_hang(network_threads, hang_guard):
    _threaded_parent_fit(network_threads)
    seeds = [0, 1, 2]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_fit_in_child, seeds).get(timeout=_FORK_TIMEOUT)
    _check_child_results(results, seeds)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_joblib_multiprocessing_backend_after_threaded_fit(
    network_threads, hang_guard, monkeypatch
):
    # joblib's multiprocessing backend uses the default start method, which is
    # fork on Linux before Python 3.14; make it fork everywhere for this test.
    monkeypatch.setattr(joblib.parallel, "DEFAULT_MP_CONTEXT", multiprocessing.get_context("fork"))
    _threaded_parent_fit(network_threads)
    seeds = [0, 1]
    with joblib.parallel_backend("multiprocessing"):
        results = joblib.Parallel(n_jobs=2, timeout=_FORK_TIMEOUT)(
            joblib.delayed(_fit_in_child)(s) for s in seeds
        )
    _check_child_results(results, seeds)
    # And what users actually run that way: a parallel search.
    X, y = _data(MLPClassifier)
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(4,), (16,)]}
    serial = GridSearchCV(_small(MLPClassifier), grid, cv=3).fit(X, y)
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        forked = GridSearchCV(_small(MLPClassifier), grid, cv=3).fit(X, y)
    assert_array_equal(forked.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])


def test_resolved_threads_in_forked_child_is_one(monkeypatch):
    """The rule the fork tests rely on, without forking."""
    assert _base._resolve_n_threads(2) == 2
    monkeypatch.setattr(_base, "forked_child", lambda: True)
    assert _base._resolve_n_threads(2) == 1
    assert _base._resolve_n_threads(None) == 1
