"""Orderings for millions of rows an hour, without ``argsort``.

numpy's ``sort`` of plain int64 values is several times faster than a stable
``argsort`` (or ``unique(return_index=True)``, which is one). Packing a sort key
and the row number into one int64 and sorting that gives the permutation too,
stable by construction: equal keys keep their row order.
"""

from __future__ import annotations

import numpy as np

_ROW_BITS = 24  # rows per call: 16 million


def order(keys: np.ndarray, key_bits: int) -> np.ndarray:
    """The stable sorting permutation of non-negative ``keys`` below ``2**key_bits``."""
    count = len(keys)
    if count >= 1 << _ROW_BITS or key_bits + _ROW_BITS > 63:
        return np.argsort(keys, kind="stable")
    packed = (keys.astype(np.int64) << _ROW_BITS) | np.arange(count, dtype=np.int64)
    packed.sort()
    return packed & ((1 << _ROW_BITS) - 1)


def first_of_each(keys: np.ndarray, key_bits: int) -> np.ndarray:
    """Positions of the first row of each distinct key (rows in their given order)."""
    if not len(keys):
        return np.zeros(0, np.int64)
    permutation = order(keys, key_bits)
    ordered = keys[permutation]
    starts = np.ones(len(keys), bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return permutation[starts]
