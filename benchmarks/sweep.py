"""Look for anything slower than scikit-learn: bpfast's and scikit-learn's MLPs fitted side by
side over every hidden activation, solver and dtype, on a classification and a regression,
at each thread count given. Prints one table row per case and marks those below 1.0x.

    python benchmarks/sweep.py                 # 1 and 2 threads
    python benchmarks/sweep.py --threads 2 --solvers lbfgs

Small problems on purpose (digits, 5000 x 20 regression, (100,) hidden, 20 iterations):
there the per-call and per-batch costs decide, which is where a slow path shows. Each
time is the median of 3 fits; scikit-learn runs with its
BLAS's own thread count, the same in every row. bench.py is the benchmark of record;
this is a search for slow paths.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn import neural_network
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import bpfast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import median_call_time  # noqa: E402  (bench.py beside this file)

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
SOLVERS = ("adam", "sgd", "lbfgs")
SETTLE_SECONDS = 0.3


def problems():
    """(name, X, y, bpfast estimator, scikit-learn estimator) for each task."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xr, yr = make_regression(5000, 20, noise=1.0, random_state=0)
    yr = (yr - yr.mean()) / yr.std()
    return [
        ("classifier", X, y, bpfast.MLPClassifier, neural_network.MLPClassifier),
        ("regressor", Xr, yr, bpfast.MLPRegressor, neural_network.MLPRegressor),
    ]


def settle() -> None:
    """Wait for the previous fit's idle threads to stop spinning. OpenBLAS's (numpy's and
    SciPy's, two libraries with a thread each) spin for about 2**28 cycles after a call:
    bpfast's next fits on a 2-core machine shared the cores with them and ran at half
    speed (tanh digits 30-46 ms a fit right after scikit-learn's L-BFGS, 21 ms after a
    pause), which measured the previous case, not this one."""
    time.sleep(SETTLE_SECONDS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated n_threads (default 1,2)")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated solvers")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    threads = [int(t) for t in args.threads.split(",")]
    solvers = args.solvers.split(",")
    print("| thr | task | activation | solver | dtype | bpfast | scikit-learn | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    slower = 0
    tasks = problems()
    for nt, act, solver, dtype in itertools.product(threads, ACTIVATIONS, solvers,
                                                    (np.float64, np.float32)):
        params = dict(hidden_layer_sizes=(100,), activation=act, solver=solver, max_iter=20,
                      random_state=0)
        for name, X, y, ours, theirs in tasks:
            X = X.astype(dtype)
            y = y.astype(dtype) if name == "regressor" else y
            settle()
            t_ours = median_call_time(lambda: ours(n_threads=nt, **params).fit(X, y), 3)
            settle()
            t_theirs = median_call_time(lambda: theirs(**params).fit(X, y), 3)
            ratio = t_theirs / t_ours
            slower += ratio < 1
            mark = " **slower**" if ratio < 1 else ""
            print(f"| {nt} | {name} | {act} | {solver} | {np.dtype(dtype).name} "
                  f"| {t_ours * 1e3:.1f} ms | {t_theirs * 1e3:.1f} ms | {ratio:.2f}×{mark} |",
                  flush=True)
    print(f"\n{slower} case(s) slower than scikit-learn")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
