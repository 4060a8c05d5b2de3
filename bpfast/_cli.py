"""The data-pipeline commands: ``bpfast train`` and ``bpfast predict``.

Tables are CSV (``.csv``, ``.txt``; ``.tsv`` tab-separated) or Parquet
(``.parquet``, ``.pq``), chosen by extension and read and written with pandas
(and pyarrow for Parquet), which bpfast does not otherwise need. Every problem
with the user's files or options raises :class:`CommandLineError`, whose
message ``bpfast.__main__`` prints on one line before exiting with status 2.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np

from ._base import INTERRUPTED
from ._classifier import MLPClassifier
from ._exceptions import ModelFormatError
from ._persistence import Estimator, PathLike, load, save
from ._regressor import MLPRegressor

#: The table formats by extension: the CSV separator, or None for Parquet.
TABLE_FORMATS: dict[str, str | None] = {
    ".csv": ",",
    ".tsv": "\t",
    ".txt": ",",
    ".parquet": None,
    ".pq": None,
}

#: The target types (scikit-learn's ``type_of_target``) that ``train`` learns
#: by classification unless told otherwise.
CLASSIFICATION_TARGETS = ("binary", "multiclass", "multilabel-indicator")

#: An integer target with more distinct values than this is taken for a
#: quantity (regression) rather than class labels.
MAX_INTEGER_CLASSES = 50

_SHOWN_COLUMNS = 10  # columns listed at most when one is missing


class CommandLineError(Exception):
    """A problem with the command line's files or options; the message names it."""


# ----------------------------------------------------------------- commands


def train(
    data: PathLike,
    targets: Sequence[str],
    out: PathLike = "model.bpf",
    task: str | None = None,
    **params,
) -> Estimator:
    """Fit an MLP to a table, save it, and print a one-line summary to stderr.

    Parameters
    ----------
    data : str or path-like
        The table (CSV or Parquet, by extension).
    targets : sequence of str
        The label columns (several for multi-output regression or multilabel
        classification); every other column is a feature and must be numeric.
    out : str or path-like, default="model.bpf"
        Where to save the fitted model (see :func:`bpfast.save`).
    task : {"classify", "regress"} or None, default=None
        MLPClassifier or MLPRegressor; None chooses by :func:`infer_task`.
    **params
        Parameters of the estimator (``hidden_layer_sizes``, ``max_iter``...).
        With ``verbose``, its progress goes to stderr.

    Returns
    -------
    estimator : MLPClassifier or MLPRegressor
        The fitted and saved estimator.

    Raises
    ------
    CommandLineError
        If a file cannot be read or written, a column is missing, not numeric
        or incomplete, there is no data, or the estimator rejects it.
    KeyboardInterrupt
        If Ctrl-C stops the fit; no model is saved then.
    """
    targets = list(dict.fromkeys(targets))
    _check_writable(out)
    frame = read_table(data)
    _require_columns(frame, targets, data)
    X, y = frame.drop(columns=targets), frame[targets]
    if X.shape[1] == 0:
        raise CommandLineError(f"{_quote(data)} has no feature columns besides the target(s)")
    _check_numeric(X, data, "feature")
    _check_complete(frame, data)
    task = task or infer_task(y)
    if task == "regress":
        _check_numeric(y, data, "target")
    estimator = (MLPClassifier if task == "classify" else MLPRegressor)(**params)
    y = y.iloc[:, 0] if y.shape[1] == 1 else y
    seconds = _fit(estimator, X, y, data)
    score = estimator.score(X, y)
    try:
        save(estimator, out)
    except (OSError, ValueError) as exc:
        raise CommandLineError(f"cannot save the model to {_quote(out)}: {_reason(exc)}") from None
    if task == "classify":
        metric, outputs = "accuracy", f"{len(estimator.classes_)} classes"
    else:
        metric, outputs = "R2", f"{estimator.n_outputs_} output(s)"
    print(
        f"bpfast: {task}, {X.shape[0]} rows x {X.shape[1]} features, {outputs}: "
        f"training {metric} {score:.4f}, fit {seconds:.2f} s ({estimator.n_iter_} iterations); "
        f"saved {os.fsdecode(out)}",
        file=sys.stderr,
    )
    return estimator


def predict(
    model: PathLike, data: PathLike, proba: bool = False, out: PathLike | None = None
) -> None:
    """Predict a table with a saved model and write the predictions as a table.

    Parameters
    ----------
    model : str or path-like
        A model file written by :func:`bpfast.save` (or ``bpfast train``).
    data : str or path-like
        The table (CSV or Parquet, by extension). The model's
        ``feature_names_in_`` columns are used and any others ignored; a model
        fitted without feature names takes all columns, in order.
    proba : bool, default=False
        Write the classifier's class probabilities, one column ``proba_<class>``
        per class, instead of the predictions.
    out : str or path-like, optional
        Where to write (CSV or Parquet, by extension); CSV to stdout if None.
        Predictions are in a column ``prediction``, or ``prediction_<i>`` per
        output of a multi-output model.

    Raises
    ------
    CommandLineError
        If a file cannot be read or written, the model file is not a bpfast
        model, a feature column is missing, not numeric or incomplete, there is
        no data, or ``proba`` is asked of a regressor.
    """
    estimator = _load(model)
    if proba and not hasattr(estimator, "predict_proba"):
        raise CommandLineError(
            f"--proba needs a classifier; {_quote(model)} holds an {type(estimator).__name__}"
        )
    if out is not None:  # fail before any work
        _check_writable(out)
        if _table_format(out) is None:
            _require("pyarrow")
    frame = read_table(data)
    X = _model_features(estimator, frame, data)
    try:
        predictions = _predictions(estimator, X, proba)
    except ValueError as exc:
        raise CommandLineError(f"cannot predict {_quote(data)}: {_reason(exc)}") from None
    write_table(predictions, out)


# ------------------------------------------------------------------- tables


def read_table(path: PathLike):
    """Read a CSV or Parquet file (by extension) into a pandas DataFrame.

    Raises
    ------
    CommandLineError
        If pandas (or, for Parquet, pyarrow) is not installed, the extension is
        unknown, the file cannot be read or parsed, or it has no rows.
    """
    separator = _table_format(path)
    pd = _require("pandas")
    errors: tuple[type[BaseException], ...] = (OSError, ValueError)
    try:
        if separator is None:
            errors += (_require("pyarrow").ArrowException,)
            frame = pd.read_parquet(path, engine="pyarrow")
        else:
            frame = pd.read_csv(path, sep=separator)
    except errors as exc:
        raise CommandLineError(f"cannot read {_quote(path)}: {_reason(exc)}") from None
    if len(frame) == 0:
        raise CommandLineError(f"{_quote(path)} has no data rows")
    return frame


def write_table(frame, path: PathLike | None = None) -> None:
    """Write a DataFrame without its index: CSV or Parquet by extension, or CSV to stdout.

    Raises
    ------
    CommandLineError
        If the extension is unknown, Parquet is asked for without pyarrow, or
        the file cannot be written.
    """
    if path is None:
        frame.to_csv(sys.stdout, index=False)
        return
    separator = _table_format(path)
    try:
        if separator is None:
            _require("pyarrow")
            frame.to_parquet(path, engine="pyarrow", index=False)
        else:
            frame.to_csv(path, sep=separator, index=False)
    except OSError as exc:
        raise CommandLineError(f"cannot write {_quote(path)}: {_reason(exc)}") from None


def infer_task(y) -> str:
    """``"classify"`` or ``"regress"``: how ``train`` learns the target columns ``y``.

    Classification when scikit-learn's ``type_of_target`` sees class labels
    (one of :data:`CLASSIFICATION_TARGETS`) in columns that are not floats:
    text, booleans, categories, or integers with at most
    :data:`MAX_INTEGER_CLASSES` distinct values each. Regression otherwise.
    """
    import pandas as pd
    from sklearn.utils.multiclass import type_of_target

    dtypes = list(y.dtypes)
    if any(pd.api.types.is_float_dtype(dtype) for dtype in dtypes):
        return "regress"
    try:
        kind = type_of_target(y.iloc[:, 0] if y.shape[1] == 1 else y)
    except (TypeError, ValueError):  # several columns of mixed labels
        return "regress"
    if kind not in CLASSIFICATION_TARGETS:
        return "regress"
    if any(
        pd.api.types.is_integer_dtype(dtype) and y[name].nunique() > MAX_INTEGER_CLASSES
        for name, dtype in zip(y.columns, dtypes)
    ):
        return "regress"
    return "classify"


def hidden_layer_sizes(text: str) -> tuple[int, ...]:
    """Parse ``"100,50"`` into ``(100, 50)``: positive widths, comma-separated.

    Raises
    ------
    ValueError
        If a width is not a positive integer.
    """
    sizes = tuple(int(part) for part in text.split(","))
    if min(sizes) < 1:
        raise ValueError(f"layer widths must be positive: {text!r}")
    return sizes


# ------------------------------------------------------------------ helpers


def _require(module: str):
    """Import an optional dependency of the command line, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        what = "Parquet files" if module == "pyarrow" else "the train and predict commands"
        raise CommandLineError(f"{what} need {module}: pip install {module}") from None


def _table_format(path: PathLike) -> str | None:
    """The CSV separator for ``path``, or None for Parquet (see :data:`TABLE_FORMATS`)."""
    extension = os.path.splitext(os.fsdecode(path))[1].lower()
    if extension not in TABLE_FORMATS:
        raise CommandLineError(
            f"{_quote(path)} has an unknown extension {extension or '(none)'!s}; "
            f"use one of {', '.join(TABLE_FORMATS)}"
        )
    return TABLE_FORMATS[extension]


def _check_writable(path: PathLike) -> None:
    """Fail before any work when ``path``'s directory does not exist."""
    directory = os.path.dirname(os.fsdecode(path)) or "."
    if not os.path.isdir(directory):
        raise CommandLineError(f"cannot write {_quote(path)}: no directory {directory!r}")


def _require_columns(frame, names: Sequence[str], path: PathLike) -> None:
    """Raise naming the ``names`` that are not columns of ``frame``."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        columns = [str(c) for c in frame.columns[:_SHOWN_COLUMNS]]
        more = ", ..." if frame.shape[1] > _SHOWN_COLUMNS else ""
        raise CommandLineError(
            f"{_quote(path)} has no {_columns(missing)} "
            f"(its columns: {', '.join(columns)}{more})"
        )


def _check_numeric(frame, path: PathLike, role: str) -> None:
    """Raise naming the columns of ``frame`` that are not numbers (booleans are)."""
    import pandas as pd

    bad = [name for name, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if bad:
        raise CommandLineError(
            f"{_quote(path)}: non-numeric {role} {_columns(bad)} "
            f"(dtype {', '.join(str(frame[name].dtype) for name in bad)})"
        )


def _check_complete(frame, path: PathLike) -> None:
    """Raise naming the columns of ``frame`` that have missing values."""
    incomplete = frame.columns[frame.isna().any()]
    if len(incomplete):
        raise CommandLineError(f"{_quote(path)}: missing values in {_columns(incomplete)}")


def _fit(estimator: Estimator, X, y, data: PathLike) -> float:
    """Fit; return the seconds taken. Warnings go to stderr as one line each.

    The estimator's verbose output goes to stderr too. Ctrl-C, which bpfast's
    ``fit`` answers by stopping early with a warning, raises KeyboardInterrupt.
    """
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr):
        warnings.filterwarnings("always", message=INTERRUPTED)
        start = time.perf_counter()
        try:
            estimator.fit(X, y)
        except ValueError as exc:
            raise CommandLineError(f"cannot train on {_quote(data)}: {_reason(exc)}") from None
        seconds = time.perf_counter() - start
    messages = dict.fromkeys(" ".join(str(w.message).split()) for w in caught)
    if INTERRUPTED in messages:
        raise KeyboardInterrupt("training stopped; no model saved")
    for message in messages:
        print(f"bpfast: warning: {message}", file=sys.stderr)
    return seconds


def _load(path: PathLike) -> Estimator:
    try:
        return load(path)
    except ModelFormatError as exc:
        raise CommandLineError(_reason(exc)) from None
    except OSError as exc:
        raise CommandLineError(f"cannot read {_quote(path)}: {_reason(exc)}") from None


def _model_features(estimator: Estimator, frame, path: PathLike):
    """The columns of ``frame`` the estimator takes, checked: a frame, or an array
    when the estimator was fitted without feature names."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        if frame.shape[1] != estimator.n_features_in_:
            raise CommandLineError(
                f"{_quote(path)} has {frame.shape[1]} columns; the model, fitted without "
                f"feature names, takes {estimator.n_features_in_}"
            )
        X = frame
    else:
        _require_columns(frame, list(names), path)
        X = frame[list(names)]
    _check_numeric(X, path, "feature")
    _check_complete(X, path)
    return X if names is not None else X.to_numpy()


def _predictions(estimator: Estimator, X, proba: bool):
    """A DataFrame of predictions, or of class probabilities when ``proba``."""
    import pandas as pd

    if proba:
        values = estimator.predict_proba(X)
        columns = [f"proba_{label}" for label in estimator.classes_]
    else:
        values = estimator.predict(X)
        columns = (
            ["prediction"] if values.ndim == 1
            else [f"prediction_{i}" for i in range(values.shape[1])]
        )
    return pd.DataFrame(np.reshape(values, (len(values), -1)), columns=columns)


def _quote(path: PathLike) -> str:
    return repr(os.fsdecode(path))


def _columns(names) -> str:
    """``column 'a'`` or ``columns 'a', 'b'``, for messages."""
    quoted = ", ".join(repr(str(name)) for name in names)
    return f"column {quoted}" if len(names) == 1 else f"columns {quoted}"


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (an OSError's without errno and file name)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())
