"""Print a fingerprint of the installed core's arithmetic, one line per kernel variant.

Each line is a SHA-256 of the weights after a short fit (float32 and float64, products
large enough to take every GEMM path) and of predictions. Two builds whose kernels do
the same arithmetic print the same lines: CI compares the GCC vector-extension build
with the intrinsics build (MSVC's micro-kernel), which must agree bitwise.

Usage: python tools/kernel_fingerprint.py
"""

import hashlib
import os

import numpy as np

from bpfast import MLPClassifier, _core


def fingerprint(isa: str) -> str:
    rng = np.random.RandomState(0)
    X = rng.standard_normal((600, 70))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    digest = hashlib.sha256()
    os.environ["BPFAST_ISA"] = isa
    for dtype in (np.float32, np.float64):
        est = MLPClassifier((130, 37), max_iter=3, batch_size=150, random_state=0, n_threads=1)
        est.fit(X.astype(dtype), y)
        for array in (*est.coefs_, *est.intercepts_, est.predict_proba(X.astype(dtype))):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    for isa in ("baseline", "avx2", "avx512"):
        if _core.isa_available(isa):
            print(isa, fingerprint(isa))
