"""``plot_loss_curve``: the training loss (and validation score) of a fitted MLP, per epoch."""

from __future__ import annotations

from typing import Any

from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted


def plot_loss_curve(estimator, ax: Any = None) -> Any:
    """Plot the training loss of a fitted MLP per epoch, with its validation score.

    Draws ``loss_curve_`` and, when early stopping recorded
    ``validation_scores_``, the validation score of each epoch on a second
    y-axis at the right. Works for bpfast's estimators and for scikit-learn's
    ``MLPClassifier`` and ``MLPRegressor`` alike. Needs matplotlib
    (``pip install "bpfast[plot]"``).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator, bpfast's or scikit-learn's, trained by 'sgd' or
        'adam' (L-BFGS records no loss per epoch).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None draws in a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes of the training loss; the validation score, if any, is on
        its twin, in ``ax.figure.axes``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If it has no loss curve, as after an L-BFGS fit.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import bpfast
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = bpfast.MLPClassifier(early_stopping=True, random_state=0).fit(X / 16, y)
    >>> ax = bpfast.plot_loss_curve(clf)
    >>> ax.figure.savefig("loss_curve.png")  # doctest: +SKIP
    """
    check_is_fitted(estimator)
    losses = getattr(estimator, "loss_curve_", None)
    if not losses:
        raise ValueError(
            f"this {type(estimator).__name__} has no loss curve to plot: only the 'sgd' and "
            f"'adam' solvers record loss_curve_, and it was fitted with "
            f"solver={estimator.solver!r}"
        )
    scores = getattr(estimator, "validation_scores_", None)
    plt, integer_ticks = _matplotlib()
    if ax is None:
        _, ax = plt.subplots()
    (loss_line,) = ax.plot(range(1, len(losses) + 1), losses, color="C0", label="training loss")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(integer_ticks(integer=True))
    ax.set_ylabel("training loss")
    ax.set_title(f"{type(estimator).__name__} ({estimator.solver}): loss per epoch")
    lines, legend_ax = [loss_line], ax
    if scores:
        legend_ax = ax.twinx()
        metric = "accuracy" if is_classifier(estimator) else "R²"
        label = f"validation score ({metric})"
        (score_line,) = legend_ax.plot(
            range(1, len(scores) + 1), scores, color="C1", label=label
        )
        legend_ax.set_ylabel(label)
        lines.append(score_line)
    # Right of centre, between a falling loss and a rising score, once they level off.
    loc = "center right" if len(lines) > 1 else "best"
    legend_ax.legend(lines, [line.get_label() for line in lines], loc=loc)
    return ax


def _matplotlib():
    """``matplotlib.pyplot`` and ``MaxNLocator``, or an ImportError saying how to get them."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError("plot_loss_curve needs matplotlib: pip install matplotlib") from exc
    return plt, MaxNLocator
