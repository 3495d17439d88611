"""A strict reader for one numeric matrix in a MATLAB 5 ``.mat`` file (the AASCE labels).

Why not ``scipy.io.loadmat``: a few damaged or crafted bytes make its compiled
reader crash the whole process (a segmentation fault found by the fuzz test in
tests/core/test_fuzz_readers.py), and a dataset is exactly the kind of file
people download and pass on. This reader handles only what a label file
needs: MATLAB 5 files (the format MATLAB writes by default), compressed or
not, little- or big-endian, and a real numeric 2-D variable by name. Every
length is checked against the bytes present before it is used; anything else
(cells, structs, text, sparse, complex, v7.3/HDF5 files) reads as "not there".
Writing stays with scipy (``savemat``), which only ever sees our own arrays.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 16 << 20  # a 68 x 2 label file is a few hundred bytes
MAX_VALUES = 1 << 20
MI_MATRIX, MI_COMPRESSED = 14, 15
MI_INT8, MI_UINT32, MI_INT32 = 1, 6, 5
NUMERIC = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    9: "f8",
    12: "i8",
    13: "u8",
}
NUMERIC_CLASSES = frozenset(range(6, 16))  # mxDOUBLE_CLASS .. mxUINT64_CLASS
COMPLEX_FLAG = 0x0800


class _Bad(Exception):
    """Internal: the bytes are not what the format says."""


def read_mat_matrix(path: str | Path, name: str) -> np.ndarray | None:
    """The real 2-D numeric variable ``name`` as float64, or None when there is none."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES or len(data) < 128 or not data.startswith(b"MATLAB 5.0"):
        return None
    order = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if order is None:
        return None
    try:
        return _find(data, 128, order, name.encode())
    except (_Bad, struct.error, zlib.error, ValueError):
        return None


def _find(data: bytes, pos: int, order: str, name: bytes) -> np.ndarray | None:
    while pos + 8 <= len(data):
        kind, payload, pos = _element(data, pos, order)
        if kind == MI_COMPRESSED:
            inflate = zlib.decompressobj()
            inner = inflate.decompress(payload, 8 * MAX_VALUES + 4096)
            if len(inner) >= 8:
                kind, payload, _ = _element(inner, 0, order)
        if kind == MI_MATRIX:
            found = _matrix(payload, order, name)
            if found is not None:
                return found
    return None


def _element(data: bytes, pos: int, order: str) -> tuple[int, bytes, int]:
    """(type, payload, position of the next element) of the data element at ``pos``."""
    (tag,) = struct.unpack_from(order + "I", data, pos)
    if tag >> 16:  # small element: type and size in one word, data in the next 4 bytes
        kind, size = tag & 0xFFFF, tag >> 16
        if size > 4:
            raise _Bad
        return kind, data[pos + 4 : pos + 4 + size], pos + 8
    (size,) = struct.unpack_from(order + "I", data, pos + 4)
    start, end = pos + 8, pos + 8 + size
    if end > len(data):
        raise _Bad
    kind = tag
    step = size if kind == MI_COMPRESSED else (size + 7) // 8 * 8
    return kind, data[start:end], start + step


def _matrix(data: bytes, order: str, wanted: bytes) -> np.ndarray | None:
    kind, flags, pos = _element(data, 0, order)
    if kind != MI_UINT32 or len(flags) < 4:
        return None
    (word,) = struct.unpack_from(order + "I", flags)
    if (word & 0xFF) not in NUMERIC_CLASSES or word & COMPLEX_FLAG:
        return None
    kind, dims_raw, pos = _element(data, pos, order)
    if kind != MI_INT32 or len(dims_raw) != 8:
        return None  # only 2-D
    rows, cols = struct.unpack(order + "ii", dims_raw)
    kind, var_name, pos = _element(data, pos, order)
    if kind != MI_INT8 or var_name != wanted:
        return None
    kind, real, _ = _element(data, pos, order)
    dtype = NUMERIC.get(kind)
    if dtype is None or rows < 0 or cols < 0 or rows * cols > MAX_VALUES:
        return None
    values = np.frombuffer(real, dtype=np.dtype(dtype).newbyteorder(order))
    if values.size != rows * cols:
        return None
    return values.astype(np.float64).reshape((rows, cols), order="F")
