"""Model files: save a fitted estimator, and load it back without running code.

``pickle`` and ``joblib`` run code named by the file when they load it, so they
suit trusted moves between processes. :func:`save` and :func:`load` keep a
model at rest in a file that can only ever describe an MLP.

File format (version 1)
-----------------------
A model file is a safetensors container (see ``_safetensors``): an 8-byte
little-endian header length, a JSON header, then the tensors' raw bytes.

Tensors, in this order, all of the model's dtype (``F32`` or ``F64``):

``coefs.{i}``, ``intercepts.{i}``
    ``coefs_[i]`` of shape ``(layer_units[i], layer_units[i + 1])`` and
    ``intercepts_[i]`` of shape ``(layer_units[i + 1],)``, for each layer i.
``optimizer_state`` (only for a model trained by 'sgd' or 'adam')
    The velocities ('sgd'), or the first then the second moments ('adam'), of
    all parameters in the order all coefs then all intercepts, so that
    ``partial_fit`` continues exactly where it stopped.

``__metadata__``, a map of strings:

``format``: ``"bpfast"``; ``format_version``: ``"1"``; ``model``: the
description below, as a JSON string; ``sha256``: the hex SHA-256 of the
description's UTF-8 length as 8 little-endian bytes, the description's
UTF-8 bytes, and all tensor bytes. The checksum catches accidental corruption;
it is not a signature.

The description, a JSON object:

``estimator``
    ``"MLPClassifier"`` or ``"MLPRegressor"`` (the only classes a file can name).
``bpfast_version``
    The version of bpfast that wrote the file.
``params``
    Every parameter of ``get_params()``, by name. ``progress`` may be missing
    (files written before it existed); it then takes its default, False.
``dtype``
    ``"float32"`` or ``"float64"``.
``layer_units``
    ``[n_features_in_, hidden layer widths..., n_outputs_]``.
``out_activation``
    ``out_activation_``: 'logistic' or 'softmax' for a classifier,
    'identity' or 'exp' (Poisson loss) for a regressor.
``feature_names``
    ``feature_names_in_`` as a list of strings, or null.
``classes``, ``target_type`` (classifier only)
    ``{"dtype": numpy dtype string, "values": [...]}`` restoring ``classes_``
    with its exact dtype (bool, integer, float or unicode), and the target type
    ('binary', 'multiclass' or 'multilabel-indicator').
``training``
    The attributes of ``TRAINING_ATTRIBUTES`` the estimator has, named without
    leading and trailing underscores (``n_iter``, ``t``, ``loss``,
    ``loss_curve``, ...), and ``best_is_current``: whether the early-stopping
    best weights are the current ones.
``optimizer``
    ``{"solver": "sgd" or "adam", "t": steps, "learning_rate": current rate}``
    alongside the ``optimizer_state`` tensor, or null.

Values are JSON numbers, strings, booleans, nulls and lists, with two tagged
objects: ``{"float": "inf" | "-inf" | "nan"}`` for a non-finite float and
``{"random_state": {"key": [624 ints], "pos", "has_gauss", "cached_gaussian"}}``
for a ``numpy.random.RandomState`` parameter.

A reader refuses unknown and missing fields, any other format or version, and
any inconsistency (tensor shapes that do not chain or do not match the classes,
declared sizes that do not match the file, non-finite weights, a wrong
checksum) with :class:`~bpfast.ModelFormatError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import numbers
import os
import re
import secrets
import stat
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Union

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from . import _safetensors
from ._classifier import MLPClassifier
from ._exceptions import ModelFormatError
from ._fitted import (
    ALWAYS_FITTED,
    TRAINING_ATTRIBUTES,
    best_is_current,
    make_best_current,
    weights_dtype,
)
from ._json import check_fields, dumps, is_int, loads_json
from ._layout import n_params, pack
from ._regressor import MLPRegressor
from ._version import __version__

FORMAT_NAME = "bpfast"
FORMAT_VERSION = "1"

Estimator = Union[MLPClassifier, MLPRegressor]
PathLike = Union[str, bytes, os.PathLike]

# The only classes a file can name: loading never imports anything.
_ESTIMATORS: dict[str, type] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

_METADATA_FIELDS = {"format", "format_version", "model", "sha256"}
_FIELDS = {
    "estimator",
    "bpfast_version",
    "params",
    "dtype",
    "layer_units",
    "out_activation",
    "feature_names",
    "training",
    "optimizer",
}
_CLASSIFIER_FIELDS = {"classes", "target_type"}
_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
_TRAINING_KEYS = {name.strip("_"): name for name in TRAINING_ATTRIBUTES}
_REGRESSOR_OUT_ACTIVATION = {"squared_error": "identity", "poisson": "exp"}
# A classifier's out_activation_, by target type (LabelBinarizer's y_type_).
_TARGET_TYPES = {"binary": "logistic", "multiclass": "softmax", "multilabel-indicator": "logistic"}
_CLASS_DTYPE = re.compile(r"[<>|](b1|[iu][1248]|f[48]|U[1-9][0-9]{0,8})")
_SHA256 = re.compile(r"[0-9a-f]{64}")

_MAX_LAYERS = 4096  # weight layers (hidden layers + 1)
_MAX_WIDTH = 2**31 - 1
_MAX_THREADS = 1024  # n_threads a file may ask for
# Parameters added after the first files were written: a file may lack them.
_OPTIONAL_PARAMS = {"progress"}
_MAX_LABEL_BYTES = 64 * 2**20
_MT19937_KEY_LENGTH = 624


def save(estimator: Estimator, path: PathLike) -> None:
    """Save a fitted bpfast estimator to a model file.

    The file holds the weights and a JSON description of everything else (see
    Notes); :func:`load` gives back an estimator that predicts identically and,
    for the 'sgd' and 'adam' solvers, continues training with ``partial_fit``
    exactly as the saved one would. The write is atomic: the model goes to a
    temporary file in the same directory, which is flushed to disk and then
    renamed over ``path``, so a crash mid-save never leaves a partial file.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted bpfast estimator.
    path : str or path-like
        Where to write the model; an existing file is replaced. The extension
        is free (``.bpfast`` or ``.safetensors`` are good choices).

    Raises
    ------
    TypeError
        If ``estimator`` is not a bpfast MLPClassifier or MLPRegressor, or a
        parameter holds a value a model file cannot store.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If the fitted state is inconsistent (for example non-finite weights, or
        ``hidden_layer_sizes`` changed since the fit).

    See Also
    --------
    load : Read a model file back.

    Notes
    -----
    The file is a `safetensors <https://github.com/huggingface/safetensors>`_
    container, readable by any safetensors tool: tensors ``coefs.{i}``,
    ``intercepts.{i}`` (and ``optimizer_state`` for 'sgd'/'adam'), with the
    description of the estimator, as JSON, and a SHA-256 checksum in its
    ``__metadata__``. The module ``bpfast._persistence`` documents every field.

    Examples
    --------
    >>> import numpy as np, bpfast
    >>> X = np.random.RandomState(0).normal(size=(50, 3)); y = X[:, 0] > 0
    >>> clf = bpfast.MLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    >>> import os, tempfile; path = os.path.join(tempfile.mkdtemp(), "model.bpfast")
    >>> bpfast.save(clf, path)
    >>> loaded = bpfast.load(path)
    >>> np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    True
    """
    description, tensors = _describe(estimator)
    text = dumps(description)
    try:  # refuse to write what load would refuse to read
        model = _check_description(loads_json(text, "the model description"))
        _check_tensors(
            model, {name: (_safetensors.dtype_name(a.dtype), a.shape) for name, a in tensors}
        )
        for name, array in tensors:
            _check_finite(name, array)
    except ModelFormatError as exc:
        raise ValueError(f"cannot save this {type(estimator).__name__}: {exc}") from None
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": text,
        "sha256": _checksum(text, _safetensors.tensor_bytes([a for _, a in tensors])),
    }
    _write_atomically(path, lambda f: _safetensors.write(f, metadata, tensors))


def load(path: PathLike) -> Estimator:
    """Load an estimator from a model file written by :func:`save`.

    Loading never runs code or imports anything the file names: the file can
    only describe an MLPClassifier or an MLPRegressor, and every field is
    checked, and every size the file declares is compared with the file's real
    size before anything is read or allocated.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    estimator : MLPClassifier or MLPRegressor
        The fitted estimator, predicting exactly as the saved one did.

    Raises
    ------
    bpfast.ModelFormatError
        If the file is not a valid bpfast model file, in any way: another
        format or version, truncated, corrupted (checksum), inconsistent, or
        holding unknown or missing fields. The message names the problem.
    OSError
        If the file cannot be opened or read.

    See Also
    --------
    save : Write a model file.
    """
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        try:
            if not stat.S_ISREG(info.st_mode):
                raise ModelFormatError("it is not a regular file")
            return _read(f, info.st_size)
        except ModelFormatError as exc:
            raise ModelFormatError(
                f"{os.fsdecode(path)!r} is not a valid bpfast model file: {exc}"
            ) from None


# --------------------------------------------------------------------- reading


def _read(f: BinaryIO, size: int) -> Estimator:
    metadata, entries = _safetensors.read_header(f, size)
    _check_metadata(metadata)
    model = _check_description(loads_json(metadata["model"], "the model description"))
    _check_tensors(model, {name: (e.dtype, e.shape) for name, e in entries.items()})
    arrays = _safetensors.read_tensors(f, entries)  # in file order
    digest = _checksum(metadata["model"], _safetensors.tensor_bytes(list(arrays.values())))
    if digest != metadata["sha256"]:
        raise ModelFormatError("the checksum does not match: the file is corrupted")
    for name, array in arrays.items():
        _check_finite(name, array)
    return _build(model, arrays)


def _check_metadata(metadata: dict[str, str]) -> None:
    if "format" not in metadata:
        raise ModelFormatError("its metadata has no 'format': it is not a bpfast model file")
    if metadata["format"] != FORMAT_NAME:
        raise ModelFormatError(f"its format is {metadata['format']!r}, not {FORMAT_NAME!r}")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"its format_version is {version!r}; bpfast {__version__} reads version "
            f"{FORMAT_VERSION} (a newer bpfast may read this file)"
        )
    check_fields(metadata, _METADATA_FIELDS, set(), "its metadata")
    if not _SHA256.fullmatch(metadata["sha256"]):
        raise ModelFormatError("its sha256 is not 64 lowercase hexadecimal digits")


def _checksum(description: str, chunks: Iterable[bytes | memoryview]) -> str:
    """SHA-256 of the description (length-prefixed) and the tensor bytes."""
    text = description.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(len(text).to_bytes(8, "little"))
    digest.update(text)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _check_finite(name: str, array: np.ndarray) -> None:
    if not np.isfinite(array).all():
        raise ModelFormatError(f"tensor {name!r} holds NaN or infinite values")


# ------------------------------------------------------------ the description


@dataclass
class _Model:
    """A checked description: an unfitted estimator and its fitted state but the tensors."""

    estimator: Estimator
    dtype: np.dtype
    layer_units: list[int]
    out_activation: str
    feature_names: list[str] | None
    classes: np.ndarray | None
    target_type: str | None
    training: dict[str, object]
    best_is_current: bool
    optimizer: dict | None

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every tensor the file must hold, in file order."""
        units = self.layer_units
        pairs = list(zip(units[:-1], units[1:]))
        shapes = {f"coefs.{i}": (a, b) for i, (a, b) in enumerate(pairs)}
        shapes.update({f"intercepts.{i}": (b,) for i, (_, b) in enumerate(pairs)})
        if self.optimizer is not None:
            per_param = 2 if self.optimizer["solver"] == "adam" else 1
            shapes["optimizer_state"] = (per_param * n_params(units),)
        return shapes


def _check_description(desc) -> _Model:
    """Check every field of a description; raise ModelFormatError at the first problem."""
    if not isinstance(desc, dict):
        raise ModelFormatError("the model description is not a JSON object")
    name = desc.get("estimator")
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelFormatError(
            f"its estimator is {name!r}; a model file can hold "
            + " or ".join(map(repr, _ESTIMATORS))
        )
    is_classifier = cls is MLPClassifier
    check_fields(
        desc,
        _FIELDS | (_CLASSIFIER_FIELDS if is_classifier else set()),
        set(),
        "the model description",
    )
    if not isinstance(desc["bpfast_version"], str):
        raise ModelFormatError("bpfast_version is not a string")
    dtype = _DTYPES.get(desc["dtype"]) if isinstance(desc["dtype"], str) else None
    if dtype is None:
        raise ModelFormatError(f"dtype {desc['dtype']!r} is not 'float32' or 'float64'")
    layer_units = _check_layer_units(desc["layer_units"])
    estimator = _check_params(cls, desc["params"], layer_units)
    out_activation = desc["out_activation"]
    if is_classifier:
        target_type = desc["target_type"]
        classes = _check_classes(desc["classes"], target_type, out_activation, layer_units[-1])
    else:
        target_type = classes = None
        expected = _REGRESSOR_OUT_ACTIVATION[estimator.loss]
        if out_activation != expected:
            raise ModelFormatError(
                f"out_activation {out_activation!r} does not match loss "
                f"{estimator.loss!r} (expected {expected!r})"
            )
    training, best = _check_training(desc["training"])
    return _Model(
        estimator=estimator,
        dtype=dtype,
        layer_units=layer_units,
        out_activation=out_activation,
        feature_names=_check_feature_names(desc["feature_names"], layer_units[0]),
        classes=classes,
        target_type=target_type,
        training=training,
        best_is_current=best,
        optimizer=_check_optimizer(desc["optimizer"]),
    )


def _check_layer_units(units) -> list[int]:
    if not (
        isinstance(units, list)
        and 2 <= len(units) <= _MAX_LAYERS + 1
        and all(is_int(u) and 1 <= u <= _MAX_WIDTH for u in units)
    ):
        raise ModelFormatError(
            f"layer_units must list 2 to {_MAX_LAYERS + 1} widths from 1 to {_MAX_WIDTH}"
        )
    return units


def _check_params(cls: type, params, layer_units: list[int]) -> Estimator:
    """The estimator the parameters describe, with scikit-learn's validation of them."""
    if not isinstance(params, dict):
        raise ModelFormatError("params is not a JSON object")
    names = set(cls._get_param_names())
    check_fields(params, names - _OPTIONAL_PARAMS, names & _OPTIONAL_PARAMS, "params")
    values = {key: _decode_value(value, f"parameter {key!r}") for key, value in params.items()}
    if isinstance(values["hidden_layer_sizes"], list):
        values["hidden_layer_sizes"] = tuple(values["hidden_layer_sizes"])
    estimator = cls(**values)
    try:
        estimator._validate_params()
        hidden = estimator._hidden_sizes()
    except (ValueError, TypeError) as exc:  # InvalidParameterError is both
        raise ModelFormatError(f"invalid parameter: {exc}") from None
    if not (all(is_int(h) for h in hidden) and hidden == layer_units[1:-1]):
        raise ModelFormatError(
            f"hidden_layer_sizes {values['hidden_layer_sizes']!r} do not match the hidden "
            f"layers of widths {layer_units[1:-1]}"
        )
    # Checked here too: MLPRegressor's constraints do not cover n_threads, and
    # a file must not ask for more threads than any machine would want.
    n_threads = values["n_threads"]
    if not (n_threads is None or (is_int(n_threads) and 1 <= n_threads <= _MAX_THREADS)):
        raise ModelFormatError(
            f"n_threads={n_threads!r} is not None or an int from 1 to {_MAX_THREADS}"
        )
    return estimator


def _check_classes(classes, target_type, out_activation, n_outputs: int) -> np.ndarray:
    if not (isinstance(target_type, str) and target_type in _TARGET_TYPES):
        raise ModelFormatError(f"target_type {target_type!r} is not one of {list(_TARGET_TYPES)}")
    if out_activation != _TARGET_TYPES[target_type]:
        raise ModelFormatError(
            f"out_activation {out_activation!r} does not match target_type {target_type!r}"
        )
    if not isinstance(classes, dict):
        raise ModelFormatError("classes is not a JSON object")
    check_fields(classes, {"dtype", "values"}, set(), "classes")
    dtype, values = classes["dtype"], _decode_value(classes["values"], "classes")
    if not (isinstance(dtype, str) and _CLASS_DTYPE.fullmatch(dtype)):
        raise ModelFormatError(
            f"classes dtype {dtype!r} is not a bool, integer, float or unicode numpy dtype"
        )
    if not (isinstance(values, list) and values):
        raise ModelFormatError("classes values is not a non-empty list")
    kind = dtype[1]
    expected_type = {"b": bool, "i": int, "u": int, "f": float, "U": str}[kind]
    if not all(type(v) is expected_type for v in values):
        raise ModelFormatError(f"classes values are not all of the {expected_type.__name__} type")
    if kind == "U":
        width = int(dtype[2:])
        if width < max(len(v) for v in values) or 4 * width * len(values) > _MAX_LABEL_BYTES:
            raise ModelFormatError(f"classes dtype {dtype!r} does not fit its values")
    try:
        array = np.array(values, dtype=np.dtype(dtype))
    except (ValueError, TypeError, OverflowError):
        raise ModelFormatError(f"classes values do not fit dtype {dtype!r}") from None
    if array.tolist() != values:
        raise ModelFormatError(f"classes values do not fit dtype {dtype!r}")
    if not (array[1:] > array[:-1]).all():
        raise ModelFormatError("classes values are not sorted and unique")
    n_classes = len(values)
    if target_type == "binary":
        consistent = n_outputs == 1 and n_classes <= 2
    elif target_type == "multiclass":
        consistent = n_outputs == n_classes >= 3
    else:
        consistent = (
            n_outputs == n_classes >= 2 and kind in "iu" and values == list(range(n_classes))
        )
    if not consistent:
        raise ModelFormatError(
            f"{n_classes} classes of a {target_type} target do not match an output "
            f"layer of width {n_outputs}"
        )
    return array


def _check_feature_names(names, n_features: int) -> list[str] | None:
    if names is None:
        return None
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ModelFormatError("feature_names is not a list of strings")
    if len(names) != n_features:
        raise ModelFormatError(
            f"{len(names)} feature_names do not match the input layer of width {n_features}"
        )
    return names


def _check_training(training) -> tuple[dict[str, object], bool]:
    if not isinstance(training, dict):
        raise ModelFormatError("training is not a JSON object")
    required = {name.strip("_") for name in ALWAYS_FITTED} | {"best_is_current"}
    check_fields(training, required, set(_TRAINING_KEYS), "training")
    best = training["best_is_current"]
    if not isinstance(best, bool):
        raise ModelFormatError("training.best_is_current is not a boolean")
    attributes = {}
    for key, name in _TRAINING_KEYS.items():
        if key in training:
            value = _decode_value(training[key], f"training.{key}")
            if not _is_kind(value, TRAINING_ATTRIBUTES[name]):
                raise ModelFormatError(f"training.{key} is not a valid {TRAINING_ATTRIBUTES[name]}")
            attributes[name] = value
    return attributes, best


def _check_optimizer(optimizer) -> dict | None:
    if optimizer is None:
        return None
    if not isinstance(optimizer, dict):
        raise ModelFormatError("optimizer is not a JSON object or null")
    check_fields(optimizer, {"solver", "t", "learning_rate"}, set(), "optimizer")
    if optimizer["solver"] not in ("sgd", "adam"):
        raise ModelFormatError(f"optimizer solver {optimizer['solver']!r} is not 'sgd' or 'adam'")
    if not _is_kind(optimizer["t"], "count"):
        raise ModelFormatError("optimizer t is not a count")
    rate = optimizer["learning_rate"]
    if not (isinstance(rate, float) and rate >= 0):
        raise ModelFormatError("optimizer learning_rate is not a float >= 0")
    return optimizer


def _is_kind(value, kind: str) -> bool:
    """Whether ``value`` is of a kind of ``TRAINING_ATTRIBUTES``."""
    if kind.endswith("?"):
        return value is None or _is_kind(value, kind[:-1])
    if kind == "count":
        return is_int(value) and 0 <= value < 2**63
    if kind == "float":
        return isinstance(value, float)
    if kind == "floats":
        return isinstance(value, list) and all(isinstance(v, float) for v in value)
    raise AssertionError(kind)


def _check_tensors(model: _Model, declared: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """The declared tensors must be exactly those the description requires."""
    expected = model.tensor_shapes()
    missing = [name for name in expected if name not in declared]
    if missing:
        raise ModelFormatError(f"tensor(s) {', '.join(map(repr, missing))} are missing")
    unknown = sorted(set(declared) - set(expected))
    if unknown:
        raise ModelFormatError(f"tensor(s) {', '.join(map(repr, unknown))} are not expected")
    dtype = _safetensors.dtype_name(model.dtype)
    for name, shape in expected.items():
        found_dtype, found_shape = declared[name]
        if found_dtype != dtype:
            raise ModelFormatError(
                f"tensor {name!r} has dtype {found_dtype}, but the model is {model.dtype}"
            )
        if tuple(found_shape) != shape:
            raise ModelFormatError(
                f"tensor {name!r} has shape {list(found_shape)}, but layer_units "
                f"{model.layer_units} require {list(shape)}"
            )


def _build(model: _Model, arrays: dict[str, np.ndarray]) -> Estimator:
    """Set the fitted state on the model's estimator."""
    est = model.estimator
    n_layers = len(model.layer_units)
    # one slab with coefs_ and intercepts_ as its views, as fit leaves them: prediction
    # then uses it directly
    slab = pack(
        [arrays[f"coefs.{i}"] for i in range(n_layers - 1)],
        [arrays[f"intercepts.{i}"] for i in range(n_layers - 1)],
        model.layer_units,
        model.dtype,
    )
    est._set_params_from_slab(slab, model.layer_units)
    est.n_features_in_ = model.layer_units[0]
    if model.feature_names is not None:
        est.feature_names_in_ = np.array(model.feature_names, dtype=object)
    est.n_layers_ = n_layers
    est.n_outputs_ = model.layer_units[-1]
    est.out_activation_ = model.out_activation
    if model.classes is not None:
        est._label_binarizer = _label_binarizer(model.classes, model.target_type)
        est.classes_ = est._label_binarizer.classes_
    for name, value in model.training.items():
        setattr(est, name, value)
    if model.best_is_current:
        make_best_current(est)
    if model.optimizer is not None:
        est._optimizer_state = arrays["optimizer_state"]
        est._optimizer_solver = model.optimizer["solver"]
        est._optimizer_t = model.optimizer["t"]
        est._optimizer_learning_rate = model.optimizer["learning_rate"]
    return est


def _label_binarizer(classes: np.ndarray, target_type: str) -> LabelBinarizer:
    """A LabelBinarizer in the state ``fit`` leaves it, from its documented attributes."""
    binarizer = LabelBinarizer()
    binarizer.classes_ = classes
    binarizer.y_type_ = target_type
    binarizer.sparse_input_ = False
    return binarizer


# --------------------------------------------------------------------- writing


def _describe(est) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """The description and the tensors of a fitted estimator, unchecked."""
    if type(est) not in _ESTIMATORS.values():
        raise TypeError(
            f"bpfast.save saves bpfast's MLPClassifier and MLPRegressor, not {type(est).__name__}"
        )
    est._check_fitted()
    coefs, intercepts = list(est.coefs_), list(est.intercepts_)
    if not coefs or any(np.ndim(c) != 2 for c in coefs) or any(np.ndim(b) != 1 for b in intercepts):
        raise ValueError("coefs_ must hold 2-D arrays and intercepts_ 1-D arrays")
    dtype = weights_dtype(coefs + intercepts)
    layer_units = [int(np.shape(coefs[0])[0]), *(int(np.shape(c)[1]) for c in coefs)]
    for attribute, value in [
        ("n_features_in_", layer_units[0]),
        ("n_outputs_", layer_units[-1]),
        ("n_layers_", len(layer_units)),
    ]:
        if getattr(est, attribute) != value:
            raise ValueError(
                f"{attribute}={getattr(est, attribute)} does not match coefs_ of layer widths "
                f"{layer_units}"
            )
    training = {
        name.strip("_"): _encode_value(getattr(est, name), name)
        for name in TRAINING_ATTRIBUTES
        if hasattr(est, name)
    }
    training["best_is_current"] = best_is_current(est)
    names = getattr(est, "feature_names_in_", None)
    description = {
        "estimator": type(est).__name__,
        "bpfast_version": __version__,
        "params": {
            key: _encode_value(value, f"parameter {key!r}")
            for key, value in est.get_params(deep=False).items()
        },
        "dtype": dtype.name,
        "layer_units": layer_units,
        "out_activation": est.out_activation_,
        "feature_names": None if names is None else _encode_value(names, "feature_names_in_"),
        "training": training,
        "optimizer": None,
    }
    if isinstance(est, MLPClassifier):
        classes = np.asarray(est.classes_)
        description["classes"] = {
            "dtype": classes.dtype.str,
            "values": _encode_value(classes, "classes_"),
        }
        description["target_type"] = est._label_binarizer.y_type_
    tensors = [(f"coefs.{i}", np.asarray(c)) for i, c in enumerate(coefs)]
    tensors += [(f"intercepts.{i}", np.asarray(b)) for i, b in enumerate(intercepts)]
    state = getattr(est, "_optimizer_state", None)
    if state is not None:
        description["optimizer"] = {
            "solver": est._optimizer_solver,
            "t": int(est._optimizer_t),
            "learning_rate": float(est._optimizer_learning_rate),
        }
        tensors.append(("optimizer_state", np.asarray(state, dtype=dtype)))
    return description, tensors


def _write_atomically(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a new file that replaces ``path`` only once complete and on disk."""
    target = os.path.abspath(os.fsdecode(path))
    directory, name = os.path.split(target)
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    # Created as open() would create it (mode 0o666 less the umask), never reused.
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
    )
    try:
        with open(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- values


def _encode_value(value, where: str):
    """A JSON value for a parameter or attribute value (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [_encode_value(v, where) for v in value]
    if isinstance(value, np.random.RandomState):
        name, key, pos, has_gauss, cached_gaussian = value.get_state(legacy=True)
        return {
            "random_state": {
                "key": key.tolist(),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian),
            }
        }
    raise TypeError(f"{where} = {value!r} cannot be stored in a bpfast model file")


def _decode_value(value, where: str, *, in_list: bool = False):
    """The Python value of a JSON value written by ``_encode_value`` (lists are flat)."""
    if isinstance(value, list):
        if in_list:
            raise ModelFormatError(f"{where} holds a nested list")
        return [_decode_value(v, where, in_list=True) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"float"} and value["float"] in ("inf", "-inf", "nan"):
        return float(value["float"])
    if set(value) == {"random_state"}:
        return _decode_random_state(value["random_state"], where)
    raise ModelFormatError(f"{where} is an object that is not a tagged float or random state")


def _decode_random_state(state, where: str) -> np.random.RandomState:
    if not isinstance(state, dict):
        raise ModelFormatError(f"{where} is not a valid random state")
    check_fields(state, {"key", "pos", "has_gauss", "cached_gaussian"}, set(), where)
    key = state["key"]
    if not (
        isinstance(key, list)
        and len(key) == _MT19937_KEY_LENGTH
        and all(is_int(k) and 0 <= k < 2**32 for k in key)
        and is_int(state["pos"])
        and 0 <= state["pos"] <= _MT19937_KEY_LENGTH
        and state["has_gauss"] in (0, 1)
        and is_int(state["has_gauss"])
        and isinstance(state["cached_gaussian"], float)
    ):
        raise ModelFormatError(f"{where} is not a valid random state")
    random_state = np.random.RandomState()
    random_state.set_state(
        (
            "MT19937",
            np.array(key, dtype=np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    )
    return random_state
