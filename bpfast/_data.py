"""Turning validated inputs into the buffers the C core reads."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def core_matrix(X, dtype):
    """A C-contiguous array, or a CSR tuple ``(indptr, indices, data, n_rows)``.

    No copy is made when ``X`` is already C-contiguous in ``dtype`` (dense) or
    CSR with int64 indices and ``dtype`` values; otherwise one converted copy.
    Within a CSR row the order of the entries does not matter to the core, and
    duplicate entries are summed, as scipy sums them. The caller's object is
    never modified.
    """
    if sp.issparse(X):
        X = X.tocsr()
        indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(X.indices, dtype=np.int64)
        data = np.ascontiguousarray(X.data, dtype=dtype)
        return (indptr, indices, data, X.shape[0])
    return np.ascontiguousarray(X, dtype=dtype)
