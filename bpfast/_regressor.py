"""MLPRegressor: scikit-learn's multi-layer perceptron regressor, trained in C."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseMultilayerPerceptron
from ._data import frame_float_dtype
from ._docs import estimator_doc


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = estimator_doc(
        "Multi-layer perceptron regressor: a drop-in for scikit-learn's, trained in C.\n\n"
        "Optimises half the squared error (or half the Poisson deviance) with L-BFGS,\n"
        "SGD or Adam. Same parameters, attributes, methods and numbers as\n"
        "``sklearn.neural_network.MLPRegressor``; note that ``loss`` is the first\n"
        "positional parameter, as there.",
        "loss : {'squared_error', 'poisson'}, default='squared_error'\n"
        "    Half squared error with an identity output, or half Poisson deviance\n"
        "    with an exponential output (targets must be >= 0).\n",
        "",
        ">>> from sklearn.datasets import load_diabetes\n"
        ">>> from sklearn.preprocessing import StandardScaler\n"
        ">>> from bpfast import MLPRegressor\n"
        ">>> X, y = load_diabetes(return_X_y=True)\n"
        ">>> X = StandardScaler().fit_transform(X)\n"
        ">>> reg = MLPRegressor(solver='lbfgs', random_state=0, max_iter=500).fit(X, y)\n"
        ">>> reg.score(X, y) > 0.5\n"
        "True\n",
    )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": _SkMLPRegressor._parameter_constraints["loss"],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        n_threads=None,
        progress=False,
    ):
        params = dict(locals())
        del params["self"], params["__class__"]
        super().__init__(**params)

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=frame_float_dtype(X, (np.float64, np.float32)),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated model.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
