"""Model files (bpfast.save / bpfast.load), and pickle, joblib, cloudpickle and skops.

A round trip must give a model that predicts bitwise identically and continues
training exactly as the original would. Every way a file can be wrong must
raise bpfast.ModelFormatError and nothing else: one test per kind of damage,
and property-based tests that mutate, truncate and extend valid files.

The tests read and rewrite files with their own small implementation of the
documented layout (8-byte header length, JSON header, data; the checksum over
the length-prefixed description and the data), independent of bpfast's.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import json
import os
import pickle
import shutil
import stat
import sys
import tempfile
import tracemalloc
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

import bpfast
from bpfast import MLPClassifier, MLPRegressor, ModelFormatError
from bpfast._fitted import TRAINING_ATTRIBUTES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------- models


def _data(n=60, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    return X, X @ rng.normal(size=(n_features, 3)), rng


@functools.lru_cache(maxsize=None)
def _fitted(kind):
    """(fitted estimator, X, y) of each kind of model; callers must not modify them."""
    X, s, rng = _data()
    small = dict(hidden_layer_sizes=(5,), max_iter=8, random_state=0)
    if kind == "binary":
        est, y = MLPClassifier(solver="sgd", **small), (s[:, 0] > 0).astype(int)
    elif kind == "multiclass":
        est, y = MLPClassifier(**small), np.array([3, 7, 11])[s.argmax(axis=1)]
    elif kind == "multilabel":
        est, y = MLPClassifier(**small), (s > 0).astype(int)
    elif kind == "strings":
        est, y = (
            MLPClassifier(solver="lbfgs", **small),
            np.array(["cat", "dog", "emu"])[s.argmax(axis=1)],
        )
    elif kind == "bools":
        est, y = MLPClassifier(solver="sgd", learning_rate="adaptive", **small), s[:, 0] > 0
    elif kind == "regression":
        est, y = MLPRegressor(**small), s[:, 0]
    elif kind == "multioutput":
        est, y = MLPRegressor(solver="sgd", learning_rate="invscaling", **small), s[:, :2]
    elif kind == "poisson":
        est = MLPRegressor(loss="poisson", **small)
        y = rng.poisson(np.exp(0.5 * np.tanh(s[:, 0]))).astype(np.float64)
    elif kind == "float32":
        est, y = MLPClassifier(**small), np.array([3, 7, 11])[s.argmax(axis=1)]
        X = X.astype(np.float32)
    elif kind == "sparse":
        est, y = MLPClassifier(solver="sgd", **small), (s[:, 0] > 0).astype(int)
        X = sp.csr_matrix(np.where(X > 0, X, 0.0))
    elif kind == "pandas":
        est, y = MLPRegressor(**small), s[:, 0]
        X = pd.DataFrame(X, columns=["age", "height", "weight", "größe"])
    elif kind == "early_stopping":
        est = MLPClassifier(early_stopping=True, **small)
        y = np.array(["a", "b", "c"])[s.argmax(axis=1)]
    elif kind == "deep_random_state_object":
        est = MLPClassifier(
            hidden_layer_sizes=(4, 3, 2), max_iter=5, random_state=np.random.RandomState(5)
        )
        y = (s[:, 0] > 0).astype(int)
    elif kind == "no_hidden_layer":
        est, y = MLPRegressor(hidden_layer_sizes=(), solver="lbfgs", max_iter=5), s[:, 0]
    else:
        raise ValueError(kind)
    return est.fit(X, y), X, y


KINDS = [
    "binary",
    "multiclass",
    "multilabel",
    "strings",
    "bools",
    "regression",
    "multioutput",
    "poisson",
    "float32",
    "sparse",
    "pandas",
    "early_stopping",
    "deep_random_state_object",
    "no_hidden_layer",
]


def _comparable_params(est):
    params = est.get_params(deep=False)
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if isinstance(params["random_state"], np.random.RandomState):
        state = params["random_state"].get_state(legacy=True)
        params["random_state"] = (state[0], state[1].tolist(), *state[2:])
    return params


def assert_same_model(loaded, original, X):
    """Same class, parameters, fitted state and bitwise-equal predictions."""
    assert type(loaded) is type(original)
    assert _comparable_params(loaded) == _comparable_params(original)
    for a, b in zip(loaded.coefs_ + loaded.intercepts_, original.coefs_ + original.intercepts_):
        assert a.dtype == b.dtype
        assert_array_equal(a, b)
    for name in [
        "n_features_in_",
        "n_layers_",
        "n_outputs_",
        "out_activation_",
        *TRAINING_ATTRIBUTES,
    ]:
        assert hasattr(loaded, name) == hasattr(original, name), name
        if hasattr(original, name):
            assert getattr(loaded, name) == getattr(original, name), name
    if hasattr(original, "feature_names_in_"):
        assert_array_equal(loaded.feature_names_in_, original.feature_names_in_)
    else:
        assert not hasattr(loaded, "feature_names_in_")
    prediction = loaded.predict(X)
    assert prediction.dtype == original.predict(X).dtype
    assert_array_equal(prediction, original.predict(X))
    if isinstance(original, MLPClassifier):
        assert loaded.classes_.dtype == original.classes_.dtype
        assert_array_equal(loaded.classes_, original.classes_)
        assert loaded._label_binarizer.y_type_ == original._label_binarizer.y_type_
        proba = loaded.predict_proba(X)
        assert proba.dtype == original.predict_proba(X).dtype
        assert_array_equal(proba, original.predict_proba(X))


def _continue_training(est, X, y):
    """One more step of training: partial_fit where it exists, else a warm-started fit."""
    if est.solver == "lbfgs" or est.early_stopping:
        est.set_params(warm_start=True, max_iter=3)
        return est.fit(X, y)
    return est.partial_fit(X, y)


def assert_same_training(loaded, original, X, y):
    """Training both further gives bitwise the same weights and records."""
    a = _continue_training(loaded, X, y)
    b = _continue_training(copy.deepcopy(original), X, y)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(u, v)
    for name in TRAINING_ATTRIBUTES:
        assert getattr(a, name, "absent") == getattr(b, name, "absent"), name


# ---------------------------------------------------- the file layout, independently


def _split(raw):
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header, data, resign=True):
    if resign:
        metadata = header["__metadata__"]
        description = metadata["model"].encode("utf-8")
        metadata["sha256"] = hashlib.sha256(
            len(description).to_bytes(8, "little") + description + bytes(data)
        ).hexdigest()
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return len(text).to_bytes(8, "little") + text + bytes(data)


@functools.lru_cache(maxsize=None)
def _base_file(name):
    """A valid model file: a float64 classifier trained by adam, or an sgd regressor."""
    X, s, _ = _data()
    if name == "classifier":
        X = pd.DataFrame(X, columns=list("abcd"))
        est = MLPClassifier((4, 3), max_iter=5, random_state=0)
        est.fit(X, np.array(["cat", "dog", "emu"])[s.argmax(axis=1)])
    else:
        est = MLPRegressor(hidden_layer_sizes=(3,), solver="sgd", max_iter=5, random_state=0)
        est.fit(X, s[:, :2])
    path = os.path.join(_scratch(), f"{name}.bpfast")
    bpfast.save(est, path)
    with open(path, "rb") as f:
        return f.read(), est, X


@functools.lru_cache(maxsize=None)
def _scratch():
    """A directory for the files the tests write, removed when Python exits."""
    path = tempfile.mkdtemp(prefix="bpfast-test-persistence-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def test_file_follows_the_documented_layout():
    raw, est, _ = _base_file("classifier")
    header, data = _split(raw)
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0 and raw[8:9] == b"{"
    metadata = header.pop("__metadata__")
    assert set(metadata) == {"format", "format_version", "model", "sha256"}
    assert (metadata["format"], metadata["format_version"]) == ("bpfast", "1")
    description = json.loads(metadata["model"])
    assert description["estimator"] == "MLPClassifier"
    assert description["layer_units"] == [4, 4, 3, 3]
    assert description["feature_names"] == list("abcd")
    assert description["classes"] == {"dtype": "<U3", "values": ["cat", "dog", "emu"]}
    assert description["params"] == json.loads(json.dumps(est.get_params()))
    names = [
        "coefs.0",
        "coefs.1",
        "coefs.2",
        "intercepts.0",
        "intercepts.1",
        "intercepts.2",
        "optimizer_state",
    ]
    assert list(header) == names
    position = 0
    for name in names:
        begin, end = header[name]["data_offsets"]
        assert begin == position and header[name]["dtype"] == "F64"
        array = np.frombuffer(data[begin:end], dtype="<f8").reshape(header[name]["shape"])
        if name.startswith("coefs"):
            assert_array_equal(array, est.coefs_[int(name[-1])])
        position = end
    assert position == len(data)


def test_file_is_readable_by_safetensors():
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    raw, est, _ = _base_file("regressor")
    tensors = safetensors_numpy.load(raw)
    assert_array_equal(tensors["coefs.1"], est.coefs_[1])


# ------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_identically_and_trains_on(kind, tmp_path):
    est, X, y = _fitted(kind)
    path = tmp_path / "model.bpfast"
    bpfast.save(est, path)
    loaded = bpfast.load(path)
    assert_same_model(loaded, est, X)
    assert_same_training(loaded, est, X, y)


def test_early_stopping_best_weights_stay_the_current_weights(tmp_path):
    est, _, _ = _fitted("early_stopping")
    bpfast.save(est, tmp_path / "m.bpfast")
    loaded = bpfast.load(tmp_path / "m.bpfast")
    assert est._best_coefs is est.coefs_ and loaded._best_coefs is loaded.coefs_


def test_save_accepts_str_and_bytes_paths_and_replaces_a_file(tmp_path):
    est, X, _ = _fitted("regression")
    other, _, _ = _fitted("poisson")
    path = str(tmp_path / "model.bpfast")
    bpfast.save(other, path)
    bpfast.save(est, os.fsencode(path))
    assert_same_model(bpfast.load(path), est, X)
    assert os.listdir(tmp_path) == ["model.bpfast"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_has_the_permissions_open_would_give(tmp_path):
    bpfast.save(_fitted("regression")[0], tmp_path / "m.bpfast")
    (tmp_path / "plain").write_bytes(b"")
    assert stat.S_IMODE(os.stat(tmp_path / "m.bpfast").st_mode) == stat.S_IMODE(
        os.stat(tmp_path / "plain").st_mode
    )


class _Interrupted(BaseException):
    pass


@pytest.mark.parametrize("failure", [OSError("No space left on device"), _Interrupted()])
def test_failed_save_leaves_the_old_file_intact(failure, tmp_path, monkeypatch):
    import bpfast._safetensors as container

    old, X, _ = _fitted("multiclass")
    path = tmp_path / "model.bpfast"
    bpfast.save(old, path)
    before = path.read_bytes()
    real_write = container.write

    def write_half_then_fail(f, metadata, tensors):
        import io

        buffer = io.BytesIO()
        real_write(buffer, metadata, tensors)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise failure

    monkeypatch.setattr(container, "write", write_half_then_fail)
    with pytest.raises(type(failure)):
        bpfast.save(_fitted("binary")[0], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.bpfast"]
    assert_same_model(bpfast.load(path), old, X)


def test_save_refuses_what_it_cannot_store(tmp_path):
    path = tmp_path / "m.bpfast"
    with pytest.raises(NotFittedError):
        bpfast.save(MLPClassifier(), path)
    X, s, _ = _data()
    with pytest.raises(TypeError, match="not MLPClassifier"):  # scikit-learn's own class
        bpfast.save(SkMLPClassifier(max_iter=2).fit(X, s[:, 0] > 0), path)
    est = copy.deepcopy(_fitted("regression")[0])
    est.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        bpfast.save(est, path)
    est = copy.deepcopy(_fitted("regression")[0])
    est.intercepts_[0] = est.intercepts_[0].astype(np.float32)
    with pytest.raises(ValueError, match="all be float32 or all float64"):
        bpfast.save(est, path)
    est = copy.deepcopy(_fitted("regression")[0]).set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        bpfast.save(est, path)
    est = copy.deepcopy(_fitted("regression")[0]).set_params(random_state=object())
    with pytest.raises(TypeError, match="random_state"):
        bpfast.save(est, path)
    assert not os.listdir(tmp_path)


def test_load_of_a_missing_file_or_a_device_raises_os_or_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        bpfast.load(tmp_path / "absent.bpfast")
    if os.path.exists("/dev/null"):
        with pytest.raises(ModelFormatError, match="not a regular file"):
            bpfast.load("/dev/null")


# ------------------------------------------------------- pickle and friends


def _cloudpickle_round_trip(est, path):
    cloudpickle = pytest.importorskip("cloudpickle")
    return cloudpickle.loads(cloudpickle.dumps(est))


def _joblib_round_trip(est, path):
    joblib.dump(est, path)
    return joblib.load(path)


def _pickle_round_trip(est, path):
    return pickle.loads(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize(
    "round_trip",
    [_pickle_round_trip, _joblib_round_trip, _cloudpickle_round_trip],
    ids=["pickle", "joblib", "cloudpickle"],
)
@pytest.mark.parametrize(
    "kind", ["multiclass", "strings", "multioutput", "float32", "early_stopping"]
)
def test_pickle_round_trips(round_trip, kind, tmp_path):
    est, X, y = _fitted(kind)
    loaded = round_trip(est, tmp_path / "model.pkl")
    assert_same_model(loaded, est, X)
    assert_same_training(loaded, est, X, y)


def test_pickling_leaves_the_estimator_as_it_was():
    est, X, _ = _fitted("early_stopping")
    before = dict(est.__dict__)
    expected = est.predict_proba(X[:1])
    pickle.dumps(est)
    assert est.__dict__.keys() == before.keys()
    assert all(est.__dict__[name] is value for name, value in before.items())
    assert_array_equal(est.predict_proba(X[:1]), expected)


@pytest.mark.parametrize(
    "kind", ["multiclass", "strings", "multilabel", "poisson", "float32", "early_stopping"]
)
def test_skops_needs_to_trust_only_the_bpfast_class(kind, tmp_path):
    sio = pytest.importorskip("skops.io")
    est, X, y = _fitted(kind)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    name = f"{type(est).__module__}.{type(est).__name__}"
    # The LabelBinarizer, the RandomState and numpy arrays are all trusted already.
    assert sio.get_untrusted_types(file=path) == [name]
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=[name])
    assert_same_model(loaded, est, X)
    assert_same_training(loaded, est, X, y)


# ------------------------------------------------------------ damaged files


def _header_edit(edit, resign=False):
    def mutate(raw):
        header, data = _split(raw)
        data = bytearray(data)
        edit(header, data)
        return _join(header, data, resign)

    return mutate


def _description_edit(edit):
    def apply(header, data):
        description = json.loads(header["__metadata__"]["model"])
        edit(description)
        header["__metadata__"]["model"] = json.dumps(description)

    return _header_edit(apply, resign=True)


def _raw_header(text: bytes):
    return lambda raw: len(text).to_bytes(8, "little") + text


def _set(mapping, path, value):
    *parents, last = path
    for key in parents:
        mapping = mapping[key]
    if value is _DELETE:
        del mapping[last]
    else:
        mapping[last] = value


_DELETE = object()


def _field(*path, value):
    return _description_edit(lambda d: _set(d, path, value))


def _tensor_field(name, key, value):
    return _header_edit(lambda h, d: _set(h, (name, key), value))


def _shift_offsets(name, delta):
    def edit(header, data):
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [begin + delta, end + delta]

    return _header_edit(edit)


def _declare_huge_first_layer(header, data):
    """coefs.0 declared as 10^6 x 10^6 float64, later offsets shifted to keep the tiling."""
    old = header["coefs.0"]["data_offsets"][1]
    new = 8 * 10**12
    header["coefs.0"].update(shape=[10**6, 10**6], data_offsets=[0, new])
    for name, entry in header.items():
        if name not in ("__metadata__", "coefs.0"):
            begin, end = entry["data_offsets"]
            entry["data_offsets"] = [begin - old + new, end - old + new]


def _drop_optimizer_state(header, data):
    begin, _ = header.pop("optimizer_state")["data_offsets"]
    del data[begin:]


def _add_empty_tensor(header, data):
    header["extra"] = {"dtype": "F64", "shape": [0], "data_offsets": [len(data), len(data)]}


def _as_float32(header, data):
    rows, cols = header["coefs.0"]["shape"]
    header["coefs.0"].update(dtype="F32", shape=[rows, 2 * cols])


def _put_in_data(value):
    def edit(header, data):
        begin, _ = header["coefs.1"]["data_offsets"]
        data[begin : begin + 8] = np.array([value], dtype="<f8").tobytes()

    return _header_edit(edit, resign=True)


def _flip_bit_in_data(raw):
    raw = bytearray(raw)
    raw[-3] ^= 0x10
    return bytes(raw)


CLASSIFIER_DAMAGE = {
    # the container
    "empty": (lambda raw: b"", "fewer than the 8"),
    "shorter than a header length": (lambda raw: raw[:5], "fewer than the 8"),
    "random bytes": (lambda raw: np.random.RandomState(0).bytes(1000), "more than the limit"),
    "pickle bytes": (lambda raw: pickle.dumps({"a": 1}) * 3, "more than the limit"),
    "header length 2**40": (
        lambda raw: (2**40).to_bytes(8, "little") + raw[8:],
        "more than the limit",
    ),
    "header cut short": (lambda raw: raw[:200], "truncated"),
    "data cut short": (lambda raw: raw[:-10], "truncated"),
    "trailing bytes": (lambda raw: raw + bytes(16), "unexpected bytes after"),
    "header not UTF-8": (_raw_header(b'{"\xff": 1}'), "not UTF-8"),
    "header not JSON": (_raw_header(b'{"a": '), "not valid JSON"),
    "header not an object": (_raw_header(b"[1, 2]   "), "not a JSON object"),
    "duplicate keys": (_raw_header(b'{"a": 1, "a": 2}'), "duplicate key 'a'"),
    "NaN in header": (_raw_header(b'{"a": NaN}'), "NaN is not a JSON number"),
    "number overflow": (_raw_header(b'{"a": 1e999}'), "out of range"),
    "huge integer literal": (_raw_header(b'{"a": 1' + b"0" * 5000 + b"}"), "integer literal"),
    "deep nesting": (
        _raw_header(b'{"a": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
        "not valid JSON",
    ),
    "metadata values not strings": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "format_version"), 1)),
        "map of strings to strings",
    ),
    "tensor entry with an unknown field": (
        _tensor_field("coefs.0", "pickle", "x"),
        "unknown field",
    ),
    "tensor entry without offsets": (
        _tensor_field("coefs.0", "data_offsets", _DELETE),
        "lacks the field",
    ),
    "tensor of an unsupported dtype": (
        _tensor_field("coefs.0", "dtype", "I64"),
        "only F32 and F64",
    ),
    "negative dimension": (_tensor_field("coefs.0", "shape", [-4, -4]), "invalid shape"),
    "shape disagrees with offsets": (
        _tensor_field("coefs.0", "shape", [4, 5]),
        "data_offsets span",
    ),
    "overlapping tensors": (_shift_offsets("coefs.1", -8), "overlaps"),
    "gap between tensors": (_shift_offsets("coefs.1", 8), "gap"),
    "huge declared tensor": (_header_edit(_declare_huge_first_layer), "tensors need 8000000"),
    # the metadata
    "no metadata": (_header_edit(lambda h, d: h.pop("__metadata__")), "no 'format'"),
    "another format": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "format"), "gguf")),
        "'gguf'",
    ),
    "future version": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "format_version"), "2")),
        "format_version is '2'",
    ),
    "unknown metadata field": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "signature"), "x"), resign=True),
        "unknown field\\(s\\) 'signature'",
    ),
    "no checksum": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "sha256"), _DELETE)),
        "lacks the field\\(s\\) 'sha256'",
    ),
    "malformed checksum": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "sha256"), "abc")),
        "64 lowercase",
    ),
    "a bit flipped in the data": (_flip_bit_in_data, "checksum does not match"),
    "description changed, checksum not": (
        _header_edit(
            lambda h, d: _set(
                h,
                ("__metadata__", "model"),
                h["__metadata__"]["model"].replace('"alpha":0.0001', '"alpha":0.0002'),
            )
        ),
        "checksum does not match",
    ),
    # the description
    "description not JSON": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "model"), "{"), resign=True),
        "description is not valid JSON",
    ),
    "description not an object": (
        _header_edit(lambda h, d: _set(h, ("__metadata__", "model"), "[]"), resign=True),
        "not a JSON object",
    ),
    "estimator naming a function": (
        _field("estimator", value="os.system"),
        "estimator is 'os.system'",
    ),
    "estimator naming scikit-learn's class": (
        _field("estimator", value="sklearn.neural_network.MLPClassifier"),
        "can hold 'MLPClassifier' or 'MLPRegressor'",
    ),
    "unknown description field": (_field("pickle", value="gASV"), "unknown field\\(s\\) 'pickle'"),
    "missing description field": (
        _field("training", value=_DELETE),
        "lacks the field\\(s\\) 'training'",
    ),
    "unsupported dtype": (_field("dtype", value="float16"), "dtype 'float16'"),
    "layer widths not integers": (_field("layer_units", value=[4, "4", 3, 3]), "layer_units must"),
    "too many layers": (_field("layer_units", value=[1] * 5000), "layer_units must"),
    "layer widths that do not chain with the tensors": (
        _description_edit(
            lambda d: d.update(layer_units=[4, 3, 4, 3])
            or d["params"].update(hidden_layer_sizes=[3, 4])
        ),
        "has shape \\[4, 4\\], but layer_units \\[4, 3, 4, 3\\] require \\[4, 3\\]",
    ),
    "tensor shapes swapped": (_tensor_field("coefs.1", "shape", [3, 4]), "has shape \\[3, 4\\]"),
    "tensor dtype other than the model's": (
        _header_edit(_as_float32),
        "has dtype F32, but the model is float64",
    ),
    "missing tensor": (
        _header_edit(_drop_optimizer_state, resign=True),
        "'optimizer_state' are missing",
    ),
    "extra tensor": (_header_edit(_add_empty_tensor), "'extra' are not expected"),
    "unknown parameter": (
        _field("params", "shell", value="rm -rf /"),
        "unknown field\\(s\\) 'shell'",
    ),
    "missing parameter": (
        _field("params", "alpha", value=_DELETE),
        "lacks the field\\(s\\) 'alpha'",
    ),
    "invalid parameter": (
        _field("params", "activation", value="__import__('os')"),
        "invalid parameter",
    ),
    "parameter as an object": (
        _field("params", "alpha", value={"__reduce__": "os.system"}),
        "not a tagged float",
    ),
    "nested list parameter": (
        _field("params", "hidden_layer_sizes", value=[[4], 3]),
        "nested list",
    ),
    "bad random state": (
        _field(
            "params",
            "random_state",
            value={"random_state": {"key": [1], "pos": 0, "has_gauss": 0, "cached_gaussian": 0.0}},
        ),
        "not a valid random state",
    ),
    "hidden sizes not those of the layers": (
        _field("params", "hidden_layer_sizes", value=[4, 4]),
        "do not match",
    ),
    "too many threads": (_field("params", "n_threads", value=10**6), "an int from 1 to 1024"),
    "output activation of another target": (
        _field("out_activation", value="logistic"),
        "does not match target_type",
    ),
    "unknown target type": (_field("target_type", value="continuous"), "target_type 'continuous'"),
    "feature names of the wrong count": (
        _field("feature_names", value=["a", "b"]),
        "2 feature_names",
    ),
    "feature names not strings": (
        _field("feature_names", value=[1, 2, 3, 4]),
        "not a list of strings",
    ),
    "object class dtype": (_field("classes", "dtype", value="|O"), "is not a bool, integer"),
    "huge unicode class dtype": (_field("classes", "dtype", value="<U999999999"), "does not fit"),
    "classes of another kind than their dtype": (
        _field("classes", "dtype", value="|b1"),
        "not all of the bool type",
    ),
    "classes that overflow their dtype": (
        _field("classes", value={"dtype": "|u1", "values": [1, 2, 300]}),
        "do not fit dtype",
    ),
    "class longer than its dtype": (_field("classes", "dtype", value="<U2"), "does not fit"),
    "classes not sorted": (
        _field("classes", "values", value=["emu", "dog", "cat"]),
        "sorted and unique",
    ),
    "classes not matching the outputs": (
        _field("classes", "values", value=["cat", "dog", "emu", "fox"]),
        "4 classes of a multiclass target",
    ),
    "missing training count": (
        _field("training", "n_iter", value=_DELETE),
        "lacks the field\\(s\\) 'n_iter'",
    ),
    "negative training count": (_field("training", "n_iter", value=-1), "not a valid count"),
    "training record of the wrong type": (
        _field("training", "loss_curve", value=["low"]),
        "not a valid floats",
    ),
    "unknown training field": (_field("training", "callback", value="x"), "unknown field"),
    "optimizer of another solver": (
        _field("optimizer", "solver", value="lbfgs"),
        "is not 'sgd' or 'adam'",
    ),
    "optimizer state of the wrong size": (
        _field("optimizer", "solver", value="sgd"),
        "'optimizer_state' has shape",
    ),
    "optimizer state without an optimizer": (
        _field("optimizer", value=None),
        "'optimizer_state' are not expected",
    ),
    # the values
    "NaN weight with a valid checksum": (_put_in_data(np.nan), "NaN or infinite"),
    "infinite weight with a valid checksum": (_put_in_data(-np.inf), "NaN or infinite"),
}

REGRESSOR_DAMAGE = {
    "classes in a regressor": (
        _field("classes", value={"dtype": "<i8", "values": [0, 1]}),
        "unknown field\\(s\\) 'classes'",
    ),
    "output activation not that of the loss": (
        _field("out_activation", value="exp"),
        "does not match loss",
    ),
    "regressor naming a classifier": (
        _field("estimator", value="MLPClassifier"),
        "lacks the field",
    ),
}


def _load_bytes(raw, name="damaged.bpfast"):
    path = os.path.join(_scratch(), name)
    with open(path, "wb") as f:
        f.write(raw)
    return bpfast.load(path)


@pytest.mark.parametrize(
    "base, damage",
    [("classifier", d) for d in CLASSIFIER_DAMAGE] + [("regressor", d) for d in REGRESSOR_DAMAGE],
)
def test_damaged_file_raises_model_format_error(base, damage):
    mutate, message = (CLASSIFIER_DAMAGE if base == "classifier" else REGRESSOR_DAMAGE)[damage]
    raw, _, _ = _base_file(base)
    damaged = mutate(raw)
    assert damaged != raw
    with pytest.raises(ModelFormatError, match=message) as info:
        _load_bytes(damaged)
    assert isinstance(info.value, ValueError)
    assert "damaged.bpfast" in str(info.value)  # the message names the file


def test_declared_sizes_are_checked_before_anything_is_allocated():
    raw, _, _ = _base_file("classifier")
    damaged = _header_edit(_declare_huge_first_layer)(raw)  # 8 TB of float64 declared
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="truncated"):
            _load_bytes(damaged)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


# ------------------------------------------------------------ property tests


def _set_bytes(raw, edits):
    raw = bytearray(raw)
    for position, value in edits:
        raw[position % len(raw)] = value
    return bytes(raw)


def _damage(raw):
    """Byte-level damage: overwritten bytes, truncation, extension, insertion, deletion."""
    n = len(raw)
    position = st.integers(0, n - 1)
    return st.one_of(
        st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=8).map(
            lambda edits: _set_bytes(raw, edits)
        ),
        st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), min_size=1, max_size=4).map(
            lambda edits: _set_bytes(raw, edits)  # the header, densely
        ),
        position.map(lambda k: raw[:k]),
        st.binary(min_size=1, max_size=64).map(lambda extra: raw + extra),
        st.tuples(position, st.binary(min_size=1, max_size=16)).map(
            lambda p: raw[: p[0]] + p[1] + raw[p[0] :]
        ),
        st.tuples(position, st.integers(1, 16)).map(lambda p: raw[: p[0]] + raw[p[0] + p[1] :]),
    )


_PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@_PROPERTY_SETTINGS
@given(data=st.data())
def test_damaged_bytes_raise_only_model_format_error(data):
    base = data.draw(st.sampled_from(["classifier", "regressor"]))
    raw, est, X = _base_file(base)
    damaged = data.draw(_damage(raw))
    try:
        loaded = _load_bytes(damaged, "property.bpfast")
    except ModelFormatError:
        return
    # Only changes a reader may ignore get here (a padding space turned into
    # other JSON whitespace, a byte overwritten by itself): the same model.
    assert_same_model(loaded, est, X)


@_PROPERTY_SETTINGS
@given(data=st.data())
def test_any_description_that_loads_gives_a_working_model(data):
    """Damage the description and re-sign it, so that the checks behind the checksum run."""
    base = data.draw(st.sampled_from(["classifier", "regressor"]))
    raw, est, X = _base_file(base)
    header, tensors = _split(raw)
    text = header["__metadata__"]["model"].encode("ascii")
    header["__metadata__"]["model"] = data.draw(_damage(text)).decode("latin-1")
    try:
        loaded = _load_bytes(_join(header, tensors), "property.bpfast")
    except ModelFormatError:
        return
    # A plain array: the feature names may have been changed, validly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prediction = loaded.predict(np.asarray(X))
    assert prediction.shape == est.predict(X).shape


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(
        [
            0,
            1,
            -1,
            2**63,
            "F32",
            "F64",
            "float32",
            "relu",
            "exp",
            "softmax",
            "adam",
            "sgd",
            {"float": "nan"},
            {"float": "inf"},
            {"random_state": {}},
            "<U3",
            "|b1",
            "multiclass",
        ]
    ),
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=5,
)


def _json_paths(obj, prefix=()):
    yield prefix
    children = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    )
    for key, value in children:
        yield from _json_paths(value, (*prefix, key))


@_PROPERTY_SETTINGS
@given(data=st.data())
def test_any_changed_field_raises_model_format_error_or_gives_a_working_model(data):
    """Replace, delete or add one JSON value anywhere in the header or the description."""
    base = data.draw(st.sampled_from(["classifier", "regressor"]))
    raw, est, X = _base_file(base)
    header, tensors = _split(raw)
    document = {"header": header, "description": json.loads(header["__metadata__"]["model"])}
    paths = sorted((p for p in _json_paths(document) if len(p) >= 2), key=repr)
    path = data.draw(st.sampled_from(paths))
    *parents, last = path
    parent = functools.reduce(lambda obj, key: obj[key], parents, document)
    operation = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if operation == "replace":
        parent[last] = data.draw(_JSON_VALUES)
    elif operation == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][data.draw(st.text(max_size=4))] = data.draw(_JSON_VALUES)
    elif isinstance(parent[last], list):
        parent[last].append(data.draw(_JSON_VALUES))
    metadata = document["header"].get("__metadata__")
    if isinstance(metadata, dict) and "model" in metadata:
        metadata["model"] = json.dumps(document["description"])
    resign = isinstance(metadata, dict) and isinstance(metadata.get("model"), str)
    try:
        loaded = _load_bytes(_join(document["header"], tensors, resign=resign), "property.bpfast")
    except ModelFormatError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prediction = loaded.predict(np.asarray(X))
    assert prediction.shape == est.predict(X).shape
