"""The parameter slab: all weights, then all biases, in one contiguous vector.

The order is scikit-learn's ``_pack`` order, so the slab is also the vector that
L-BFGS optimises. ``coefs_`` and ``intercepts_`` are views into it after a fit.
"""

from __future__ import annotations

import numpy as np


#: Bytes to which slabs and optimizer states are aligned: a cache line, so that the
#: core's vector loads of weights read in place (and of the update's arrays) never
#: straddle two lines, as they do from numpy's 16-byte-aligned buffers.
_ALIGN = 64


def n_params(layer_units: list[int]) -> int:
    """Length of the slab for the given layer widths."""
    pairs = zip(layer_units[:-1], layer_units[1:])
    return sum(a * b for a, b in pairs) + sum(layer_units[1:])


def _aligned(allocate, n: int, dtype) -> np.ndarray:
    """``n`` elements starting on a cache line, from a buffer made by ``allocate``.

    For the core's float32 and float64, whose sizes divide the line.
    """
    dtype = np.dtype(dtype)
    buffer = allocate(n + _ALIGN // dtype.itemsize, dtype=dtype)
    skip = (-buffer.ctypes.data % _ALIGN) // dtype.itemsize
    return buffer[skip : skip + n]


def aligned_empty(n: int, dtype) -> np.ndarray:
    """A new uninitialised vector of ``n`` elements starting on a cache line."""
    return _aligned(np.empty, n, dtype)


def aligned_zeros(n: int, dtype) -> np.ndarray:
    """A new vector of ``n`` zeros starting on a cache line.

    From ``np.zeros``, whose large buffers come zeroed from the system without a
    pass over them: their pages are zero-filled when the core first writes them,
    on all its threads. Filling them here faulted every page in on this thread
    first (6-36 ms of serial start for a (2048, 2048) network's optimizer state
    on the Zen 5 VM).
    """
    return _aligned(np.zeros, n, dtype)


def as_aligned(vector: np.ndarray, dtype) -> np.ndarray:
    """``vector`` if it is contiguous ``dtype`` on a cache line, else an aligned copy.

    A copy, for instance, of an optimizer state loaded from a file.
    """
    if (
        vector.dtype == dtype
        and vector.flags.c_contiguous
        and vector.ctypes.data % _ALIGN == 0
    ):
        return vector
    out = aligned_empty(vector.shape[0], dtype)
    out[...] = vector
    return out


def pack(coefs, intercepts, layer_units, dtype) -> np.ndarray:
    """Copy ``coefs`` and ``intercepts`` into a new slab of ``dtype``.

    Raises
    ------
    ValueError
        If the arrays do not have the shapes the layer widths require (for
        example after a user assigned ``coefs_`` of the wrong shape).
    """
    n_layers = len(layer_units) - 1
    if len(coefs) != n_layers or len(intercepts) != n_layers:
        raise ValueError(
            f"coefs_ and intercepts_ must hold {n_layers} arrays each for layer sizes "
            f"{list(layer_units)}; got {len(coefs)} and {len(intercepts)}."
        )
    slab = aligned_empty(n_params(layer_units), dtype)
    coef_views, intercept_views = unpack(slab, layer_units)
    for view, array, name in zip(
        coef_views + intercept_views,
        list(coefs) + list(intercepts),
        [f"coefs_[{i}]" for i in range(n_layers)] + [f"intercepts_[{i}]" for i in range(n_layers)],
    ):
        array = np.asarray(array)
        if array.shape != view.shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {view.shape}.")
        view[...] = array
    return slab


def unpack(slab: np.ndarray, layer_units) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views of ``slab`` shaped as ``coefs_`` and ``intercepts_``."""
    coefs, intercepts = [], []
    start = 0
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        end = start + fan_in * fan_out
        coefs.append(slab[start:end].reshape(fan_in, fan_out))
        start = end
    for fan_out in layer_units[1:]:
        intercepts.append(slab[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


# Elements per draw in glorot_slab: 256 KiB of float64, which malloc serves from its heap
# after the first draw (glibc raises its mmap threshold to a freed block's size), reusing
# the same memory from one draw to the next. One draw per layer allocated each layer's
# float64 array afresh (a 2048 x 2048 layer's 32 MiB as new pages from mmap, faulted in
# and zeroed), then cast and copied it into the slab: 41 ms of a (2048, 2048) network's
# serial start on the Zen 5 VM, 27 ms in chunks.
_DRAW_CHUNK = 1 << 15


def glorot_slab(random_state, layer_units, activation, dtype) -> np.ndarray:
    """A new slab of initial weights, drawn exactly as scikit-learn draws them.

    Per layer, the weights and then the biases come from one uniform
    distribution of bound ``sqrt(factor / (fan_in + fan_out))``, with factor 2
    for the logistic activation and 6 otherwise. They are drawn in float64 and
    cast to ``dtype``, as scikit-learn casts them.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    slab = aligned_empty(n_params(layer_units), dtype)
    coefs, intercepts = unpack(slab, layer_units)
    for coef, intercept in zip(coefs, intercepts):
        fan_in, fan_out = coef.shape
        bound = np.sqrt(factor / (fan_in + fan_out))
        for out in (coef.reshape(-1), intercept):
            # The legacy generator fills an array element by element, so consecutive
            # draws of a few elements each are the draw of them all at once.
            for start in range(0, out.shape[0], _DRAW_CHUNK):
                part = out[start : start + _DRAW_CHUNK]
                part[...] = random_state.uniform(-bound, bound, part.shape[0])
    return slab
