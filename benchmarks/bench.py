#!/usr/bin/env python
"""Benchmark bpfast beside scikit-learn's MLP and a plain PyTorch (CPU) training loop.

Every (library, workload, dtype, threads) measurement runs in a fresh subprocess
(``bench.py --worker TASK``) whose OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS are the thread count, and which prints its result as JSON; the
parent collects the results and prints Markdown tables.

    python benchmarks/bench.py                     # everything, 1 and 2 threads
    python benchmarks/bench.py --quick             # every workload shrunk, as a smoke run
    python benchmarks/bench.py --only digits,gemm  # a subset
    python benchmarks/bench.py --json results.json # also save the raw results

See benchmarks/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import itertools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SEED = 0
LIBRARIES = ("bpfast", "sklearn", "torch")
LIBRARY_TITLES = {"bpfast": "bpfast", "sklearn": "scikit-learn", "torch": "PyTorch"}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
RESULT_MARK = "BENCH_RESULT "
MATMUL_N = 2048


# --------------------------------------------------------------------------- data
# Each returns float64 X_train, y_train, X_test, y_test, from a fixed seed.


def digits_data():
    """scikit-learn's bundled digits, standardised; the full set is both train and test."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, X, y


def classification_data(n_train, n_test, n_features, n_classes, n_informative):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_train + n_test,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=SEED,
    )
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def teacher_regression_data(n_train, n_test, n_features, teacher_hidden=32, noise=0.1):
    """y = a random one-hidden-layer tanh net of X, standardised, + noise (R² ceiling ~0.99)."""
    rng = np.random.default_rng(SEED)
    n = n_train + n_test
    X = rng.standard_normal((n, n_features))
    W1 = rng.standard_normal((n_features, teacher_hidden)) / np.sqrt(n_features)
    w2 = rng.standard_normal(teacher_hidden) / np.sqrt(teacher_hidden)
    y = np.tanh(X @ W1) @ w2
    y = (y - y.mean()) / y.std() + noise * rng.standard_normal(n)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


# ---------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    description: str
    task: str  # "classification" or "regression"
    data: Callable
    hidden: tuple
    batch_size: int
    solver: str
    epochs: int
    data_kwargs: dict = field(default_factory=dict)
    dtypes: tuple = ("float32",)
    score_on: str = "test"
    predict: dict | None = None  # set for the prediction-latency workload
    quick: dict = field(default_factory=dict)  # overrides for --quick

    def resolved(self, quick: bool) -> "Workload":
        if not quick:
            return self
        changes = dict(self.quick)
        changes["data_kwargs"] = {**self.data_kwargs, **changes.get("data_kwargs", {})}
        if self.predict is not None:
            changes["predict"] = {**self.predict, **changes.get("predict", {})}
        return dataclasses.replace(self, **changes)

    def load(self):
        return self.data(**self.data_kwargs)


_DIGITS = dict(
    task="classification",
    data=digits_data,
    hidden=(100,),
    batch_size=200,
    solver="adam",
    epochs=50,
    score_on="train",
    quick=dict(epochs=5),
)

WORKLOADS: dict[str, Workload] = {
    "digits": Workload(
        description="load_digits 1797×64 standardised, 10 classes",
        dtypes=("float64", "float32"),
        **_DIGITS,
    ),
    "mnist_shape": Workload(
        description="make_classification 60000×784 (+10000 test), 10 classes",
        task="classification",
        data=classification_data,
        data_kwargs=dict(
            n_train=60000, n_test=10000, n_features=784, n_classes=10, n_informative=40
        ),
        hidden=(256, 128),
        batch_size=128,
        solver="adam",
        epochs=3,
        quick=dict(epochs=1, data_kwargs=dict(n_train=6000, n_test=2000)),
    ),
    "regression": Workload(
        description="random tanh teacher 50000×100 (+10000 test), 1 target",
        task="regression",
        data=teacher_regression_data,
        data_kwargs=dict(n_train=50000, n_test=10000, n_features=100),
        hidden=(64, 64),
        batch_size=64,
        solver="adam",
        epochs=5,
        quick=dict(epochs=2, data_kwargs=dict(n_train=5000, n_test=2000)),
    ),
    "gemm": Workload(
        description="make_classification 16384×1024 (+4096 test), 10 classes; GEMM-bound",
        task="classification",
        data=classification_data,
        data_kwargs=dict(
            n_train=16384, n_test=4096, n_features=1024, n_classes=10, n_informative=40
        ),
        hidden=(2048, 2048),
        batch_size=2048,
        solver="sgd",
        epochs=1,
        quick=dict(
            hidden=(1024, 1024),
            batch_size=1024,
            data_kwargs=dict(n_train=2048, n_test=1024),
        ),
    ),
    "predict": Workload(
        description="predict_proba latency of the digits float64 model",
        dtypes=("float64",),
        predict=dict(single_calls=2000, batch_rows=10000, batch_repeats=20),
        **{
            **_DIGITS,
            "quick": dict(epochs=5, predict=dict(single_calls=200, batch_repeats=5)),
        },
    ),
}


def layer_sizes(wl: Workload, n_features: int, n_outputs: int) -> list[int]:
    return [n_features, *wl.hidden, n_outputs]


def train_flops_per_epoch(sizes: list[int], n_samples: int) -> int:
    """6 × samples × Σ fan_in·fan_out: forward (2), backward to inputs (2) and weights (2)."""
    return 6 * n_samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


# ------------------------------------------------------------------------ PyTorch


class TorchMLP:
    """A plain PyTorch training loop with scikit-learn's MLP defaults, fit/predict/score like it.

    nn.Sequential of Linear+ReLU, Glorot-uniform initialisation (as scikit-learn),
    Adam or SGD (Nesterov momentum) at scikit-learn's default learning rate, L2
    penalty alpha as weight decay alpha/batch_size on the weights (scikit-learn's
    gradient), cross-entropy or half the mean squared error (scikit-learn's
    losses), a torch.randperm shuffle per epoch and batch slicing.
    """

    def __init__(self, wl: Workload, dtype: str, n_threads: int):
        import torch
        from sklearn.neural_network import MLPClassifier

        torch.set_num_threads(n_threads)
        self.torch = torch
        self.wl = wl
        self.dtype = getattr(torch, dtype)
        self.defaults = MLPClassifier().get_params()

    def _network(self, sizes):
        nn = self.torch.nn
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(fan_in, fan_out, dtype=self.dtype)
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            nn.init.uniform_(linear.weight, -bound, bound)
            nn.init.uniform_(linear.bias, -bound, bound)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def _optimizer(self, model):
        torch, p = self.torch, self.defaults
        weights = [m.weight for m in model if hasattr(m, "weight")]
        biases = [m.bias for m in model if hasattr(m, "bias")]
        groups = [
            {"params": weights, "weight_decay": p["alpha"] / self.wl.batch_size},
            {"params": biases, "weight_decay": 0.0},
        ]
        lr = p["learning_rate_init"]
        if self.wl.solver == "sgd":
            return torch.optim.SGD(
                groups, lr=lr, momentum=p["momentum"], nesterov=p["nesterovs_momentum"]
            )
        return torch.optim.Adam(
            groups, lr=lr, betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"]
        )

    def _targets(self, y):
        if self.wl.task == "classification":
            self.classes_, codes = np.unique(y, return_inverse=True)
            return self.torch.from_numpy(codes.astype(np.int64)), len(self.classes_)
        return self.torch.from_numpy(np.asarray(y).reshape(-1, 1)).to(self.dtype), 1

    def _loss(self):
        nn = self.torch.nn
        if self.wl.task == "classification":
            return nn.CrossEntropyLoss()
        mse = nn.MSELoss()
        return lambda output, target: 0.5 * mse(output, target)

    def fit(self, X, y):
        torch = self.torch
        torch.manual_seed(SEED)
        X = torch.from_numpy(X)
        Y, n_outputs = self._targets(y)
        self.model = self._network(layer_sizes(self.wl, X.shape[1], n_outputs))
        optimizer, loss_fn = self._optimizer(self.model), self._loss()
        n, batch = X.shape[0], self.wl.batch_size
        for _ in range(self.wl.epochs):
            order = torch.randperm(n)
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                optimizer.zero_grad(set_to_none=True)
                loss_fn(self.model(X[idx]), Y[idx]).backward()
                optimizer.step()
        self.n_iter_ = self.wl.epochs
        return self

    def _forward(self, X):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(X))

    def predict_proba(self, X):
        return self.torch.softmax(self._forward(X), dim=1).numpy()

    def predict(self, X):
        out = self._forward(X).numpy()
        if self.wl.task == "classification":
            return self.classes_[out.argmax(axis=1)]
        return out.ravel()

    def score(self, X, y):
        from sklearn.metrics import accuracy_score, r2_score

        metric = accuracy_score if self.wl.task == "classification" else r2_score
        return float(metric(y, self.predict(X)))


# ------------------------------------------------------------------------ workers


def make_estimator(library: str, wl: Workload, dtype: str, n_threads: int):
    """A fresh, unfitted model: bpfast's or scikit-learn's estimator, or the torch loop."""
    if library == "torch":
        return TorchMLP(wl, dtype, n_threads)
    module = importlib.import_module(
        {"bpfast": "bpfast", "sklearn": "sklearn.neural_network"}[library]
    )
    cls = getattr(module, "MLPClassifier" if wl.task == "classification" else "MLPRegressor")
    return cls(
        hidden_layer_sizes=wl.hidden,
        solver=wl.solver,
        batch_size=wl.batch_size,
        max_iter=wl.epochs,
        tol=0.0,
        n_iter_no_change=wl.epochs + 1,
        shuffle=True,
        early_stopping=False,
        random_state=SEED,
    )


def fit_quietly(estimator, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def load_cast(wl: Workload, dtype: str):
    X_train, y_train, X_test, y_test = wl.load()
    cast = lambda X: np.ascontiguousarray(X, dtype=dtype)  # noqa: E731
    return cast(X_train), y_train, cast(X_test), y_test


def n_outputs_of(wl: Workload, y) -> int:
    return len(np.unique(y)) if wl.task == "classification" else 1


def fit_worker(task: dict, wl: Workload) -> dict:
    X, y, X_test, y_test = load_cast(wl, task["dtype"])
    new = lambda: make_estimator(task["library"], wl, task["dtype"], task["threads"])  # noqa: E731
    fit_quietly(new(), X, y)  # warm-up, excluded
    times = []
    for _ in range(task["repeats"]):
        estimator = new()
        times.append(fit_quietly(estimator, X, y))
    sizes = layer_sizes(wl, X.shape[1], n_outputs_of(wl, y))
    return {  # the time per epoch and GFLOP/s come from all rounds' fits (merge_rounds)
        "fit_times": times,
        "flops": train_flops_per_epoch(sizes, X.shape[0]) * wl.epochs,
        "epochs": wl.epochs,
        "n_iter": int(estimator.n_iter_),
        "score": float(estimator.score(X_test, y_test)),
        "score_on": wl.score_on,
        "layer_sizes": sizes,
        "n_train": int(X.shape[0]),
    }


def median_call_time(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def predict_worker(task: dict, wl: Workload) -> dict:
    X, y, _, _ = load_cast(wl, task["dtype"])
    estimator = make_estimator(task["library"], wl, task["dtype"], task["threads"])
    fit_quietly(estimator, X, y)
    p = wl.predict
    one_row = np.ascontiguousarray(X[:1])
    rows = np.random.default_rng(SEED).integers(0, X.shape[0], p["batch_rows"])
    many_rows = np.ascontiguousarray(X[rows])
    for sample in (one_row, many_rows):  # warm-up
        estimator.predict_proba(sample)
    return {
        "single_row_sec": median_call_time(
            lambda: estimator.predict_proba(one_row), p["single_calls"]
        ),
        "single_calls": p["single_calls"],
        "batch_sec": median_call_time(
            lambda: estimator.predict_proba(many_rows), p["batch_repeats"]
        ),
        "batch_rows": p["batch_rows"],
        "batch_repeats": p["batch_repeats"],
    }


def matmul_worker(task: dict) -> dict:
    """numpy's matmul GFLOP/s on a 2048³ product, per dtype: the practical ceiling."""
    rng = np.random.default_rng(SEED)
    out = {}
    for dtype in ("float32", "float64"):
        a, b = (rng.standard_normal((MATMUL_N, MATMUL_N)).astype(dtype) for _ in range(2))
        a @ b  # warm-up
        seconds = median_call_time(lambda: a @ b, max(3, task["repeats"]))
        out[f"gflops_{dtype}"] = 2 * MATMUL_N**3 / seconds / 1e9
    return out


def threads_seen(library: str) -> dict:
    """Thread counts the loaded runtimes report, to check the environment took effect."""
    seen = {}
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            seen[f"{pool['user_api']}:{pool['internal_api']}"] = pool["num_threads"]
    except Exception as exc:  # threadpoolctl is a scikit-learn dependency; be safe anyway
        seen["threadpoolctl"] = repr(exc)
    if library == "bpfast":
        from bpfast._config import config

        cfg = config()
        seen["bpfast"] = cfg["threads"]
        seen["bpfast_kernels"] = cfg["kernels"]
    elif library == "torch":
        import torch

        seen["torch"] = torch.get_num_threads()
    return seen


def run_worker(task: dict) -> dict:
    if task["workload"] == "matmul":
        result = matmul_worker(task)
    else:
        wl = WORKLOADS[task["workload"]].resolved(task["quick"])
        result = (predict_worker if wl.predict else fit_worker)(task, wl)
    return {**task, **result, "threads_seen": threads_seen(task["library"])}


# ------------------------------------------------------------------------- parent


def merge_rounds(runs: list[dict]) -> dict:
    """One task's results from every round: fit times pooled (their median gives the
    time per epoch and the GFLOP/s), prediction and matmul figures the median of the
    rounds' medians."""
    for i, r in enumerate(runs, 1):
        if "error" in r:
            return {**r, "error": f"round {i}: {r['error']}"}
    merged = dict(runs[0])

    def deviating(values, expected):  # what "Notes" checks: a round that deviates, if any
        return next((v for v in values if v != expected), values[0])

    if "n_iter" in merged:
        merged["n_iter"] = deviating([r["n_iter"] for r in runs], merged["epochs"])
    merged["threads_seen"] = {
        pool: deviating([r["threads_seen"].get(pool) for r in runs], merged["threads"])
        for pool in merged.get("threads_seen", {})
    }
    if "fit_times" in merged:
        times = [t for r in runs for t in r["fit_times"]]
        median = float(np.median(times))
        merged.update(fit_times=times, sec_per_epoch=median / merged["epochs"],
                      gflops=merged["flops"] / median / 1e9)
    for name in ("single_row_sec", "batch_sec", "gflops_float32", "gflops_float64"):
        if name in merged:
            merged[name] = float(np.median([r[name] for r in runs]))
    merged["rounds"] = len(runs)
    return merged


def plan(args) -> list[dict]:
    common = {"quick": args.quick, "repeats": args.repeats}
    tasks = [
        {"library": "numpy", "workload": "matmul", "dtype": "float32", "threads": t, **common}
        for t in args.threads
    ]
    for name in args.only:
        for dtype, threads, library in itertools.product(
            WORKLOADS[name].dtypes, args.threads, args.libs
        ):
            task = {"library": library, "workload": name, "dtype": dtype, "threads": threads}
            tasks.append({**task, **common})
    return tasks


def run_task(task: dict, timeout: float) -> dict:
    env = {**os.environ, **{var: str(task["threads"]) for var in THREAD_ENV}}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(task)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**task, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {**task, "error": f"exit {proc.returncode}: " + " | ".join(tail)}


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: package_version(name) for name in ("bpfast", "scikit-learn", "torch", "numpy")
        },
    }


# ----------------------------------------------------------------------- tables


def fmt_time(seconds) -> str:
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"


def fmt_num(value, spec=".3g") -> str:
    return "—" if value is None else format(value, spec)


def ratio(num, den):
    return None if num is None or den in (None, 0) else num / den


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def index_results(results: list[dict]) -> dict:
    return {
        (r["workload"], r["dtype"], r["threads"], r["library"]): r
        for r in results
        if "error" not in r
    }


def group_keys(results: list[dict], predicate) -> list[tuple]:
    keys = []
    for r in results:
        key = (r["workload"], r["dtype"], r["threads"])
        if predicate(r) and key not in keys:
            keys.append(key)
    return keys


def field_of(index, key, library, name):
    return index.get((*key, library), {}).get(name)


def training_table(results, libs) -> str:
    index = index_results(results)
    others = [lib for lib in libs if lib != "bpfast"]
    header = ["workload", "dtype", "thr"]
    header += [f"{LIBRARY_TITLES[l]} /epoch" for l in libs]
    header += [f"{LIBRARY_TITLES[l]}/bpfast" for l in others]
    header += [f"score {LIBRARY_TITLES[l]}" for l in libs]
    header += [f"GFLOP/s {LIBRARY_TITLES[l]}" for l in libs]
    rows = []
    training = lambda r: r["workload"] not in ("matmul", "predict")  # noqa: E731
    for key in group_keys(results, training):
        get = lambda lib, name: field_of(index, key, lib, name)  # noqa: E731
        score_on = next((get(l, "score_on") for l in libs if get(l, "score_on")), "")
        row = [key[0] + (" (train)" if score_on == "train" else ""), key[1], str(key[2])]
        row += [fmt_time(get(l, "sec_per_epoch")) for l in libs]
        row += [
            fmt_num(ratio(get(l, "sec_per_epoch"), get("bpfast", "sec_per_epoch")), ".2f") + "×"
            for l in others
        ]
        row += [fmt_num(get(l, "score"), ".4f") for l in libs]
        row += [fmt_num(get(l, "gflops"), ".3g") for l in libs]
        rows.append(row)
    return markdown_table(header, rows)


def predict_table(results, libs) -> str:
    index = index_results(results)
    others = [lib for lib in libs if lib != "bpfast"]
    header, rows = ["thr"], []
    sizes = (("single_row_sec", "1 row"), ("batch_sec", "{n} rows"))
    n_rows = next((r["batch_rows"] for r in results if "batch_rows" in r), "?")
    for name, label in sizes:
        label = label.format(n=n_rows)
        header += [f"{label} {LIBRARY_TITLES[l]}" for l in libs]
        header += [f"{label} {LIBRARY_TITLES[l]}/bpfast" for l in others]
    for key in group_keys(results, lambda r: r["workload"] == "predict"):
        get = lambda lib, name: field_of(index, key, lib, name)  # noqa: E731
        row = [str(key[2])]
        for name, _ in sizes:
            row += [fmt_time(get(l, name)) for l in libs]
            row += [fmt_num(ratio(get(l, name), get("bpfast", name)), ".2f") + "×" for l in others]
        rows.append(row)
    return markdown_table(header, rows)


def ceiling_table(results) -> str:
    rows = [
        [str(r["threads"]), *(fmt_num(r.get(f"gflops_{t}"), ".1f") for t in ("float32", "float64"))]
        for r in results
        if r["workload"] == "matmul" and "error" not in r
    ]
    return markdown_table(["thr", "float32 GFLOP/s", "float64 GFLOP/s"], rows)


def notes(results) -> list[str]:
    """Errors, fits that stopped early, and thread counts that did not take effect."""
    out = []
    for r in results:
        where = f"{r['library']} {r['workload']} {r['dtype']} {r['threads']} thr"
        if "error" in r:
            out.append(f"ERROR {where}: {r['error']}")
            continue
        if "n_iter" in r and r["n_iter"] != r["epochs"]:
            out.append(f"{where}: ran {r['n_iter']} of {r['epochs']} epochs")
        for pool, n in r.get("threads_seen", {}).items():
            if isinstance(n, int) and n != r["threads"]:
                out.append(f"{where}: {pool} reports {n} threads")
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def workload_lines(names, quick) -> list[str]:
    lines = []
    for name in names:
        wl = WORKLOADS[name].resolved(quick)
        size = ", ".join(f"{k}={v}" for k, v in wl.data_kwargs.items())
        line = (
            f"- **{name}**: {wl.description}{' (' + size + ')' if size else ''}; "
            f"hidden {wl.hidden}, batch {wl.batch_size}, {wl.solver}, "
            f"{plural(wl.epochs, 'epoch')}, "
            f"{'/'.join(wl.dtypes)}; score = "
            f"{'accuracy' if wl.task == 'classification' else 'R²'} on the {wl.score_on} set"
        )
        if wl.predict:
            p = wl.predict
            line += (
                f"; median of {p['single_calls']} predict_proba calls on 1 row and of "
                f"{p['batch_repeats']} on {p['batch_rows']} rows per round (over rounds, "
                "the median of those)"
            )
        lines.append(line)
    return lines


def render(report: dict, args) -> str:
    m, results = report["machine"], report["results"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    title = "# bpfast benchmark"
    parts = [
        title + (" (--quick: shrunk workloads, not for quoting)" if args.quick else ""),
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable), "
        f"Python {m['python']}, {m['platform']}",
        f"- versions: {versions}",
        f"- times: median of {plural(args.repeats * args.rounds, 'fit')} "
        f"({plural(args.rounds, 'round')} of {args.repeats}, each after a warm-up fit; "
        "every other round runs the plan backwards); "
        "time per epoch = fit time / epochs; "
        "GFLOP/s = 6 × n_train × Σ fan_in·fan_out × epochs / fit time",
        "",
        "## Workloads",
        "",
        *workload_lines(args.only, args.quick),
    ]
    if any(name != "predict" for name in args.only):
        parts += ["", "## Training", "", training_table(results, args.libs)]
    if "predict" in args.only:
        parts += ["", "## Prediction latency (predict_proba, digits float64 model)", "",
                  predict_table(results, args.libs)]
    parts += ["", f"## Ceiling: numpy matmul, {MATMUL_N}³", "", ceiling_table(results)]
    found = notes(results)
    if found:
        parts += ["", "## Notes", "", *(f"- {n}" for n in found)]
    return "\n".join(parts)


# -------------------------------------------------------------------------- main


def comma_list(choices=None, convert=str):
    def parse(text):
        items = [convert(x.strip()) for x in text.split(",") if x.strip()]
        bad = [x for x in items if choices is not None and x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(map(str, choices or []))}")
        return items

    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=comma_list(WORKLOADS), default=list(WORKLOADS),
                        help=f"comma-separated workloads: {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--libs", type=comma_list(LIBRARIES), default=list(LIBRARIES),
                        help="comma-separated libraries (default: bpfast,sklearn,torch)")
    parser.add_argument("--threads", type=comma_list(convert=int), default=[1, 2],
                        help="comma-separated thread counts (default: 1,2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed fits per measurement, after a warm-up fit "
                        "(default 3; 1 with --quick)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times the whole plan runs, every other round backwards, "
                        "results pooled; an even number balances the order (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="shrink every workload ~10-50× for a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also save the raw results as JSON")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds allowed per worker subprocess (default 3600)")
    parser.add_argument("--worker", metavar="TASK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1 or args.rounds < 1:
        parser.error("--repeats and --rounds must be at least 1")
    if "bpfast" not in args.libs:
        args.libs.insert(0, "bpfast")  # the ratios are relative to bpfast
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(RESULT_MARK + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return 0
    tasks = plan(args)
    rounds = []
    for r in range(args.rounds):
        # odd rounds run the plan backwards: over two rounds every measurement has the
        # same mean position in time, so a machine that drifts favours none of them
        order = tasks if r % 2 == 0 else tasks[::-1]
        done = []
        for i, task in enumerate(order, 1):
            label = f"{task['library']} {task['workload']} {task['dtype']} {task['threads']} thr"
            print(f"[round {r + 1}/{args.rounds}, {i}/{len(order)}] {label} ...",
                  file=sys.stderr, flush=True)
            start = time.perf_counter()
            done.append(run_task(task, args.timeout))
            status = "error" if "error" in done[-1] else "ok"
            print(f"    {status} in {time.perf_counter() - start:.1f} s", file=sys.stderr,
                  flush=True)
        rounds.append(done if r % 2 == 0 else done[::-1])
    results = [merge_rounds(list(same)) for same in zip(*rounds)]
    report = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": machine_info(),
        "args": {k: v for k, v in vars(args).items() if k != "worker"},
        "results": results,
    }
    print(render(report, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
