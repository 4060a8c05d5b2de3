"""The ``bpfast train`` and ``bpfast predict`` commands (bpfast/_cli.py).

Most tests call ``bpfast.__main__.main`` in-process; two run ``python -m bpfast``
in a child process (a round trip, and Ctrl-C). Round trips must predict exactly
what the saved model, and the same estimator fitted directly, predict. Every
problem with the user's files must exit with status 2 and one line
``bpfast: error: ...`` naming it, never a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from io import StringIO

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning

import bpfast
from bpfast import _cli
from bpfast.__main__ import main

pd = pytest.importorskip("pandas")

FIT = ["--max-iter", "20", "--hidden", "8", "--random-state", "0", "--n-threads", "1"]
PARAMS = {"max_iter": 20, "hidden_layer_sizes": (8,), "random_state": 0, "n_threads": 1}
IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)``: the exit code, stdout and stderr."""
    code = main([os.fspath(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(text_or_path):
    """Read a CSV file, or CSV text."""
    if isinstance(text_or_path, str) and "\n" in text_or_path:
        text_or_path = StringIO(text_or_path)
    return pd.read_csv(text_or_path)


def fitted_directly(cls, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**PARAMS).fit(X, y)


@pytest.fixture
def iris(tmp_path):
    """Iris with the species as text in column 'species', as a CSV file."""
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns={"target": "species"})
    frame["species"] = data.target_names[data.target]
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def diabetes():
    """Diabetes with the disease progression in column 'target' (float)."""
    return load_diabetes(as_frame=True).frame


@pytest.fixture
def iris_model(iris, tmp_path, capsys):
    model = tmp_path / "iris.bpf"
    assert run(capsys, "train", iris, "--target", "species", "--out", model, *FIT)[0] == 0
    return model


@pytest.fixture
def diabetes_model(diabetes, tmp_path, capsys):
    data, model = tmp_path / "diabetes.csv", tmp_path / "diabetes.bpf"
    diabetes.to_csv(data, index=False)
    assert run(capsys, "train", data, "--target", "target", "--out", model, *FIT)[0] == 0
    return model


# ------------------------------------------------------------- round trips


def test_classifier_round_trip(iris, iris_model, capsys):
    frame = read_csv(iris)
    est = bpfast.load(iris_model)
    assert isinstance(est, bpfast.MLPClassifier)
    assert list(est.feature_names_in_) == IRIS_FEATURES
    code, out, err = run(capsys, "predict", iris_model, iris)
    assert code == 0 and err == ""
    predicted = read_csv(out)
    assert list(predicted.columns) == ["prediction"]
    assert_array_equal(predicted["prediction"], est.predict(frame[IRIS_FEATURES]))
    direct = fitted_directly(bpfast.MLPClassifier, frame[IRIS_FEATURES], frame["species"])
    assert_array_equal(predicted["prediction"], direct.predict(frame[IRIS_FEATURES]))


def test_train_prints_a_summary(iris, tmp_path, capsys):
    code, out, err = run(capsys, "train", iris, "--target", "species",
                         "--out", tmp_path / "m.bpf", *FIT)
    assert code == 0 and out == ""
    summary = err.splitlines()[-1]
    for part in ("classify", "150 rows x 4 features", "3 classes", "training accuracy", " s "):
        assert part in summary
    # scikit-learn's ConvergenceWarning arrives as one line, not as a Python warning
    assert "bpfast: warning: Stochastic Optimizer: Maximum iterations (20)" in err


def test_default_model_file(iris, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "train", iris, "--target", "species", *FIT)[0] == 0
    assert isinstance(bpfast.load(tmp_path / "model.bpf"), bpfast.MLPClassifier)


def test_proba(iris, iris_model, tmp_path, capsys):
    out = tmp_path / "proba.csv"
    code, stdout, _ = run(capsys, "predict", iris_model, iris, "--proba", "--out", out)
    assert code == 0 and stdout == ""
    proba = read_csv(out)
    assert list(proba.columns) == ["proba_setosa", "proba_versicolor", "proba_virginica"]
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    est = bpfast.load(iris_model)
    assert_array_equal(proba.to_numpy(), est.predict_proba(read_csv(iris)[IRIS_FEATURES]))


@pytest.mark.parametrize("extension", [".csv", ".tsv", ".txt", ".parquet", ".pq"])
def test_regressor_round_trip_by_format(diabetes, extension, tmp_path, capsys):
    data, model = tmp_path / f"data{extension}", tmp_path / "model.bpf"
    if extension in (".parquet", ".pq"):
        pytest.importorskip("pyarrow")
        diabetes.to_parquet(data)
    else:
        diabetes.to_csv(data, sep="\t" if extension == ".tsv" else ",", index=False)
    assert run(capsys, "train", data, "--target", "target", "--out", model, *FIT)[0] == 0
    est = bpfast.load(model)
    assert isinstance(est, bpfast.MLPRegressor)
    code, out, _ = run(capsys, "predict", model, data)
    assert code == 0
    X = diabetes.drop(columns="target")
    assert_array_equal(read_csv(out)["prediction"], est.predict(X))
    direct = fitted_directly(bpfast.MLPRegressor, X, diabetes["target"])
    assert_array_equal(read_csv(out)["prediction"], direct.predict(X))


def test_parquet_in_and_out_multi_output(diabetes, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    data, model, out = tmp_path / "d.parquet", tmp_path / "d.bpf", tmp_path / "p.parquet"
    diabetes.to_parquet(data)
    code, _, err = run(capsys, "train", data, "--target", "target", "--target", "bmi",
                       "--out", model, *FIT)
    assert code == 0 and "regress" in err and "2 output(s)" in err
    est = bpfast.load(model)
    assert est.n_outputs_ == 2 and "bmi" not in est.feature_names_in_
    assert run(capsys, "predict", model, data, "--out", out)[0] == 0
    predicted = pd.read_parquet(out)
    assert list(predicted.columns) == ["prediction_0", "prediction_1"]
    assert_array_equal(predicted.to_numpy(), est.predict(diabetes[est.feature_names_in_]))


def test_float32_parquet_trains_in_float32(diabetes, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    data, model = tmp_path / "d.parquet", tmp_path / "d.bpf"
    diabetes.astype(np.float32).to_parquet(data)
    assert run(capsys, "train", data, "--target", "target", "--out", model, *FIT)[0] == 0
    assert bpfast.load(model).coefs_[0].dtype == np.float32


def test_multilabel(tmp_path, capsys):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["x"] = (frame["a"] > 0).astype(int)
    frame["y"] = (frame["b"] > 0).astype(int)
    data, model = tmp_path / "m.csv", tmp_path / "m.bpf"
    frame.to_csv(data, index=False)
    code, _, err = run(capsys, "train", data, "--target", "x", "--target", "y",
                       "--out", model, *FIT)
    assert code == 0 and "classify" in err
    code, out, _ = run(capsys, "predict", model, data, "--proba")
    assert code == 0
    proba = read_csv(out)
    assert list(proba.columns) == ["proba_0", "proba_1"]
    assert_array_equal(proba.to_numpy(), bpfast.load(model).predict_proba(frame[["a", "b", "c"]]))


def test_task_option_overrides(iris, tmp_path, capsys):
    frame = read_csv(iris)
    frame["label"] = frame.pop("species").astype("category").cat.codes
    data, model = tmp_path / "codes.csv", tmp_path / "codes.bpf"
    frame.to_csv(data, index=False)
    assert run(capsys, "train", data, "--target", "label", "--out", model, *FIT)[0] == 0
    assert isinstance(bpfast.load(model), bpfast.MLPClassifier)
    code, _, err = run(capsys, "train", data, "--target", "label", "--out", model,
                       "--task", "regress", *FIT)
    assert code == 0 and "regress" in err
    assert isinstance(bpfast.load(model), bpfast.MLPRegressor)


def test_options_reach_the_estimator(iris, tmp_path, capsys):
    model = tmp_path / "m.bpf"
    code, out, err = run(capsys, "train", iris, "--target", "species", "--out", model,
                         "--hidden", "5,4", "--solver", "sgd", "--max-iter", "3",
                         "--random-state", "7", "--n-threads", "2", "--verbose", "--progress")
    assert code == 0
    params = bpfast.load(model).get_params()
    assert params["progress"] is True
    assert params["hidden_layer_sizes"] == (5, 4) and params["solver"] == "sgd"
    assert params["max_iter"] == 3 and params["random_state"] == 7
    assert params["n_threads"] == 2 and params["verbose"] is True
    assert out == "" and "Iteration 3, loss = " in err  # verbose output goes to stderr


def test_model_without_feature_names(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    est = fitted_directly(bpfast.MLPRegressor, X, X.sum(axis=1))
    model, data = tmp_path / "m.bpf", tmp_path / "x.csv"
    bpfast.save(est, model)
    pd.DataFrame(X, columns=["p", "q", "r"]).to_csv(data, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names" warning
        code, out, _ = run(capsys, "predict", model, data)
    assert code == 0
    assert_array_equal(read_csv(out)["prediction"], est.predict(X))
    pd.DataFrame(X[:, :2]).to_csv(data, index=False)
    code, _, err = run(capsys, "predict", model, data)
    assert code == 2 and "has 2 columns" in err and "takes 3" in err


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b", "a"], "classify"),
        ([True, False, True], "classify"),
        ([0, 1, 2], "classify"),
        (list(range(_cli.MAX_INTEGER_CLASSES + 1)), "regress"),
        ([0.0, 1.0, 0.0], "regress"),
        ([0.5, 1.5, 2.5], "regress"),
    ],
)
def test_infer_task(values, task):
    assert _cli.infer_task(pd.DataFrame({"y": values})) == task


def test_infer_task_categories_and_several_columns():
    assert _cli.infer_task(pd.DataFrame({"y": pd.Categorical(["b", "a"])})) == "classify"
    assert _cli.infer_task(pd.DataFrame({"x": [0, 1, 1], "y": [1, 0, 1]})) == "classify"
    assert _cli.infer_task(pd.DataFrame({"x": [0, 1, 2], "y": [1, 0, 1]})) == "regress"
    assert _cli.infer_task(pd.DataFrame({"x": ["a", "b", "c"], "y": [1, 0, 1]})) == "regress"


def test_demo_plot_without_matplotlib_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    import bpfast._plotting

    def no_matplotlib():
        raise ImportError("plot_loss_curve needs matplotlib: pip install matplotlib")

    monkeypatch.setattr(bpfast._plotting, "_matplotlib", no_matplotlib)
    code, _, err = run(capsys, "demo", "--plot", tmp_path / "loss.png")
    assert code == 2
    assert err.strip() == "bpfast: error: --plot: plot_loss_curve needs matplotlib: pip install matplotlib"


def test_demo_and_info_remain(capsys):
    code, out, _ = run(capsys, "info")
    assert code == 0 and "bpfast:" in out and "threads:" in out
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0 and "--repeats" in capsys.readouterr().out


# ------------------------------------------------------------------- errors


def assert_error(capsys, argv, *expected):
    """``main(argv)`` exits 2 with one ``bpfast: error:`` line holding ``expected``."""
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == ""
    assert err.startswith("bpfast: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err


def test_missing_files(iris, iris_model, tmp_path, capsys):
    nope = tmp_path / "nope.csv"
    assert_error(capsys, ["train", nope, "--target", "y"], "nope.csv", "No such file")
    assert_error(capsys, ["predict", iris_model, nope], "nope.csv", "No such file")
    assert_error(capsys, ["predict", tmp_path / "nope.bpf", iris], "nope.bpf", "No such file")


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("bad.csv", "a,b\n1,2\n1,2,3\n", "Expected 2 fields in line 3"),
        ("empty.csv", "", "No columns to parse"),
        ("header.csv", "a,b,y\n", "has no data rows"),
        ("binary.csv", b"\xff\xfe\x00\x81,\x9f\n\xff\n", "cannot read"),
        ("text.parquet", "a,b\n1,2\n", "Parquet magic bytes not found"),
        ("data.json", "{}", "unknown extension .json"),
        ("noextension", "a,b\n1,2\n", "unknown extension (none)"),
    ],
)
def test_unreadable_data(name, content, expected, iris_model, tmp_path, capsys):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    assert_error(capsys, ["train", path, "--target", "y"], name, expected)
    assert_error(capsys, ["predict", iris_model, path], name, expected)


def test_directory_as_data(iris_model, tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    assert_error(capsys, ["predict", iris_model, tmp_path / "dir.csv"], "dir.csv", "cannot read")


def test_missing_columns(iris, iris_model, tmp_path, capsys):
    assert_error(capsys, ["train", iris, "--target", "colour"], "has no column 'colour'",
                 "its columns: sepal length (cm)")
    assert_error(capsys, ["train", iris, "--target", "species", "--target", "kind"],
                 "has no column 'kind'")
    read_csv(iris).drop(columns=["petal width (cm)", "sepal width (cm)"]).to_csv(
        tmp_path / "fewer.csv", index=False
    )
    assert_error(capsys, ["predict", iris_model, tmp_path / "fewer.csv"],
                 "has no columns 'sepal width (cm)', 'petal width (cm)'")


def test_extra_columns_are_ignored(iris, iris_model, tmp_path, capsys):
    frame = read_csv(iris)
    frame.insert(0, "id", np.arange(len(frame)))
    frame.insert(3, "note", "x")
    frame.to_csv(tmp_path / "extra.csv", index=False)
    code, out, _ = run(capsys, "predict", iris_model, tmp_path / "extra.csv")
    assert code == 0
    assert_array_equal(read_csv(out)["prediction"],
                       bpfast.load(iris_model).predict(frame[IRIS_FEATURES]))


def test_bad_columns(iris, iris_model, tmp_path, capsys):
    frame = read_csv(iris)
    frame["colour"] = "red"
    frame.to_csv(tmp_path / "text.csv", index=False)
    assert_error(capsys, ["train", tmp_path / "text.csv", "--target", "species"],
                 "non-numeric feature column 'colour'")
    assert_error(capsys, ["train", iris, "--target", "species", "--task", "regress"],
                 "non-numeric target column 'species'")
    frame = read_csv(iris)
    frame.loc[3, "sepal width (cm)"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    assert_error(capsys, ["train", tmp_path / "nan.csv", "--target", "species"],
                 "missing values in column 'sepal width (cm)'")
    assert_error(capsys, ["predict", iris_model, tmp_path / "nan.csv"],
                 "missing values in column 'sepal width (cm)'")
    read_csv(iris)[["species"]].to_csv(tmp_path / "labels.csv", index=False)
    assert_error(capsys, ["train", tmp_path / "labels.csv", "--target", "species"],
                 "no feature columns")


def test_estimator_rejects(iris, tmp_path, capsys):
    assert_error(capsys, ["train", iris, "--target", "species", "--max-iter", "0",
                          "--out", tmp_path / "m.bpf"], "'max_iter' parameter")
    frame = read_csv(iris)
    frame["sepal width (cm)"] = np.inf
    frame.to_csv(tmp_path / "inf.csv", index=False)
    assert_error(capsys, ["train", tmp_path / "inf.csv", "--target", "species"],
                 "cannot train on", "infinity")


def test_not_a_model(iris, tmp_path, capsys):
    assert_error(capsys, ["predict", iris, iris], "iris.csv", "is not a valid bpfast model file")


def test_proba_of_a_regressor(diabetes_model, diabetes, tmp_path, capsys):
    diabetes.to_csv(tmp_path / "d.csv", index=False)
    assert_error(capsys, ["predict", diabetes_model, tmp_path / "d.csv", "--proba"],
                 "--proba needs a classifier", "MLPRegressor")


def test_bad_outputs(iris, iris_model, tmp_path, capsys):
    nowhere = tmp_path / "no" / "such"
    assert_error(capsys, ["train", iris, "--target", "species", "--out", nowhere / "m.bpf"],
                 "cannot write", "no directory")
    assert_error(capsys, ["predict", iris_model, iris, "--out", nowhere / "p.csv"],
                 "cannot write", "no directory")
    assert_error(capsys, ["predict", iris_model, iris, "--out", tmp_path / "p.xlsx"],
                 "unknown extension .xlsx")
    (tmp_path / "taken.csv").mkdir()
    assert_error(capsys, ["predict", iris_model, iris, "--out", tmp_path / "taken.csv"],
                 "cannot write", "taken.csv")


def test_bad_option_exits_2(iris, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", os.fspath(iris), "--target", "species", "--hidden", "10,x"])
    assert exc.value.code == 2 and "--hidden" in capsys.readouterr().err


def test_without_pandas_or_pyarrow(iris, iris_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert_error(capsys, ["predict", iris_model, iris, "--out", tmp_path / "p.parquet"],
                 "Parquet files need pyarrow: pip install pyarrow")
    assert_error(capsys, ["predict", iris_model, tmp_path / "x.pq"], "pip install pyarrow")
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert_error(capsys, ["train", iris, "--target", "species"], "pip install pandas")


# ------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_exits_130(iris, iris_model, capsys, monkeypatch):
    def interrupt(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "read_table", interrupt)
    code, out, err = run(capsys, "predict", iris_model, iris)
    assert code == 130 and out == "" and err == "bpfast: interrupted\n"


def test_ctrl_c_during_fit_saves_nothing(iris, tmp_path, capsys, monkeypatch):
    def fit(self, X, y):  # what bpfast's fit does on Ctrl-C: stop, warn, return
        warnings.warn("Training interrupted by user.")
        return self

    monkeypatch.setattr(bpfast.MLPClassifier, "fit", fit)
    model = tmp_path / "m.bpf"
    code, _, err = run(capsys, "train", iris, "--target", "species", "--out", model)
    assert code == 130 and "no model saved" in err and "Traceback" not in err
    assert not model.exists()


# ------------------------------------------------------------ child processes


# Children start in a directory outside the checkout, so that `python -m bpfast` imports
# the installed package, not the source folder (which has no compiled core).
def bpfast_command(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfast", *map(os.fspath, argv)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_command_line_end_to_end(iris, tmp_path):
    model = tmp_path / "m.bpf"
    done = bpfast_command("train", iris, "--target", "species", "--out", model, *FIT,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "150 rows x 4 features" in done.stderr
    done = bpfast_command("predict", model, iris, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    frame = read_csv(iris)
    assert_array_equal(read_csv(done.stdout)["prediction"],
                       bpfast.load(model).predict(frame[IRIS_FEATURES]))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_command_line_ctrl_c(tmp_path):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(20000, 20))).add_prefix("x")
    frame["y"] = rng.normal(size=len(frame))
    data, model = tmp_path / "big.csv", tmp_path / "big.bpf"
    frame.to_csv(data, index=False)
    # The child must start with Ctrl-C's default action, as a command typed in a shell does.
    # A test run started in the background (nohup, `cmd &` in a script) ignores SIGINT, and
    # an ignored signal stays ignored across exec (Python then installs no handler); a
    # handled one reverts to the default there.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "bpfast", "train", data, "--target", "y", "--out", model,
             "--max-iter", "100000", "--n-threads", "1", "--verbose"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        first = child.stderr.readline()  # verbose lines go to stderr: fit has started
        assert first.startswith("Iteration 1,"), first
        start = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130, err
    assert time.monotonic() - start < 10
    assert err.splitlines()[-1] == "bpfast: interrupted: training stopped; no model saved"
    assert "Traceback" not in err and not model.exists()
