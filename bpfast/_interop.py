"""Conversion to and from scikit-learn's own MLPClassifier and MLPRegressor.

Both libraries keep the same fitted attributes under the same names, except
the optimizer: scikit-learn keeps an ``SGDOptimizer`` or ``AdamOptimizer``
object with per-parameter lists, bpfast one flat ``_optimizer_state`` array in
the parameter order of ``_layout`` (velocities for 'sgd', first then second
moments for 'adam'). Converting it lets ``partial_fit`` continue on either side.
"""

from __future__ import annotations

import copy
import inspect
from typing import Union

import numpy as np
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from ._classifier import MLPClassifier
from ._fitted import (
    TRAINING_ATTRIBUTES,
    best_is_current,
    make_best_current,
    weight_layer_units,
    weights_dtype,
)
from ._layout import n_params, pack, unpack
from ._regressor import MLPRegressor

_COUNTERPARTS = ((MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor))

# Fitted attributes with the same name and meaning in both libraries, besides
# the weights and the early-stopping best weights.
_SHARED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
    "classes_",
    "_label_binarizer",
    *TRAINING_ATTRIBUTES,
)


def to_sklearn(estimator: MLPClassifier | MLPRegressor) -> SkMLPClassifier | SkMLPRegressor:
    """scikit-learn's estimator equivalent to a bpfast one; see ``to_sklearn`` on the estimators."""
    sk_class = next(sk for bp, sk in _COUNTERPARTS if isinstance(estimator, bp))
    names = sk_class._get_param_names()
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k in names}
    converted = sk_class(**copy.deepcopy(params))
    if hasattr(estimator, "coefs_"):
        _copy_fitted(estimator, converted)
        optimizer = _sklearn_optimizer(estimator, converted)
        if optimizer is not None:
            converted._optimizer = optimizer
    return converted


def from_sklearn(
    estimator: SkMLPClassifier | SkMLPRegressor,
) -> Union[MLPClassifier, MLPRegressor]:
    """Convert a scikit-learn MLP into the equivalent bpfast estimator.

    The result has the same parameters and, if ``estimator`` is fitted, the
    same fitted attributes, so it predicts the same values (up to rounding in
    a different order of summation) and, for the 'sgd' and 'adam' solvers,
    continues training with ``partial_fit`` as scikit-learn's would.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A scikit-learn MLP, fitted or not. It is not modified.

    Returns
    -------
    converted : bpfast.MLPClassifier or bpfast.MLPRegressor
        A new, independent estimator.

    Raises
    ------
    TypeError
        If ``estimator`` is not a scikit-learn MLPClassifier or MLPRegressor.
    ValueError
        If it sets a parameter bpfast does not have to a non-default value, or
        its weights are not all float32 or all float64.

    See Also
    --------
    MLPClassifier.to_sklearn, MLPRegressor.to_sklearn : The reverse conversion.

    Examples
    --------
    >>> import numpy as np, bpfast
    >>> from sklearn.neural_network import MLPRegressor
    >>> X = np.random.RandomState(0).normal(size=(50, 3)); y = X.sum(axis=1)
    >>> sk = MLPRegressor(solver="lbfgs", random_state=0).fit(X, y)
    >>> bp = bpfast.from_sklearn(sk)
    >>> bool(np.allclose(bp.predict(X), sk.predict(X), rtol=1e-12, atol=0))
    True
    """
    bp_class = next((bp for bp, sk in _COUNTERPARTS if isinstance(estimator, sk)), None)
    if bp_class is None:
        raise TypeError(
            "from_sklearn converts sklearn.neural_network.MLPClassifier or MLPRegressor, "
            f"not {type(estimator).__name__}"
        )
    params = estimator.get_params(deep=False)
    names = bp_class._get_param_names()
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(type(estimator).__init__).parameters.items()
    }
    # A parameter bpfast lacks is dropped where it has its default value.
    unsupported = sorted(k for k in params if k not in names and params[k] != defaults.get(k))
    if unsupported:
        raise ValueError(f"bpfast.{bp_class.__name__} has no parameter(s) {', '.join(unsupported)}")
    converted = bp_class(**copy.deepcopy({k: v for k, v in params.items() if k in names}))
    if hasattr(estimator, "coefs_"):
        weights_dtype(list(estimator.coefs_) + list(estimator.intercepts_))
        _copy_fitted(estimator, converted)
        _set_bpfast_optimizer(estimator, converted)
    return converted


def _copy_fitted(source, target) -> None:
    """Copy the weights and the shared fitted attributes, keeping no reference to the source."""
    memo: dict = {}  # one memo: classes_ stays the very array _label_binarizer holds
    target.coefs_ = [np.array(c) for c in source.coefs_]
    target.intercepts_ = [np.array(b) for b in source.intercepts_]
    for name in _SHARED_ATTRIBUTES:
        if hasattr(source, name):
            setattr(target, name, copy.deepcopy(getattr(source, name), memo))
    if best_is_current(source):
        make_best_current(target)
    elif hasattr(source, "_best_coefs"):
        target._best_coefs = [np.array(c) for c in source._best_coefs]
        target._best_intercepts = [np.array(b) for b in source._best_intercepts]


def _sklearn_optimizer(estimator, converted) -> SGDOptimizer | AdamOptimizer | None:
    """scikit-learn's optimizer holding bpfast's state, if the next partial_fit would use it."""
    state = getattr(estimator, "_optimizer_state", None)
    if state is None or estimator._optimizer_solver != estimator.solver:
        return None
    units = weight_layer_units(estimator)
    size = n_params(units)

    def per_parameter(slab):
        coefs, intercepts = unpack(np.array(slab), units)
        return coefs + intercepts

    parameters = converted.coefs_ + converted.intercepts_
    if estimator.solver == "sgd":
        optimizer = SGDOptimizer(
            parameters,
            estimator.learning_rate_init,
            estimator.learning_rate,
            estimator.momentum,
            estimator.nesterovs_momentum,
            estimator.power_t,
        )
        optimizer.velocities = per_parameter(state[:size])
        optimizer.learning_rate = estimator._optimizer_learning_rate
    else:
        optimizer = AdamOptimizer(
            parameters,
            estimator.learning_rate_init,
            estimator.beta_1,
            estimator.beta_2,
            estimator.epsilon,
        )
        optimizer.ms = per_parameter(state[:size])
        optimizer.vs = per_parameter(state[size:])
        optimizer.t = estimator._optimizer_t
    return optimizer


def _set_bpfast_optimizer(estimator, converted) -> None:
    """Give ``converted`` the state of scikit-learn's optimizer, if it has one."""
    optimizer = getattr(estimator, "_optimizer", None)
    if isinstance(optimizer, SGDOptimizer):
        solver, lists, t, rate = "sgd", [optimizer.velocities], 0, optimizer.learning_rate
    elif isinstance(optimizer, AdamOptimizer):
        solver, t, rate = "adam", optimizer.t, optimizer.learning_rate_init
        lists = [optimizer.ms, optimizer.vs]
    else:
        return
    units = weight_layer_units(converted)
    dtype = converted.coefs_[0].dtype
    n = len(units) - 1
    converted._optimizer_state = np.concatenate(
        [pack(values[:n], values[n:], units, dtype) for values in lists]
    )
    converted._optimizer_solver = solver
    converted._optimizer_t = int(t)
    converted._optimizer_learning_rate = float(rate)
