"""The README's main job: bpfast beside scikit-learn on the bundled digits data."""

from __future__ import annotations

import time
import warnings

import numpy as np


def _fit_timed(estimator, X, y, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _save_loss_curve(estimator, path: str) -> None:
    """Save ``plot_loss_curve(estimator)`` as an 800 x 500 pixel image at ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no window, any backend

    from ._plotting import plot_loss_curve

    figure = Figure(figsize=(8, 5), dpi=100)
    plot_loss_curve(estimator, ax=figure.subplots())
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def run_demo(repeats: int = 3, plot: str | None = None) -> None:
    """Train scikit-learn's and bpfast's MLPClassifier on digits; print accuracy and time.

    Both use the same parameters and ``random_state`` on a 75/25 split of the
    standardised data, in float64 and in float32. Times are medians of
    ``repeats`` fits.

    Parameters
    ----------
    repeats : int, default=3
        Fits per timing.
    plot : str or None, default=None
        Where to save an image of :func:`bpfast.plot_loss_curve` (training loss
        and validation accuracy per epoch) for the float64 bpfast model fitted
        again with ``early_stopping=True`` (the format follows the extension,
        e.g. ``.png``); needs matplotlib.
    """
    if plot is not None:
        from ._plotting import _matplotlib

        _matplotlib()  # fail before the fits if matplotlib is missing
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from sklearn.preprocessing import StandardScaler

    from . import MLPClassifier, __version__
    from ._config import config

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    cfg = config()
    print(
        f"bpfast {__version__} demo: digits {X_train.shape[0]} train / {X_test.shape[0]} test rows, "
        f"hidden (100,), adam, max_iter=200, random_state=0"
    )
    print(f"kernels: {cfg['kernels']}, OpenMP threads: {cfg['threads']}\n")
    print(f"{'dtype':8} {'library':13} {'accuracy':>8} {'fit (s)':>8} {'epochs':>6}")
    for dtype in (np.float64, np.float32):
        Xtr, Xte = X_train.astype(dtype), X_test.astype(dtype)
        results = {}
        for name, cls in (("scikit-learn", SkMLPClassifier), ("bpfast", MLPClassifier)):
            est = cls(random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                seconds = _fit_timed(est, Xtr, y_train, repeats)
            results[name] = seconds
            acc = est.score(Xte, y_test)
            print(f"{np.dtype(dtype).name:8} {name:13} {acc:8.4f} {seconds:8.3f} {est.n_iter_:6d}")
        print(f"{'':8} {'speed-up':13} {results['scikit-learn'] / results['bpfast']:7.1f}x\n")
    if plot is not None:
        # the same model with early stopping, so the image shows both curves
        model = MLPClassifier(random_state=0, early_stopping=True).fit(X_train, y_train)
        _save_loss_curve(model, plot)
        print(f"loss curve of bpfast's float64 model, with early stopping, saved to {plot}")
