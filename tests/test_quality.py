"""End-to-end quality on two small real data sets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from bpfast import MLPClassifier, MLPRegressor


def _split_and_scale(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def test_digits_accuracy_with_default_parameters():
    X_train, X_test, y_train, y_test = _split_and_scale(*load_digits(return_X_y=True))
    with warnings.catch_warnings():
        # the defaults (adam, max_iter=200) may stop on max_iter; that is not the point
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(random_state=0).fit(X_train, y_train)
    assert clf.predict(X_test).shape == y_test.shape
    assert clf.score(X_test, y_test) >= 0.97
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


# Settings under which both libraries converge (no ConvergenceWarning): a strongly
# regularised small network on standardised inputs and targets.
DIABETES_SETTINGS = {
    "lbfgs": dict(solver="lbfgs", hidden_layer_sizes=(10,), alpha=30.0, max_iter=1000),
    "adam": dict(solver="adam", hidden_layer_sizes=(10,), alpha=10.0, max_iter=1000,
                 learning_rate_init=0.01),
}


@pytest.mark.parametrize("settings", list(DIABETES_SETTINGS))
def test_diabetes_r2_matches_sklearn(settings):
    X_train, X_test, y_train, y_test = _split_and_scale(*load_diabetes(return_X_y=True))
    # standardise the target too (R^2 is invariant to this affine change)
    mean, std = y_train.mean(), y_train.std()
    y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    params = dict(random_state=0, **DIABETES_SETTINGS[settings])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = MLPRegressor(**params).fit(X_train, y_train)
        theirs = SkMLPRegressor(**params).fit(X_train, y_train)
    r2_ours, r2_theirs = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert r2_ours > 0.3  # a real fit, not just agreement on a poor one
    assert abs(r2_ours - r2_theirs) <= 0.02
