"""Inputs: the dtype scikit-learn validates them in, and the buffers the C core reads."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

try:  # how scikit-learn reads data frames (its dependency since 1.9)
    import narwhals.stable.v2 as nw
except ImportError:  # pragma: no cover - older scikit-learn without narwhals 2
    try:
        import narwhals.stable.v1 as nw
    except ImportError:
        nw = None


def frame_float_dtype(X, default):
    """The ``dtype`` to hand to scikit-learn's ``validate_data`` for ``X``.

    ``np.float32`` when ``X`` is a data frame (polars, pyarrow, pandas: anything
    narwhals, which scikit-learn itself uses, reads as an eager frame) whose
    columns are all float32; ``default`` otherwise.

    scikit-learn's ``check_array`` keeps float32 whenever it can see the input's
    dtype (numpy arrays, sparse matrices, pandas frames of numpy dtypes), but a
    polars or pyarrow frame, or a pandas frame of extension dtypes, shows it
    none, so ``dtype=(np.float64, np.float32)`` turns float32 columns into
    float64. Naming float32 here applies the same rule to those frames. Nothing
    else changes: ``validate_data`` still records or checks the feature names
    and the feature count, converts the frame and raises its own errors (NaN,
    infinity, shape, names). Without narwhals (scikit-learn < 1.9 does not
    require it) this returns ``default``, so such frames train in float64.
    """
    if nw is None or isinstance(X, np.ndarray) or sp.issparse(X):
        return default
    frame = nw.from_native(X, eager_only=True, pass_through=True)
    if not isinstance(frame, nw.DataFrame):
        return default
    dtypes = frame.schema.dtypes()
    if dtypes and all(dtype == nw.Float32 for dtype in dtypes):
        return np.float32
    return default


def core_matrix(X, dtype):
    """A C-contiguous array, or a CSR tuple ``(indptr, indices, data, n_rows)``.

    No copy is made when ``X`` is already C-contiguous in ``dtype`` (dense) or
    CSR with int64 indices and ``dtype`` values; otherwise one converted copy.
    Within a CSR row the order of the entries does not matter to the core, and
    duplicate entries are summed, as scipy sums them. The caller's object is
    never modified.
    """
    if type(X) is np.ndarray:   # the common case, without scipy's abc checks
        return np.ascontiguousarray(X, dtype=dtype)
    if sp.issparse(X):
        X = X.tocsr()
        indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(X.indices, dtype=np.int64)
        data = np.ascontiguousarray(X.data, dtype=dtype)
        return (indptr, indices, data, X.shape[0])
    return np.ascontiguousarray(X, dtype=dtype)
