"""Conversions to and from scikit-learn's MLPs, and ONNX export through skl2onnx."""

from __future__ import annotations

import functools
import os
import runpy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bpfast
from bpfast import MLPClassifier, MLPRegressor
from bpfast._fitted import TRAINING_ATTRIBUTES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "onnx_export.py")


def _data(kind, n=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    s = X @ rng.normal(size=(4, 3))
    y = {
        "binary": (s[:, 0] > 0).astype(int),
        "multiclass": np.array([3, 7, 11])[s.argmax(axis=1)],
        "multilabel": (s > 0).astype(int),
        "strings": np.array(["cat", "dog", "emu"])[s.argmax(axis=1)],
        "regression": s[:, 0],
        "multioutput": s[:, :2],
        "poisson": rng.poisson(np.exp(0.5 * np.tanh(s[:, 0]))).astype(np.float64),
    }[kind]
    return X, y


CLASSIFICATION = ["binary", "multiclass", "multilabel", "strings"]
REGRESSION = ["regression", "multioutput", "poisson"]


def _estimator(library, kind, **params):
    classifier = kind in CLASSIFICATION
    cls = {
        ("bpfast", True): MLPClassifier,
        ("bpfast", False): MLPRegressor,
        ("sklearn", True): SkMLPClassifier,
        ("sklearn", False): SkMLPRegressor,
    }[library, classifier]
    if kind == "poisson":
        params.setdefault("loss", "poisson")
    return cls(hidden_layer_sizes=(6, 4), max_iter=10, random_state=0, **params)


@functools.lru_cache(maxsize=None)
def _fitted_bpfast(kind, dtype="float64", solver="adam"):
    X, y = _data(kind)
    X = X.astype(dtype)
    return _estimator("bpfast", kind, solver=solver).fit(X, y), X, y


def _outputs(est, X):
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.predict(X)


# ----------------------------------------------------------------- to_sklearn


@pytest.mark.parametrize("kind", CLASSIFICATION + REGRESSION)
def test_to_sklearn_predicts_as_bpfast(kind):
    est, X, _ = _fitted_bpfast(kind)
    converted = est.to_sklearn()
    assert type(converted) is (SkMLPClassifier if kind in CLASSIFICATION else SkMLPRegressor)
    params = est.get_params()
    del params["n_threads"], params["progress"]
    assert converted.get_params() == params
    assert_allclose(_outputs(converted, X), _outputs(est, X), rtol=1e-12, atol=1e-14)
    if kind in CLASSIFICATION:
        assert_array_equal(converted.predict(X), est.predict(X))
    for name in TRAINING_ATTRIBUTES:
        assert getattr(converted, name) == getattr(est, name)


def test_to_sklearn_of_a_float32_model_predicts_in_float32():
    est, X, _ = _fitted_bpfast("multiclass", "float32")
    converted = est.to_sklearn()
    assert converted.coefs_[0].dtype == np.float32
    proba = converted.predict_proba(X)
    assert proba.dtype == np.float32
    assert_allclose(proba, est.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_to_sklearn_keeps_feature_names_and_shares_no_data():
    X, y = _data("strings")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = _estimator("bpfast", "strings").fit(frame, y)
    converted = est.to_sklearn()
    assert_array_equal(converted.feature_names_in_, est.feature_names_in_)
    assert converted.classes_ is converted._label_binarizer.classes_
    assert_array_equal(converted.predict(frame), est.predict(frame))
    before = est.predict_proba(frame)
    converted.coefs_[0][...] = 0.0
    converted.classes_[0] = "zzz"
    assert_array_equal(est.predict_proba(frame), before)
    assert est.classes_[0] == "cat"


def test_to_sklearn_of_an_unfitted_estimator_is_unfitted():
    converted = MLPRegressor(loss="poisson", alpha=0.5, n_threads=2).to_sklearn()
    assert type(converted) is SkMLPRegressor
    assert converted.get_params() == SkMLPRegressor(loss="poisson", alpha=0.5).get_params()
    assert not hasattr(converted, "coefs_")


def test_to_sklearn_keeps_early_stopping_best_weights_current():
    X, y = _data("strings")
    est = _estimator("bpfast", "strings", early_stopping=True).fit(X, y)
    converted = est.to_sklearn()
    assert converted._best_coefs is converted.coefs_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["multiclass", "multioutput"])
def test_sklearn_continues_training_where_bpfast_stopped(kind, solver):
    X, y = _data(kind)
    est = _estimator("bpfast", kind, solver=solver, learning_rate="invscaling")
    for _ in range(3):
        est.partial_fit(X, y, **({"classes": np.unique(y)} if kind == "multiclass" else {}))
    converted = est.to_sklearn()
    for _ in range(2):
        est.partial_fit(X, y)
        converted.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, converted.coefs_ + converted.intercepts_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert_allclose(est.loss_curve_, converted.loss_curve_, rtol=1e-9)


# --------------------------------------------------------------- from_sklearn


@pytest.mark.parametrize("kind", CLASSIFICATION + REGRESSION)
def test_from_sklearn_predicts_as_sklearn(kind):
    X, y = _data(kind)
    sk = _estimator("sklearn", kind).fit(X, y)
    converted = bpfast.from_sklearn(sk)
    assert type(converted) is (MLPClassifier if kind in CLASSIFICATION else MLPRegressor)
    assert converted.get_params() == {**sk.get_params(), "n_threads": None, "progress": False}
    assert_allclose(_outputs(converted, X), _outputs(sk, X), rtol=1e-12, atol=1e-14)
    if kind in CLASSIFICATION:
        assert_array_equal(converted.predict(X), sk.predict(X))


def test_from_sklearn_of_a_float32_model():
    X, y = _data("regression")
    sk = _estimator("sklearn", "regression").fit(X.astype(np.float32), y)
    converted = bpfast.from_sklearn(sk)
    prediction = converted.predict(X.astype(np.float32))
    assert prediction.dtype == np.float32
    assert_allclose(prediction, sk.predict(X.astype(np.float32)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_bpfast_continues_training_where_sklearn_stopped(solver):
    X, y = _data("strings")
    sk = _estimator("sklearn", "strings", solver=solver)
    for _ in range(3):
        sk.partial_fit(X, y, classes=np.unique(y))
    converted = bpfast.from_sklearn(sk)
    for _ in range(2):
        sk.partial_fit(X, y)
        converted.partial_fit(X, y)
    for a, b in zip(sk.coefs_ + sk.intercepts_, converted.coefs_ + converted.intercepts_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["strings", "poisson"])
def test_round_trip_through_sklearn_is_exact(kind):
    est, X, _ = _fitted_bpfast(kind, solver="sgd")
    back = bpfast.from_sklearn(est.to_sklearn())
    assert_array_equal(_outputs(back, X), _outputs(est, X))
    assert_array_equal(back._optimizer_state, est._optimizer_state)


def test_from_sklearn_refuses_what_it_cannot_convert():
    with pytest.raises(TypeError, match="not StandardScaler"):
        bpfast.from_sklearn(StandardScaler())

    class WithExtra(SkMLPClassifier):
        def __init__(self, extra=0, max_iter=200):
            super().__init__(max_iter=max_iter)
            self.extra = extra

    assert isinstance(bpfast.from_sklearn(WithExtra()), MLPClassifier)
    with pytest.raises(ValueError, match="no parameter.*extra"):
        bpfast.from_sklearn(WithExtra(extra=1))


# ------------------------------------------------------------------------ ONNX


def test_importing_bpfast_does_not_import_optional_packages(tmp_path):
    code = (
        "import sys, bpfast; "
        "print(sorted(m for m in ('skl2onnx', 'onnx', 'onnxruntime', 'skops') if m in sys.modules))"
    )
    # run outside the checkout, so the installed package is imported, not the sources
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]"


def _run_onnx(model, X):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.fixture(scope="module")
def to_onnx():
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    import bpfast.onnx
    from skl2onnx import to_onnx

    bpfast.onnx.register()
    return to_onnx


@pytest.mark.parametrize("kind", CLASSIFICATION)
def test_onnx_classifier_reproduces_predict_proba(kind, to_onnx):
    est, X, _ = _fitted_bpfast(kind)
    X32 = X.astype(np.float32)
    onx = to_onnx(est, X32[:1], options={MLPClassifier: {"zipmap": False}})
    labels, proba = _run_onnx(onx, X32)
    assert_allclose(proba, est.predict_proba(X32), rtol=1e-5, atol=1e-5)
    assert_array_equal(labels, est.predict(X32))


@pytest.mark.parametrize("kind", REGRESSION)
def test_onnx_regressor_reproduces_predict(kind, to_onnx):
    est, X, _ = _fitted_bpfast(kind)
    X32 = X.astype(np.float32)
    (prediction,) = _run_onnx(to_onnx(est, X32[:1]), X32)
    assert prediction.shape == (len(X), est.n_outputs_)
    assert_allclose(prediction, est.predict(X32).reshape(len(X), -1), rtol=1e-5, atol=1e-5)


def test_onnx_in_double_precision(to_onnx):
    est, X, _ = _fitted_bpfast("multiclass")
    _, proba = _run_onnx(to_onnx(est, X[:1], options={MLPClassifier: {"zipmap": False}}), X)
    assert proba.dtype == np.float64
    assert_allclose(proba, est.predict_proba(X), rtol=1e-12, atol=1e-14)


def test_onnx_of_a_pipeline_and_a_float32_model(to_onnx):
    X, y = _data("strings")
    X32 = X.astype(np.float32)
    pipeline = make_pipeline(StandardScaler(), _estimator("bpfast", "strings")).fit(X32, y)
    assert pipeline[-1].coefs_[0].dtype == np.float32
    onx = to_onnx(pipeline, X32[:1], options={MLPClassifier: {"zipmap": False}})
    labels, proba = _run_onnx(onx, X32)
    assert_allclose(proba, pipeline.predict_proba(X32), rtol=1e-5, atol=1e-5)
    assert_array_equal(labels, pipeline.predict(X32))


def test_onnx_through_to_sklearn_needs_no_registration(to_onnx):
    est, X, _ = _fitted_bpfast("binary")
    X32 = X.astype(np.float32)
    _, proba = _run_onnx(to_onnx(est.to_sklearn(), X32[:1], options={"zipmap": False}), X32)
    assert_allclose(proba, est.predict_proba(X32), rtol=1e-5, atol=1e-5)


def test_onnx_export_example_runs(to_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(EXAMPLE, run_name="__main__")
    out = capsys.readouterr().out
    assert "labels equal: True" in out
    assert float(out.rsplit(":", 1)[1]) < 1e-5
    assert (tmp_path / "digits_mlp.onnx").exists()
