"""The progress bar of ``progress=True``, and ``bpfast.plot_loss_curve``.

The bar appears only once a fit has run for ``bpfast._progress.DELAY`` seconds;
the tests set that to 0 (or to an hour) instead of running slow fits. Without
tqdm (removed from ``sys.modules`` here) the bar is one line on stderr.
Plotting tests need matplotlib and skip without it.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import scipy.optimize
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import bpfast
from bpfast import MLPClassifier, MLPRegressor, _base, _progress
from bpfast.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SOLVERS = ["adam", "sgd", "lbfgs"]


def _data(n=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _model(Est=MLPClassifier, **params):
    return Est(**{"hidden_layer_sizes": (8,), "max_iter": 6, "random_state": 0, **params})


def _fit(est, X, y):
    return est.fit(X, y if isinstance(est, (MLPClassifier, SkMLPClassifier)) else y + 0.5)


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(_progress, "DELAY", 0.0)


@pytest.fixture
def no_tqdm(monkeypatch):
    """Make ``from tqdm.auto import tqdm`` fail, as without tqdm installed."""
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.fixture
def tqdm_bars(monkeypatch):
    """Every tqdm bar the estimators open, through tqdm.auto."""
    tqdm_auto = pytest.importorskip("tqdm.auto")
    bars = []

    class Recording(tqdm_auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm_auto, "tqdm", Recording)
    return bars


def _interrupt_on_call(monkeypatch, owner, name, call, error=KeyboardInterrupt):
    """Make ``owner.name`` raise ``error`` on its ``call``-th call."""
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            raise error()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def _interrupt_lbfgs(monkeypatch, evaluation, error=KeyboardInterrupt):
    """Make L-BFGS's objective raise ``error`` at its ``evaluation``-th call."""
    minimize = scipy.optimize.minimize

    def interrupted_minimize(fun, *args, **kwargs):
        calls = [0]

        def objective(theta):
            calls[0] += 1
            if calls[0] == evaluation:
                raise error()
            return fun(theta)

        return minimize(objective, *args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", interrupted_minimize)


# ------------------------------------------------------------------ the bar


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", SOLVERS)
def test_plain_bar_is_drawn_for_a_slow_fit(Est, solver, no_delay, no_tqdm, capsys):
    est = _fit(_model(Est, solver=solver, progress=True), *_data())
    out, err = capsys.readouterr()
    assert out == ""
    last = err.rsplit("\r", 1)[-1]
    assert err.startswith(f"\r{Est.__name__}:") and err.endswith("\n")
    assert f" {est.n_iter_}/6 [" in last
    assert f"loss={est.loss_:.4g}]" in last
    assert ("epoch/s" if solver != "lbfgs" else "iter/s") in last


def test_plain_bar_line_and_times():
    bar = _progress._PlainBar(200, "MLPClassifier", "epoch", start=0.0)
    bar.n, bar.loss = 50, 0.123456
    assert bar.line(10.0) == (
        "MLPClassifier:  25%|#####               | 50/200 [00:10<00:30, 5.00epoch/s, loss=0.1235]"
    )
    bar.n = 0
    assert "0/200 [00:00<?, ?epoch/s" in bar.line(0.0)
    assert _progress.format_seconds(3725.9) == "1:02:05"
    assert _progress.format_seconds(None) == "?"


@pytest.mark.parametrize("solver", SOLVERS)
def test_tqdm_bar_is_drawn_and_closed(solver, no_delay, tqdm_bars, capsys):
    est = _fit(_model(solver=solver, progress=True), *_data())
    err = capsys.readouterr().err
    assert len(tqdm_bars) == 1
    bar = tqdm_bars[0]
    assert bar.disable  # closed
    assert (bar.n, bar.total) == (est.n_iter_, 6)
    assert f"{est.n_iter_}/6" in err and f"loss={est.loss_:.4g}" in err and err.endswith("\n")


def test_short_fits_and_progress_false_print_nothing(monkeypatch, tqdm_bars, capsys):
    assert 1.0 <= _progress.DELAY <= 5.0
    X, y = _data()
    monkeypatch.setattr(_progress, "DELAY", 3600.0)  # any real fit here is "short"
    _fit(_model(progress=True), X, y)
    _fit(_model(solver="lbfgs", progress=True), X, y)
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    _fit(_model(), X, y)
    _fit(_model(solver="lbfgs"), X, y)
    assert capsys.readouterr() == ("", "")
    assert tqdm_bars == []


@pytest.mark.parametrize("solver", SOLVERS)
def test_progress_false_makes_no_bar_at_all(solver, monkeypatch):
    def no_bar(*args, **kwargs):
        raise AssertionError("an EpochBar was made with progress=False")

    monkeypatch.setattr(_progress, "EpochBar", no_bar)
    _fit(_model(solver=solver), *_data())
    _model(solver="adam").partial_fit(*_data(), classes=[0, 1])


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "adam"},
        {"solver": "sgd", "early_stopping": True, "max_iter": 30},
        {"solver": "lbfgs", "max_iter": 20},
    ],
)
def test_fit_is_bitwise_identical_with_progress(params, no_delay, no_tqdm, capsys):
    X, y = _data()
    plain = _fit(_model(**params), X, y)
    shown = _fit(_model(**params, progress=True), X, y)
    assert capsys.readouterr().err  # the bar was drawn
    for a, b in zip(plain.coefs_ + plain.intercepts_, shown.coefs_ + shown.intercepts_):
        assert np.array_equal(a, b)
    assert plain.n_iter_ == shown.n_iter_ and plain.loss_ == shown.loss_
    assert getattr(plain, "loss_curve_", None) == getattr(shown, "loss_curve_", None)


def test_partial_fit_shows_one_epoch(no_delay, no_tqdm, capsys):
    est = _model(progress=True)
    est.partial_fit(*_data(), classes=[0, 1])
    err = capsys.readouterr().err
    assert " 1/1 [" in err and f"loss={est.loss_:.4g}]" in err and err.endswith("\n")


@pytest.mark.parametrize("path", ["plain", "tqdm"])
def test_keyboard_interrupt_closes_the_bar(path, request, monkeypatch, no_delay, capsys):
    bars = request.getfixturevalue("no_tqdm" if path == "plain" else "tqdm_bars")
    _interrupt_on_call(monkeypatch, MLPClassifier, "_update_no_improvement_count", call=3)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = _fit(_model(max_iter=10, progress=True), *_data())
    assert est.n_iter_ == 3
    err = capsys.readouterr().err
    assert "3/10" in err and err.endswith("\n")
    if path == "tqdm":
        assert len(bars) == 1 and bars[0].disable


def test_keyboard_interrupt_closes_the_lbfgs_bar(monkeypatch, no_delay, no_tqdm, capsys):
    _interrupt_lbfgs(monkeypatch, evaluation=4)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = _fit(_model(solver="lbfgs", max_iter=10, progress=True), *_data())
    err = capsys.readouterr().err
    assert f"{est.n_iter_}/10" in err and err.endswith("\n")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_an_exception_closes_the_bar(solver, monkeypatch, no_delay, tqdm_bars, capsys):
    if solver == "lbfgs":
        _interrupt_lbfgs(monkeypatch, evaluation=4, error=MemoryError)
    else:
        _interrupt_on_call(
            monkeypatch, MLPClassifier, "_update_no_improvement_count", 3, MemoryError
        )
    with pytest.raises(MemoryError):
        _fit(_model(solver=solver, max_iter=10, progress=True), *_data())
    assert len(tqdm_bars) == 1 and tqdm_bars[0].disable
    assert capsys.readouterr().err.endswith("\n")


def test_no_stderr_is_no_problem(monkeypatch, no_delay, no_tqdm):
    monkeypatch.setattr(sys, "stderr", None)
    est = _fit(_model(progress=True), *_data())
    assert est.n_iter_ == 6


def test_progress_is_validated_and_kept_by_conversions_and_files(tmp_path):
    X, y = _data()
    with pytest.raises(ValueError, match="progress"):
        _model(progress="yes").fit(X, y)
    est = _fit(_model(progress=True), X, y)
    path = tmp_path / "model.bpfast"
    bpfast.save(est, path)
    assert bpfast.load(path).progress is True
    converted = est.to_sklearn()
    assert "progress" not in converted.get_params()
    assert bpfast.from_sklearn(converted).progress is False


def test_model_files_without_progress_still_load():
    """Files written before ``progress`` existed lack it: it takes its default."""
    from bpfast import _persistence

    description, _ = _persistence._describe(_fit(_model(progress=True), *_data()))
    assert description["params"]["progress"] is True
    del description["params"]["progress"]
    assert _persistence._check_description(description).estimator.progress is False
    description["params"]["progress"] = "yes"
    with pytest.raises(bpfast.ModelFormatError, match="invalid parameter.*progress"):
        _persistence._check_description(description)


# ------------------------------------------------------- verbose L-BFGS output


def test_lbfgs_verbose_prints_what_sklearn_prints(capfd):
    """scikit-learn passes scipy ``iprint`` only where scipy prints (before 1.15)."""
    X, y = _data()
    outputs = []
    for Est in (SkMLPClassifier, MLPClassifier):
        _fit(_model(Est, solver="lbfgs", verbose=True), X, y)
        outputs.append(capfd.readouterr().out)
    assert bool(outputs[0].strip()) == bool(outputs[1].strip())


@pytest.mark.parametrize("takes_iprint", [True, False])
@pytest.mark.parametrize("verbose", [True, False])
def test_lbfgs_passes_iprint_as_sklearn_does(takes_iprint, verbose, monkeypatch):
    seen = []
    minimize = scipy.optimize.minimize

    def spy(*args, options, **kwargs):
        seen.append(dict(options))
        return minimize(*args, options={k: v for k, v in options.items() if k != "iprint"},
                        **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    monkeypatch.setattr(_base, "_LBFGS_TAKES_IPRINT", takes_iprint)
    _fit(_model(solver="lbfgs", verbose=verbose), *_data())
    expected = (1 if verbose else -1) if takes_iprint else None
    assert seen[0].get("iprint") == expected


# ------------------------------------------------------------------- plotting


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.mark.parametrize("Est", [MLPClassifier, SkMLPClassifier, MLPRegressor, SkMLPRegressor])
def test_plot_loss_curve_draws_the_loss_per_epoch(Est, plt):
    est = _fit(_model(Est), *_data())
    ax = bpfast.plot_loss_curve(est)
    assert len(ax.figure.axes) == 1
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == list(range(1, len(est.loss_curve_) + 1))
    assert list(line.get_ydata()) == est.loss_curve_
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "training loss"
    assert Est.__name__ in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss"]


@pytest.mark.parametrize("Est", [MLPClassifier, SkMLPClassifier, MLPRegressor, SkMLPRegressor])
def test_plot_loss_curve_puts_validation_scores_on_a_twin_axis(Est, plt):
    est = _fit(_model(Est, early_stopping=True, max_iter=15), *_data())
    _, given = plt.subplots()
    ax = bpfast.plot_loss_curve(est, ax=given)
    assert ax is given
    assert len(ax.get_lines()) == 1 and len(ax.get_lines()[0].get_xdata()) == len(est.loss_curve_)
    twin = next(a for a in ax.figure.axes if a is not ax)
    (line,) = twin.get_lines()
    assert list(line.get_ydata()) == est.validation_scores_
    metric = "accuracy" if Est in (MLPClassifier, SkMLPClassifier) else "R²"
    assert twin.get_ylabel() == f"validation score ({metric})"
    legend = twin.get_legend() or ax.get_legend()
    assert len(legend.get_texts()) == 2


@pytest.mark.parametrize("Est", [MLPClassifier, SkMLPClassifier])
def test_plot_loss_curve_errors(Est):
    with pytest.raises(NotFittedError):
        bpfast.plot_loss_curve(Est())
    lbfgs = _fit(_model(Est, solver="lbfgs"), *_data())
    with pytest.raises(ValueError, match="no loss curve.*solver='lbfgs'"):
        bpfast.plot_loss_curve(lbfgs)


def test_plot_loss_curve_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    est = _fit(_model(), *_data())
    with pytest.raises(ImportError, match="plot_loss_curve needs matplotlib: pip install matplotlib"):
        bpfast.plot_loss_curve(est)


def test_demo_saves_an_800_by_500_image(plt, tmp_path):
    from bpfast._demo import _save_loss_curve

    path = tmp_path / "loss.png"
    _save_loss_curve(_fit(_model(), *_data()), str(path))
    assert plt.imread(path).shape[:2] == (500, 800)


def test_demo_command_passes_plot(monkeypatch):
    import bpfast._demo

    calls = []
    monkeypatch.setattr(bpfast._demo, "run_demo", lambda **kwargs: calls.append(kwargs))
    # the option is checked for matplotlib before the demo runs; it need not be installed here
    import bpfast._plotting

    monkeypatch.setattr(bpfast._plotting, "_matplotlib", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["demo", "--repeats", "1", "--plot", "loss.png"]) == 0
        assert main(["demo"]) == 0
    assert calls == [{"repeats": 1, "plot": "loss.png"}, {"repeats": 3, "plot": None}]
