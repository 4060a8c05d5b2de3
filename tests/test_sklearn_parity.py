"""Numerical agreement of bpfast's estimators with scikit-learn's MLP.

bpfast draws its initial weights, its shuffles and its early-stopping split from
the estimator's RandomState in exactly scikit-learn's order, and performs the same
arithmetic per mini-batch, so with the same ``random_state`` both libraries follow
the same trajectory up to floating-point rounding (different summation orders in
the matrix products). The tolerances below reflect that: 1e-10 for a single step,
looser for many epochs where rounding differences are propagated (and amplified)
through the training trajectory.
"""

from __future__ import annotations

import platform
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import bpfast._layout
from bpfast import MLPClassifier, MLPRegressor

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
KINDS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]


def make_data(kind, n, seed=0, n_features=5):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    s = X @ rng.normal(size=(n_features, 3)) + 0.3 * rng.normal(size=(n, 3))
    if kind == "binary":
        y = np.where(s[:, 0] > 0.2, "yes", "no")
    elif kind == "multiclass":
        y = np.array([3, 7, 11])[s.argmax(axis=1)]
    elif kind == "multilabel":
        y = (s > 0).astype(int)
    elif kind == "regression":
        y = np.sin(s[:, 0]) + 0.5 * s[:, 1]
    elif kind == "multioutput":
        y = np.c_[np.sin(s[:, 0]), 0.3 * s[:, 1] * s[:, 2]]
    elif kind == "poisson":
        y = rng.poisson(np.exp(0.7 * np.tanh(s[:, 0]))).astype(np.float64)
    else:
        raise ValueError(kind)
    return X, y


def estimators(kind):
    """(scikit-learn class, bpfast class, extra constructor parameters)."""
    if kind in ("binary", "multiclass", "multilabel"):
        return SkMLPClassifier, MLPClassifier, {}
    if kind == "poisson":
        return SkMLPRegressor, MLPRegressor, {"loss": "poisson"}
    return SkMLPRegressor, MLPRegressor, {}


def make_weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.1, 3.0, n)


def fit_both(kind, X, y, sample_weight=None, **params):
    Sk, Bp, extra = estimators(kind)
    params = {**extra, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = Sk(**params).fit(X, y, sample_weight=sample_weight)
        bp = Bp(**params).fit(X, y, sample_weight=sample_weight)
    return sk, bp


def assert_weights_close(bp, sk, rtol, atol):
    assert len(bp.coefs_) == len(sk.coefs_)
    for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def outputs(est, X):
    """The continuous outputs: probabilities for classifiers, predictions otherwise."""
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    return est.predict(X)


# ------------------------------------------------------------- one full-batch SGD step

N_STEP = 40


def step_params(activation, alpha, learning_rate_init):
    return dict(
        hidden_layer_sizes=(6, 4),
        activation=activation,
        solver="sgd",
        momentum=0.0,
        shuffle=False,
        batch_size=N_STEP,
        max_iter=1,
        learning_rate_init=learning_rate_init,
        alpha=alpha,
        random_state=0,
    )


@pytest.mark.parametrize("alpha", [0.0, 1e-2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_one_full_batch_sgd_step(kind, activation, alpha):
    X, y = make_data(kind, N_STEP)

    # A step of length 1e-300 leaves every weight bitwise at its initial value: this
    # exposes the initial weights, which must be identical (same RandomState draws).
    sk0, bp0 = fit_both(kind, X, y, **step_params(activation, alpha, 1e-300))
    for a, b in zip(bp0.coefs_ + bp0.intercepts_, sk0.coefs_ + sk0.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert bp0.loss_ == pytest.approx(sk0.loss_, rel=1e-12)

    # exp outputs of an untrained network can be large: a shorter step keeps them finite
    learning_rate = 0.01 if kind == "poisson" else 0.1
    sk, bp = fit_both(kind, X, y, **step_params(activation, alpha, learning_rate))
    assert bp.n_iter_ == sk.n_iter_ == 1
    assert bp.t_ == sk.t_ == N_STEP
    assert bp.out_activation_ == sk.out_activation_
    # loss_ is the loss at the initial weights (before the step)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-10)
    assert bp.loss_ == pytest.approx(sk0.loss_, rel=1e-10)
    assert_weights_close(bp, sk, rtol=1e-10, atol=1e-13)
    # The step itself (w1 - w0) is small against the weights: check it on its own.
    for a1, b1, w0 in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_,
                          sk0.coefs_ + sk0.intercepts_):
        np.testing.assert_allclose(a1 - w0, b1 - w0, rtol=1e-8, atol=1e-15)
    assert max(np.abs(c - c0).max() for c, c0 in zip(sk.coefs_, sk0.coefs_)) > 1e-4
    out_bp, out_sk = outputs(bp, X), outputs(sk, X)
    assert np.isfinite(out_sk).all()
    np.testing.assert_allclose(out_bp, out_sk, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [7, 1 << 15])
def test_initial_weights_drawn_in_chunks_are_scikit_learns(monkeypatch, dtype, chunk):
    # bpfast draws a layer's weights a chunk at a time; a chunk of 7 splits every
    # layer and bias vector at odd places, the default chunk splits the 200 x 300 layer.
    monkeypatch.setattr(bpfast._layout, "_DRAW_CHUNK", chunk)
    X, y = make_data("multiclass", N_STEP, n_features=200)
    X = X.astype(dtype)
    params = dict(step_params("tanh", 0.0, 1e-300), hidden_layer_sizes=(300, 9))
    sk, bp = fit_both("multiclass", X, y, **params)
    for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- many epochs, shuffled

N_EPOCH_ROWS = 200

SOLVER_CONFIGS = {
    "sgd-nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True,
                         learning_rate_init=0.02),
    "sgd-momentum-invscaling": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False,
                                    learning_rate="invscaling", power_t=0.25,
                                    learning_rate_init=0.05),
    "sgd-adaptive": dict(solver="sgd", momentum=0.5, learning_rate="adaptive",
                         learning_rate_init=0.02, tol=1e-2, n_iter_no_change=2),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}


def assert_same_training(bp, sk, curve_rtol=1e-8, weight_rtol=1e-6):
    assert bp.n_iter_ == sk.n_iter_
    assert bp.t_ == sk.t_
    assert len(bp.loss_curve_) == len(sk.loss_curve_)
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=curve_rtol)
    assert bp.loss_ == pytest.approx(sk.loss_, rel=curve_rtol)
    if sk.best_loss_ is None:
        assert bp.best_loss_ is None
    else:
        assert bp.best_loss_ == pytest.approx(sk.best_loss_, rel=curve_rtol)
    if sk.validation_scores_ is None:
        assert bp.validation_scores_ is None
        assert bp.best_validation_score_ is None
    else:
        np.testing.assert_allclose(bp.validation_scores_, sk.validation_scores_,
                                   rtol=curve_rtol, atol=1e-12)
        assert bp.best_validation_score_ == pytest.approx(sk.best_validation_score_,
                                                          rel=curve_rtol, abs=1e-12)
    assert_weights_close(bp, sk, rtol=weight_rtol, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("early_stopping", [False, True], ids=["no-es", "es"])
@pytest.mark.parametrize("config", list(SOLVER_CONFIGS))
@pytest.mark.parametrize("kind,activation", [
    ("binary", "relu"),
    ("multiclass", "tanh"),
    ("multilabel", "logistic"),
    ("regression", "relu"),
    ("multioutput", "tanh"),
    ("poisson", "identity"),
])
def test_multi_epoch_training(kind, activation, config, early_stopping, weighted):
    X, y = make_data(kind, N_EPOCH_ROWS, seed=3)
    sw = make_weights(N_EPOCH_ROWS) if weighted else None
    params = dict(
        hidden_layer_sizes=(8, 5),
        activation=activation,
        batch_size=32,  # 7 batches per epoch (the last one of 8 or 12 rows)
        max_iter=20,
        shuffle=True,
        alpha=1e-3,
        random_state=42,
        early_stopping=early_stopping,
        validation_fraction=0.2,
        n_iter_no_change=4,
    )
    params.update(SOLVER_CONFIGS[config])
    sk, bp = fit_both(kind, X, y, sample_weight=sw, **params)
    assert_same_training(bp, sk)
    assert sk.loss_curve_[-1] < sk.loss_curve_[0]  # it did train
    np.testing.assert_allclose(outputs(bp, X), outputs(sk, X), rtol=1e-6, atol=1e-9)
    if hasattr(sk, "classes_"):
        np.testing.assert_array_equal(bp.predict(X), sk.predict(X))


def test_sample_weight_changes_the_trajectory():
    """Guard against weights being ignored on both sides."""
    X, y = make_data("multiclass", N_EPOCH_ROWS, seed=3)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=32, random_state=0,
                  learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**params).fit(X, y)
        weighted = MLPClassifier(**params).fit(X, y, sample_weight=make_weights(len(y)))
    assert not np.allclose(plain.loss_curve_, weighted.loss_curve_, rtol=1e-6)


# ------------------------------------------------------------------------------ L-BFGS


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
@pytest.mark.parametrize("kind,activation", [
    ("binary", "tanh"),
    ("multiclass", "relu"),
    ("multilabel", "logistic"),
    ("regression", "tanh"),
    ("multioutput", "relu"),
    ("poisson", "logistic"),
])
def test_lbfgs(kind, activation, alpha, weighted):
    X, y = make_data(kind, 80, seed=5)
    sw = make_weights(80) if weighted else None
    params = dict(hidden_layer_sizes=(6,), activation=activation, solver="lbfgs",
                  alpha=alpha, max_iter=40, random_state=7)
    sk, bp = fit_both(kind, X, y, sample_weight=sw, **params)
    assert bp.n_iter_ == sk.n_iter_
    assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-6)
    np.testing.assert_allclose(outputs(bp, X), outputs(sk, X), rtol=1e-6, atol=1e-8)
    assert not hasattr(bp, "loss_curve_")


# ---------------------------------------------------------- partial_fit and warm_start


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_partial_fit_sequence(kind, solver, weighted):
    X, y = make_data(kind, 150, seed=8)
    sw = make_weights(150) if weighted else None
    Sk, Bp, extra = estimators(kind)
    params = dict(hidden_layer_sizes=(7,), activation="tanh", solver=solver,
                  learning_rate_init=0.02, random_state=3, batch_size=16, **extra)
    sk, bp = Sk(**params), Bp(**params)
    chunks = [slice(0, 50), slice(50, 110), slice(110, 150)]
    first = True
    for _ in range(3):
        for sl in chunks:
            kw = {} if sw is None else {"sample_weight": sw[sl]}
            if first and kind == "multiclass":
                kw["classes"] = np.unique(y)
            elif first and kind == "multilabel":
                kw["classes"] = np.arange(y.shape[1])  # required; labels come from y
            sk.partial_fit(X[sl], y[sl], **kw)
            bp.partial_fit(X[sl], y[sl], **kw)
            first = False
            assert_same_training(bp, sk, curve_rtol=1e-9, weight_rtol=1e-8)
    assert len(bp.loss_curve_) == 9


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_fit_then_partial_fit(solver):
    X, y = make_data("multiclass", 120, seed=2)
    params = dict(hidden_layer_sizes=(7,), solver=solver, learning_rate_init=0.02,
                  random_state=4, max_iter=3, batch_size=25)
    sk, bp = fit_both("multiclass", X, y, **params)
    for _ in range(2):
        sk.partial_fit(X[:60], y[:60])
        bp.partial_fit(X[:60], y[:60])
        assert_same_training(bp, sk, curve_rtol=1e-9, weight_rtol=1e-8)


@pytest.mark.parametrize("early_stopping", [False, True], ids=["no-es", "es"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_warm_start(kind, solver, early_stopping):
    """Three warm-started fits, the second on a subset of the rows.

    With early stopping the regression case has a second fit whose validation
    scores never beat the first fit's best_validation_score_ (see
    test_warm_start_early_stopping_without_new_best for what that implies).
    """
    # (lbfgs ignores early_stopping: it is kept in the grid to check that it does)
    X, y = make_data(kind, 160, seed=9)
    Sk, Bp, extra = estimators(kind)
    params = dict(hidden_layer_sizes=(6,), activation="relu", solver=solver, max_iter=6,
                  learning_rate_init=0.02, batch_size=40, random_state=11, warm_start=True,
                  early_stopping=early_stopping, **extra)
    sk, bp = Sk(**params), Bp(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rows, max_iter in [(slice(None), 6), (slice(0, 120), 4), (slice(None), 5)]:
            sk.set_params(max_iter=max_iter).fit(X[rows], y[rows])
            bp.set_params(max_iter=max_iter).fit(X[rows], y[rows])
            if solver == "lbfgs":
                assert bp.n_iter_ == sk.n_iter_
                assert bp.loss_ == pytest.approx(sk.loss_, rel=1e-8)
                assert_weights_close(bp, sk, rtol=1e-6, atol=1e-9)
            else:
                assert_same_training(bp, sk, curve_rtol=1e-9, weight_rtol=1e-8)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_early_stopping_without_new_best(solver):
    """A warm-started fit with early stopping whose validation score never beats the
    best_validation_score_ kept from the previous fit.

    scikit-learn ends a fit with early stopping by ``coefs_ = _best_coefs``, which
    makes ``coefs_`` and ``_best_coefs`` the very same arrays. The next warm-started
    fit trains those arrays in place, so if it finds no new best, the weights it
    restores at the end are the ones it trained, not the previous fit's best. The
    result (weights, and hence predictions) must be the same in bpfast.
    """
    rng = np.random.RandomState(0)
    X = rng.normal(size=(160, 5))
    y = X[:, 0] + 0.1 * rng.normal(size=160)
    y_noise = rng.normal(size=160)  # validation R^2 ~ 0 < the first fit's ~0.9
    params = dict(hidden_layer_sizes=(6,), solver=solver, learning_rate_init=0.02,
                  batch_size=40, random_state=11, warm_start=True, early_stopping=True,
                  max_iter=6)
    sk, bp = SkMLPRegressor(**params), MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        bp.fit(X, y)
        assert_same_training(bp, sk, curve_rtol=1e-9, weight_rtol=1e-8)
        sk.fit(X, y_noise)
        bp.fit(X, y_noise)
    assert max(sk.validation_scores_[6:]) < sk.best_validation_score_  # no new best
    assert_same_training(bp, sk, curve_rtol=1e-9, weight_rtol=1e-8)
    np.testing.assert_allclose(bp.predict(X), sk.predict(X), rtol=1e-8, atol=1e-10)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="only x86-64's baseline kernels have no fused multiply-add (NEON "
                    "has one, which Clang contracts a * b + c into by default)")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("seed", range(4))
def test_float32_optimizer_steps_are_scikit_learns_bit_for_bit(monkeypatch, solver, seed):
    # One input, one linear hidden unit, one output and one row per batch: every product
    # is a single multiplication and every sum a single term, so only the optimizer's
    # arithmetic can part the two runs. On the baseline kernels (no fused multiply-adds)
    # 1000 float32 steps match scikit-learn's bit for bit: SGD's float32 update, and
    # Adam's step computed in float64 and added to the float32 weight in float64, rounded
    # once, as numpy's in-place add does (rounding the step to float32 first parted the
    # weights in most seeds).
    monkeypatch.setenv("BPFAST_ISA", "baseline")
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, (200, 1)).astype(np.float32)
    y = (0.7 * X[:, 0] + 0.3 + 0.3 * rng.standard_normal(200)).astype(np.float32)
    sk, bp = fit_both("regression", X, y, hidden_layer_sizes=(1,), activation="identity",
                      solver=solver, batch_size=1, max_iter=5, alpha=0.0, tol=0,
                      n_iter_no_change=100, learning_rate_init=0.01, random_state=seed)
    assert bp.t_ == sk.t_ == 1000
    for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ float32


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_float32(kind, solver):
    X, y = make_data(kind, 200, seed=12)
    X32 = X.astype(np.float32)
    params = dict(hidden_layer_sizes=(10,), activation="tanh", solver=solver, max_iter=5,
                  learning_rate_init=0.01, batch_size=32, random_state=0)
    sk, bp = fit_both(kind, X32, y, **params)
    for a, b in zip(bp.coefs_ + bp.intercepts_, sk.coefs_ + sk.intercepts_):
        assert a.dtype == np.float32
        assert b.dtype == np.float32
    assert_weights_close(bp, sk, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bp.loss_curve_, sk.loss_curve_, rtol=1e-4)
    out_bp, out_sk = outputs(bp, X32), outputs(sk, X32)
    assert out_bp.dtype == out_sk.dtype == np.float32
    np.testing.assert_allclose(out_bp, out_sk, rtol=1e-3, atol=1e-4)
    # and float32 training follows the float64 one closely
    _, bp64 = fit_both(kind, X, y, **params)
    assert_weights_close(bp, bp64, rtol=1e-3, atol=1e-4)
