"""The safetensors container: a header length, a JSON header, then the tensors' bytes.

The layout, as the safetensors project specifies it::

    8 bytes   N, the length of the header, an unsigned little-endian integer
    N bytes   a UTF-8 JSON object. "__metadata__" maps strings to strings; every
              other key names a tensor, as
              {"dtype": "F64", "shape": [64, 32], "data_offsets": [begin, end]}
              with byte offsets relative to the start of the data. Trailing
              spaces pad the header so that the data starts at a multiple of 8.
    the rest  the tensors' bytes, little-endian and in C order, packed with no
              gap and no overlap.

This module writes that layout and reads it strictly, without the safetensors
package: everything the header declares is checked against the real size of
the file before any tensor data is read, so a lying header costs nothing. Only
the dtypes bpfast stores, F32 and F64, are accepted. Every problem raises
:class:`~bpfast.ModelFormatError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO, Iterator

import numpy as np

from ._exceptions import ModelFormatError
from ._json import check_fields, dumps, is_int, loads_json

#: Largest header a reader accepts (the header holds the metadata, not the weights).
MAX_HEADER_BYTES = 16 * 1024 * 1024

#: The tensor dtypes this module reads and writes, by their safetensors names.
DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}

_MAX_NDIM = 8
_MAX_DIM = 2**62


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header declares it."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def dtype_name(dtype: np.dtype) -> str:
    """The safetensors name of a float32 or float64 dtype (any byte order)."""
    for name, candidate in DTYPES.items():
        if np.dtype(dtype).newbyteorder("<") == candidate:
            return name
    raise ValueError(f"dtype {np.dtype(dtype)} cannot be stored; only float32 and float64 can")


def tensor_bytes(arrays: list[np.ndarray]) -> Iterator[memoryview]:
    """The bytes of each array as stored: little-endian, C order."""
    for array in arrays:
        stored = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        yield memoryview(stored.reshape(-1).view(np.uint8))


def write(f: BinaryIO, metadata: dict[str, str], tensors: list[tuple[str, np.ndarray]]) -> None:
    """Write ``metadata`` and the named ``tensors``, in that order, to ``f``.

    Raises
    ------
    ValueError
        If a tensor is not float32/float64, or the header would exceed
        ``MAX_HEADER_BYTES``.
    """
    header: dict = {"__metadata__": metadata}
    offset = 0
    for name, array in tensors:
        nbytes = array.size * array.itemsize
        header[name] = {
            "dtype": dtype_name(array.dtype),
            "shape": list(array.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    raw = dumps(header).encode("ascii")
    raw += b" " * (-(8 + len(raw)) % 8)
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(
            f"the header would take {len(raw)} bytes, more than the {MAX_HEADER_BYTES} "
            "a reader accepts"
        )
    f.write(len(raw).to_bytes(8, "little"))
    f.write(raw)
    for chunk in tensor_bytes([array for _, array in tensors]):
        f.write(chunk)


def read_header(f: BinaryIO, file_size: int) -> tuple[dict[str, str], dict[str, TensorEntry]]:
    """Read and check the header of a file of ``file_size`` bytes positioned at its start.

    Returns
    -------
    metadata : dict of str to str
        The ``__metadata__`` map (empty when absent).
    entries : dict of str to TensorEntry
        The declared tensors, in the order of their data. Their byte ranges
        are checked to tile the rest of the file exactly, with no gap or
        overlap, and to match their dtypes and shapes.

    Raises
    ------
    ModelFormatError
        If the file is too short, the header too long, not JSON, or declares
        tensors that do not fit the file exactly.
    """
    if file_size < 8:
        raise ModelFormatError(
            f"the file has {file_size} bytes, fewer than the 8 that give the header length"
        )
    n = int.from_bytes(_read_exactly(f, 8), "little")
    if n > MAX_HEADER_BYTES:
        raise ModelFormatError(
            f"the file declares a header of {n} bytes, more than the limit of "
            f"{MAX_HEADER_BYTES}: it is not a model file, or is damaged"
        )
    if n > file_size - 8:
        raise ModelFormatError(
            f"the file is truncated: it declares a header of {n} bytes but only "
            f"{file_size - 8} follow the header length"
        )
    try:
        text = _read_exactly(f, n).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFormatError("the header is not UTF-8 text") from None
    if not text.startswith("{"):
        raise ModelFormatError("the header is not a JSON object")
    header = loads_json(text, "the header")
    if not isinstance(header, dict):
        raise ModelFormatError("the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFormatError("the header's __metadata__ is not a map of strings to strings")
    entries = {name: _entry(name, spec) for name, spec in header.items()}
    entries = dict(sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)))
    _check_tiling(entries, file_size - 8 - n)
    return metadata, entries


def _read_exactly(f: BinaryIO, size: int) -> bytes:
    """``size`` bytes from ``f``; a shorter read means the file was cut short."""
    data = f.read(size)
    if len(data) != size:
        raise ModelFormatError(
            f"the file is truncated: expected {size} more bytes, found {len(data)}"
        )
    return data


def read_tensors(f: BinaryIO, entries: dict[str, TensorEntry]) -> dict[str, np.ndarray]:
    """Read the tensors that ``read_header`` returned, from the end of the header on.

    Each tensor is read straight into its own native-endian array, so a model
    takes its size in memory once.
    """
    arrays = {}
    for name, entry in entries.items():
        stored = np.empty(entry.shape, dtype=DTYPES[entry.dtype])
        view = memoryview(stored.reshape(-1).view(np.uint8))
        filled = 0
        while filled < len(view):
            count = f.readinto(view[filled:])
            if not count:
                raise ModelFormatError(
                    f"the file is truncated: tensor {name!r} lacks {len(view) - filled} bytes"
                )
            filled += count
        arrays[name] = stored.astype(stored.dtype.newbyteorder("="), copy=False)
    return arrays


def _entry(name: str, spec) -> TensorEntry:
    where = f"tensor {name!r}"
    if not isinstance(spec, dict):
        raise ModelFormatError(f"{where} is not described by a JSON object")
    check_fields(spec, {"dtype", "shape", "data_offsets"}, set(), where)
    dtype = spec["dtype"]
    if not (isinstance(dtype, str) and dtype in DTYPES):
        raise ModelFormatError(
            f"{where} has dtype {dtype!r}; only {' and '.join(DTYPES)} are supported"
        )
    shape = spec["shape"]
    if not (
        isinstance(shape, list)
        and len(shape) <= _MAX_NDIM
        and all(is_int(d) and 0 <= d <= _MAX_DIM for d in shape)
    ):
        raise ModelFormatError(f"{where} has an invalid shape {shape!r}")
    offsets = spec["data_offsets"]
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(is_int(o) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise ModelFormatError(f"{where} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise ModelFormatError(
            f"{where} of dtype {dtype} and shape {shape} needs {nbytes} bytes, "
            f"but its data_offsets span {end - begin}"
        )
    return TensorEntry(dtype, tuple(shape), begin, end)


def _check_tiling(entries: dict[str, TensorEntry], data_size: int) -> None:
    """The tensors' byte ranges must cover ``[0, data_size)`` exactly once."""
    position = 0
    for name, entry in entries.items():  # in the order of their data
        if entry.begin != position:
            problem = (
                "overlaps the tensor before it"
                if entry.begin < position
                else (f"starts at byte {entry.begin}, leaving a gap after byte {position}")
            )
            raise ModelFormatError(f"the data of tensor {name!r} {problem}")
        position = entry.end
    if position > data_size:
        raise ModelFormatError(
            f"the file is truncated: its tensors need {position} bytes of data, "
            f"{data_size} are present"
        )
    if position < data_size:
        raise ModelFormatError(
            f"the file has {data_size - position} unexpected bytes after its last tensor"
        )
