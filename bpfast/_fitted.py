"""The fitted state of bpfast's MLPs besides the weights, as scikit-learn names it.

Model files (``_persistence``) and the conversions to and from scikit-learn
(``_interop``) both carry exactly these attributes.
"""

from __future__ import annotations

import numpy as np

#: The attributes that record the progress of training, with the same names and
#: meanings as in scikit-learn's MLPs, and the kind of value each holds:
#: "count" an int >= 0, "float", "float?" a float or None, "floats" a list of
#: floats, "floats?" a list of floats or None. ``n_iter_`` and ``t_`` are set by
#: every fit; the others only by some solvers (or once an epoch has finished).
TRAINING_ATTRIBUTES: dict[str, str] = {
    "n_iter_": "count",
    "t_": "count",
    "loss_": "float",
    "loss_curve_": "floats",
    "best_loss_": "float?",
    "validation_scores_": "floats?",
    "best_validation_score_": "float?",
    "_no_improvement_count": "count",
}

#: Training attributes that every fitted estimator has.
ALWAYS_FITTED = ("n_iter_", "t_")


def weights_dtype(arrays: list[np.ndarray]) -> np.dtype:
    """The dtype all ``arrays`` share, float32 or float64.

    Raises
    ------
    ValueError
        If the arrays are of different dtypes, or of another dtype.
    """
    dtypes = {np.asarray(a).dtype for a in arrays}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        found = ", ".join(sorted(str(d) for d in dtypes))
        raise ValueError(
            f"coefs_ and intercepts_ must all be float32 or all float64; found {found}"
        )
    return dtypes.pop()


def weight_layer_units(estimator) -> list[int]:
    """Layer widths, inputs to outputs, as the estimator's ``coefs_`` give them."""
    coefs = estimator.coefs_
    return [coefs[0].shape[0]] + [c.shape[1] for c in coefs]


def best_is_current(estimator) -> bool:
    """Whether the early-stopping best weights are the current weights.

    After an early-stopping fit, scikit-learn's ``coefs_`` *is* its
    ``_best_coefs`` (the same list), which decides how a warm-started fit
    proceeds; copies must keep that identity.
    """
    return getattr(estimator, "_best_coefs", None) is getattr(estimator, "coefs_", ())


def make_best_current(estimator) -> None:
    """Make the current weights the early-stopping best weights (the same lists)."""
    estimator._best_coefs = estimator.coefs_
    estimator._best_intercepts = estimator.intercepts_
