"""Overflow and saturation, compared with scikit-learn on the same weights.

* Saturated logistic/softmax outputs (huge weights, huge inputs): predict_proba
  has no NaN for finite pre-activations and equals scikit-learn's.
* The log-loss of saturated, wrong predictions is clipped as scikit-learn clips it
  (eps of the dtype), so loss_ is finite and equal to scikit-learn's.
* exp output (poisson) overflows to inf exactly where scikit-learn's does.
* Diverging training raises scikit-learn's "Solver produced non-finite parameter
  weights" ValueError exactly when scikit-learn does.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sk
from numpy.testing import assert_allclose, assert_array_equal

import bpfast

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
DTYPES = [np.float64, np.float32]
# Weight scales that saturate the outputs while keeping every pre-activation (and
# every product inside it) finite: beyond that, the sign of an overflowed sum depends
# on summation order, in numpy's BLAS as much as in bpfast. Bounded hidden units
# (tanh, logistic) stop the growth at each layer; identity and relu compound it
# (three weight layers: scale**3).
WEIGHT_SCALES = {
    (np.float64, True): [1e3, 1e50, 1e150],
    (np.float32, True): [1e3, 1e9, 1e15],
    (np.float64, False): [1e3, 1e30, 1e90],
    (np.float32, False): [1e3, 1e6, 1e11],
}
INPUT_SCALES = {np.float64: [1e100, 1e150], np.float32: [1e15, 1e30]}


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-6)


def _targets(kind, n):
    i = np.arange(n)
    if kind == "binary":
        return i % 2
    if kind == "multiclass":
        return i % 3
    return np.stack([i % 2, (i // 2) % 2], axis=1)   # multilabel: logistic outputs


def _pair(Est_name, X, y, **params):
    """A bpfast and a scikit-learn estimator fitted alike (then given equal weights)."""
    params = {"max_iter": 1, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(bpfast, Est_name)(**params).fit(X, y)
        theirs = getattr(sk, Est_name)(**params).fit(X, y)
    return ours, theirs


def _assign(models, coefs, intercepts):
    for m in models:
        m.coefs_ = [w.copy() for w in coefs]
        m.intercepts_ = [b.copy() for b in intercepts]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saturated_probabilities_are_finite_and_match_sklearn(dtype, kind, activation):
    rng = np.random.RandomState(0)
    X = rng.randn(40, 5).astype(dtype)
    y = _targets(kind, 40)
    ours, theirs = _pair("MLPClassifier", X, y, hidden_layer_sizes=(4, 3), activation=activation)
    base_w = [w.astype(np.float64) for w in ours.coefs_]
    base_b = [b.astype(np.float64) for b in ours.intercepts_]
    for scale in WEIGHT_SCALES[dtype, activation in ("tanh", "logistic")]:
        _assign((ours, theirs), [(w * scale).astype(dtype) for w in base_w],
                [(b * scale).astype(dtype) for b in base_b])
        with np.errstate(over="ignore", under="ignore"):
            p_ours = ours.predict_proba(X)
            p_theirs = theirs.predict_proba(X)
            labels_theirs = theirs.predict(X)
        assert p_ours.dtype == dtype
        assert not np.isnan(p_ours).any(), f"NaN in predict_proba at weight scale {scale:g}"
        assert ((p_ours >= 0) & (p_ours <= 1)).all()
        if kind != "multilabel":
            assert_allclose(p_ours.sum(axis=1), 1.0, **_tol(dtype))
        assert_allclose(p_ours, p_theirs, **_tol(dtype))
        assert_array_equal(ours.predict(X), labels_theirs)
    # At the largest scale most outputs are saturated (the point of the test).
    assert (np.minimum(p_ours, 1 - p_ours) < 1e-6).mean() > 0.5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_huge_finite_inputs_give_finite_probabilities(dtype, kind, activation):
    rng = np.random.RandomState(1)
    X = rng.randn(40, 5).astype(dtype)
    y = _targets(kind, 40)
    ours, theirs = _pair("MLPClassifier", X, y, hidden_layer_sizes=(4,), activation=activation)
    _assign((theirs,), ours.coefs_, ours.intercepts_)
    for scale in INPUT_SCALES[dtype]:
        Xh = (X.astype(np.float64) * scale).astype(dtype)
        assert np.isfinite(Xh).all()
        with np.errstate(over="ignore", under="ignore"):
            p_ours = ours.predict_proba(Xh)
            p_theirs = theirs.predict_proba(Xh)
        assert not np.isnan(p_ours).any()
        assert_allclose(p_ours.sum(axis=1), 1.0, **_tol(dtype))
        assert_allclose(p_ours, p_theirs, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_log_loss_of_saturated_wrong_predictions_is_clipped_like_sklearn(dtype, kind):
    """One full-batch SGD step on weights that saturate every output: the loss is
    evaluated on those weights, with predictions clipped to [eps, 1 - eps]."""
    rng = np.random.RandomState(2)
    X = rng.randn(30, 4).astype(dtype)
    y = _targets(kind, 30)
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(3,), activation="tanh", solver="sgd", batch_size=30,
                  learning_rate_init=1e-12, momentum=0.0, alpha=0.0, random_state=0)
    models = []
    for mod in (bpfast, sk):
        m = mod.MLPClassifier(**params)
        m.partial_fit(X, y, classes=classes)
        models.append(m)
    big = dtype(1e15)
    coefs = [w * big for w in models[0].coefs_]
    intercepts = [b * big for b in models[0].intercepts_]
    _assign(models, coefs, intercepts)
    with np.errstate(over="ignore", under="ignore"):
        proba = models[0].predict_proba(X)
        for m in models:
            m.partial_fit(X, y)
    ours, theirs = models
    assert np.isin(proba, [0.0, 1.0]).all()        # fully saturated outputs ...
    wrong = np.abs(proba - (y if kind == "multilabel" else np.eye(len(classes))[y]))
    assert wrong.max() == 1.0                       # ... some of them wrong
    eps = np.finfo(dtype).eps
    assert np.isfinite(ours.loss_)
    assert ours.loss_ <= -np.log(eps) * (2 if kind == "multilabel" else 1) + 1e-9
    assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12 if dtype == np.float64 else 1e-6)
    for w in ours.coefs_ + ours.intercepts_:
        assert np.isfinite(w).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_exp_output_overflows_like_sklearn(dtype):
    rng = np.random.RandomState(3)
    X = rng.randn(40, 3).astype(dtype)
    y = np.abs(X[:, 0]) + 0.1
    ours, theirs = _pair("MLPRegressor", X, y, loss="poisson", hidden_layer_sizes=(4,),
                         activation="tanh")
    # tanh hidden units are bounded, so the output pre-activation is at most a few
    # hundred: exp of it spans 0 ... 1e300 (float64) or overflows to inf (float32).
    scale = 200.0
    _assign((ours, theirs), [w * dtype(scale) for w in ours.coefs_],
            [b * dtype(scale) for b in ours.intercepts_])
    with np.errstate(over="ignore", under="ignore"):
        pred_ours = ours.predict(X)
        pred_theirs = theirs.predict(X)
    assert not np.isnan(pred_ours).any()
    assert_array_equal(np.isinf(pred_ours), np.isinf(pred_theirs))
    finite = np.isfinite(pred_theirs)
    assert_allclose(pred_ours[finite], pred_theirs[finite],
                    rtol=1e-9 if dtype == np.float64 else 1e-3)


DIVERGING = [
    ("MLPRegressor", dict(solver="sgd", learning_rate_init=10.0), 1e6, "reg"),
    ("MLPRegressor", dict(solver="sgd", learning_rate_init=1.0), 1e3, "reg"),
    ("MLPClassifier", dict(solver="sgd", learning_rate_init=1e10), 1e6, "clf"),
    ("MLPRegressor", dict(solver="sgd"), 1.0, "huge_y"),
    # adam's normalised steps keep these weights finite: no error, as in scikit-learn
    ("MLPRegressor", dict(solver="adam", learning_rate_init=10.0), 1e6, "reg"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, params, x_scale, target", DIVERGING)
def test_diverging_training_raises_sklearns_error(dtype, name, params, x_scale, target):
    rng = np.random.RandomState(0)
    X0 = rng.randn(50, 4)
    X = (X0 * x_scale).astype(dtype)
    y = {"reg": X0 @ rng.randn(4), "clf": np.arange(50) % 3,
         "huge_y": X0 @ rng.randn(4) * 1e200}[target]
    outcomes = []
    for mod in (bpfast, sk):
        model = getattr(mod, name)(hidden_layer_sizes=(8,), max_iter=20, random_state=0, **params)
        start = time.perf_counter()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                model.fit(X, y)
                outcomes.append("fitted")
            except ValueError as exc:
                outcomes.append(str(exc))
        assert time.perf_counter() - start < 30
    ours, theirs = outcomes
    assert ours == theirs
    if theirs != "fitted":
        assert theirs.startswith("Solver produced non-finite parameter weights.")


@pytest.mark.parametrize("dtype", DTYPES)
def test_diverging_early_stopping_ends_on_the_initial_weights(dtype):
    """Every validation score NaN: the fit keeps the weights it started from, as scikit-learn's.

    The only path on which a fit reads the copy of its initial weights.
    """
    rng = np.random.RandomState(0)
    X0 = rng.randn(60, 4)
    X = (X0 * 1e6).astype(dtype)
    y = X0 @ rng.randn(4)
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=10.0, batch_size=4,
                  early_stopping=True, n_iter_no_change=3, max_iter=6, random_state=0)
    models = []
    for mod in (bpfast, sk):
        model = mod.MLPRegressor(**params)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            model.fit(X, y)
        models.append(model)
    ours, theirs = models
    assert len(theirs.validation_scores_) == params["max_iter"]
    assert np.isnan(theirs.validation_scores_).all()
    assert np.isnan(ours.validation_scores_).all()
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == b.dtype == dtype
        assert_array_equal(a, b)
    assert_allclose(ours.predict(X0), theirs.predict(X0),
                    rtol=1e-12 if dtype == np.float64 else 1e-5)
