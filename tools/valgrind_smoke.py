"""A small, fast tour of every C entry point, for tools/valgrind.sh.

Runs fit, partial_fit, predict and the error paths of both estimators, in both
dtypes, with every solver and activation, dense (C order, Fortran order,
strided, read-only, one row) and sparse inputs, with one thread and with two
(products large enough for the parallel regions), plus save/load when bpfast has
them. Sizes are tiny so that the whole tour takes a few minutes under valgrind.

Checks results loosely (finite, right shapes, serial == threaded, dense ==
sparse) so that a memory error that corrupts numbers also fails here; the
memory errors themselves are valgrind's to report. Exit status 0 when every
case ran. Usable without valgrind too: ``python tools/valgrind_smoke.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

import numpy as np
import scipy.sparse as sp

import bpfast
from bpfast import MLPClassifier, MLPRegressor
from bpfast import _core

warnings.simplefilter("ignore")  # ConvergenceWarning etc.: not what this is about

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def data(n=37, d=7, seed=0, dtype=np.float64, n_classes=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    X[rng.rand(n, d) < 0.3] = 0.0
    y_reg = X @ rng.randn(d) + 0.1 * rng.randn(n)
    y_clf = np.arange(n) % n_classes
    return X.astype(dtype), y_clf, y_reg.astype(dtype)


def outputs(model, X):
    outs = [model.predict(X)]
    if isinstance(model, MLPClassifier):
        outs.append(model.predict_proba(X))
    return outs


def check_model(model, X):
    for out in outputs(model, X):
        assert out.shape[0] == X.shape[0], out.shape
        if out.dtype.kind == "f":
            assert np.isfinite(out).all()
    # one row (the small-product path), and layouts that must agree with C order
    one = outputs(model, X[:1])
    for a, b in zip(one, outputs(model, X)):
        np.testing.assert_allclose(a, b[:1], rtol=1e-5, atol=1e-6)
    for variant in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        for a, b in zip(outputs(model, variant), outputs(model, X)):
            np.testing.assert_array_equal(a, b)
    ro = X.copy()
    ro.setflags(write=False)
    outputs(model, ro)


@case
def every_solver_activation_dtype():
    for dtype in (np.float64, np.float32):
        X, y_clf, y_reg = data(dtype=dtype)
        for solver in ("sgd", "adam", "lbfgs"):
            for act in ("identity", "logistic", "tanh", "relu"):
                for Est, y in ((MLPClassifier, y_clf), (MLPRegressor, y_reg)):
                    m = Est(hidden_layer_sizes=(5, 3), activation=act, solver=solver,
                            max_iter=3, batch_size=8, random_state=0).fit(X, y)
                    assert m.coefs_[0].dtype == dtype
                    check_model(m, X)


@case
def binary_multilabel_multioutput_poisson():
    X, y_clf, y_reg = data()
    for solver in ("adam", "lbfgs"):
        small = dict(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0)
        check_model(MLPClassifier(**small).fit(X, y_clf % 2), X)     # logistic output
        Y = np.stack([y_clf % 2, y_clf // 2], axis=1)
        check_model(MLPClassifier(**small).fit(X, Y), X)             # multilabel
        check_model(MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0)
                    .fit(X, np.stack([y_reg, -y_reg], axis=1)), X)   # multi-output
        check_model(MLPRegressor(hidden_layer_sizes=(4,), loss="poisson", solver=solver, max_iter=3,
                                 random_state=0).fit(X, np.abs(y_reg)), X)  # exp output


@case
def options():
    X, y_clf, y_reg = data(n=60)
    sw = np.random.RandomState(1).rand(60)
    for solver in ("sgd", "adam", "lbfgs"):
        m = MLPClassifier(hidden_layer_sizes=(6,), solver=solver, max_iter=3, random_state=0)
        m.fit(X, y_clf, sample_weight=sw)
        check_model(m, X)
    for solver in ("sgd", "adam"):
        m = MLPRegressor(hidden_layer_sizes=(6,), solver=solver, max_iter=4, early_stopping=True,
                         validation_fraction=0.2, random_state=0).fit(X, y_reg)
        check_model(m, X)
        m = MLPRegressor(hidden_layer_sizes=(6,), solver=solver, max_iter=2, warm_start=True,
                         random_state=0)
        m.fit(X, y_reg).fit(X, y_reg)
        m = MLPRegressor(hidden_layer_sizes=(6,), solver=solver, shuffle=False,
                         nesterovs_momentum=False,
                         batch_size=1000, max_iter=2, random_state=0).fit(X, y_reg)
        check_model(m, X)
    # sgd learning-rate schedules
    for lr in ("invscaling", "adaptive"):
        MLPClassifier(hidden_layer_sizes=(3,), solver="sgd", learning_rate=lr, max_iter=3,
                      random_state=0).fit(X, y_clf)


@case
def partial_fit_and_assigned_weights():
    X, y_clf, y_reg = data(n=40)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        c = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, batch_size=7)
        for k in range(3):
            c.partial_fit(Xd[k::3], y_clf[k::3], classes=[0, 1, 2])
        check_model(c, Xd)
        r = MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", random_state=0)
        r.partial_fit(Xd, y_reg)
        r.coefs_ = [w * 0.5 for w in r.coefs_]   # assigned weights, then more training
        r.partial_fit(Xd, y_reg)
        check_model(r, Xd)


@case
def sparse_inputs():
    X, y_clf, y_reg = data(n=45, d=9)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        for fmt in (sp.csr_matrix, sp.csc_matrix):
            Xs = fmt(Xd)
            for solver in ("sgd", "adam", "lbfgs"):
                params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=3,
                              random_state=0, n_threads=1)
                ms = MLPClassifier(**params).fit(Xs, y_clf)
                md = MLPClassifier(**params).fit(Xd, y_clf)
                np.testing.assert_allclose(ms.predict_proba(Xs), md.predict_proba(Xd),
                                           rtol=1e-4, atol=1e-5)
        empty_rows = sp.csr_matrix((3, 9), dtype=dtype)      # rows without any entry
        ms.predict(empty_rows)
        ms.predict(sp.csr_matrix(Xd)[:1])


@case
def threads_and_large_products():
    # 256 x 256 x 128 multiply-adds per product, 64 per value read or written: shared
    # between threads (bp_threads_for_product; with 64 features they would not be)
    rng = np.random.RandomState(0)
    X = rng.randn(256, 256)
    y = (X[:, 0] > 0).astype(int)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        res = {}
        for nt in (1, 2):
            m = MLPClassifier(hidden_layer_sizes=(128,), solver="adam", batch_size=256, max_iter=2,
                              random_state=0, n_threads=nt).fit(Xd, y)
            res[nt] = m.predict_proba(Xd)
        np.testing.assert_array_equal(res[1], res[2])
        m = MLPRegressor(hidden_layer_sizes=(128,), solver="lbfgs", max_iter=2, random_state=0,
                         n_threads=2).fit(sp.csr_matrix(Xd), X[:, 0])
        m.predict(sp.csr_matrix(Xd))


@case
def deep_and_narrow():
    X, y_clf, _ = data(n=12, d=1)
    m = MLPClassifier((1,) * 20, max_iter=2, random_state=0, batch_size=5).fit(X, y_clf)
    check_model(m, X)
    m = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X[:1], y_clf[:1])
    m.predict(X)


@case
def errors_are_raised_not_crashed():
    X, y_clf, y_reg = data()
    m = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y_reg)
    bad = [
        lambda: m.predict(X[:, :3]),                         # wrong width
        lambda: m.predict(np.full_like(X, np.nan)),          # NaN
        lambda: m.predict(np.empty((0, X.shape[1]))),        # no rows
        lambda: MLPRegressor().predict(X),                   # not fitted
        lambda: MLPRegressor(hidden_layer_sizes=(0,)).fit(X, y_reg),
        lambda: MLPRegressor(batch_size=0).fit(X, y_reg),
        lambda: MLPRegressor(hidden_layer_sizes=(2**40,)).fit(X, y_reg),
        lambda: MLPRegressor(hidden_layer_sizes=(2**31, 2**31)).fit(X, y_reg),
    ]
    # Assigned weights of the wrong shape.
    m2 = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y_reg)
    m2.coefs_ = [m2.coefs_[0][:, :2], m2.coefs_[1]]
    bad.append(lambda: m2.predict(X))
    # The core's own checks: shapes, CSR structure, sizes.
    net = _core.Network([7, 4, 1], "relu", "identity", "squared_error", 8, 16)
    p = np.zeros(net.n_params)
    g = np.zeros(net.n_params)
    Y = np.zeros((37, 1))
    indptr = np.array([0, 1, 2], dtype=np.int64)
    bad += [
        lambda: net.loss_grad(p[:-1], X, Y, None, 0.0, g),
        lambda: net.loss_grad(p, X, Y[:-1], None, 0.0, g),
        lambda: net.loss_grad(p, X, Y, None, 0.0, g, rows=np.array([0, 37], dtype=np.int64)),
        lambda: net.loss_grad(p, X, Y, None, 0.0, g, rows=np.array([-1], dtype=np.int64)),
        lambda: net.predict(p, X, np.zeros((36, 1))),
        lambda: net.predict(p, X[:, :3], np.zeros((37, 1))),
        lambda: net.predict(p, (indptr, np.array([0, 7], dtype=np.int64),
                                np.ones(2), 2), np.zeros((2, 1))),         # column 7 of 7
        lambda: net.predict(p, (indptr, np.array([0, -1], dtype=np.int64),
                                np.ones(2), 2), np.zeros((2, 1))),
        lambda: net.predict(p, (np.array([0, 2, 1], dtype=np.int64),
                                np.array([0, 1], dtype=np.int64), np.ones(2), 2),
                            np.zeros((2, 1))),                               # decreasing
        lambda: net.predict(p, (np.array([0, 1, 5], dtype=np.int64),
                                np.array([0, 1], dtype=np.int64), np.ones(2), 2),
                            np.zeros((2, 1))),                               # past nnz
        lambda: net.train_epoch(p, np.zeros(1), "adam", 1e-3, 0.9, True, 0.9, 0.999, 1e-8,
                                0, 0.0, X, Y, None, None, 37, 8),            # state size
        lambda: net.train_epoch(p, np.zeros(2 * net.n_params), "adam", 1e-3, 0.9, True, 0.9,
                                0.999, 1e-8, 0, 0.0, X, Y, None,
                                np.array([0, 99], dtype=np.int64), 2, 1),    # order range
        lambda: net.train_epoch(p, np.zeros(2 * net.n_params), "adam", 1e-3, 0.9, True, 0.9,
                                0.999, 1e-8, 0, 0.0, X, Y, None, None, 37, 17),  # > max_rows
        lambda: _core.Network([7, 2**40, 1], "relu", "identity", "squared_error", 8, 16),
        lambda: _core.Network([7, 4, 1], "relu", "identity", "squared_error", 8, 2**62),
        lambda: _core.Network([2**62, 2**62], "relu", "identity", "squared_error", 8, 1),
        lambda: _core.Network([7, 0, 1], "relu", "identity", "squared_error", 8, 16),
        lambda: _core.Network([7, 4, 1], "softmax", "identity", "squared_error", 8, 16),
    ]
    for i, fn in enumerate(bad):
        try:
            fn()
        except (ValueError, TypeError, MemoryError, IndexError, AttributeError, OverflowError):
            pass
        except Exception as exc:   # NotFittedError is a ValueError; anything else is odd
            raise AssertionError(f"error case {i}: unexpected {type(exc).__name__}: {exc}")
        else:
            raise AssertionError(f"error case {i} did not raise")
    # The network above is still usable after all those rejected calls.
    out = np.zeros((37, 1))
    net.predict(p, X, out)
    assert net.loss_grad(p, X, Y, None, 0.0, g) == 0.0


@case
def save_and_load():
    if not (hasattr(bpfast, "save") and hasattr(bpfast, "load")):
        print("   (bpfast.save/load not present: skipped)")
        return
    X, y_clf, y_reg = data()
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            for m in (MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
                      .fit(Xd, y_clf),
                      MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", max_iter=3,
                                   random_state=0).fit(Xd, y_reg)):
                path = os.path.join(tmp, "model.bpfast")
                bpfast.save(m, path)
                m2 = bpfast.load(path)
                for a, b in zip(outputs(m, X.astype(dtype)), outputs(m2, X.astype(dtype))):
                    np.testing.assert_array_equal(a, b)
                m2.partial_fit(X.astype(dtype), y_clf if isinstance(m, MLPClassifier) else y_reg)
                with open(path, "r+b") as f:    # a damaged file is refused, not read
                    f.seek(-5, os.SEEK_END)
                    f.write(b"\xff\x00\xff\x00\xff")
                try:
                    bpfast.load(path)
                except ValueError:
                    pass
                else:
                    raise AssertionError("a damaged model file was loaded")


def main(argv):
    only = set(argv[1:])
    start = time.perf_counter()
    for fn in CASES:
        if only and fn.__name__ not in only:
            continue
        t = time.perf_counter()
        fn()
        print(f"ok {fn.__name__} ({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"valgrind_smoke: all {len(CASES) if not only else len(only)} cases passed "
          f"in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
