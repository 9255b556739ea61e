"""Layouts of numeric and categorical sketches as written before: the first (DTS1), and DTS2 before its 4-byte
sample and 2-byte counts. Kept here so that tests can store what older databases hold."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from metrics.stats import sketch as sk


def legacy_to_bytes(sketch: sk.Sketch) -> bytes:
    """What `to_bytes` wrote before DTS2: edges copied into every binned sketch, counts as <i8."""
    if isinstance(sketch, sk.CategoricalSketch):
        header = {"kind": "categorical", "n": sketch.n, "nulls": sketch.nulls, "other": sketch.other}
        header["counts"] = list(sketch.counts.items())
        arrays: list[np.ndarray] = []
    else:
        header = {
            "kind": "numeric",
            "n": sketch.n,
            "nulls": sketch.nulls,
            "reservoir": len(sketch.reservoir),
            "edges": None if sketch.edges is None else len(sketch.edges),
            "distinct": None if sketch.distinct is None else list(sketch.distinct.items()),
            "sums": sketch.sums is not None,
            "lo": sketch.lo,
            "hi": sketch.hi,
            "mean": sketch.mean,
            "m2": sketch.m2,
        }
        arrays = [sketch.reservoir.astype("<f8")]
        if sketch.edges is not None and sketch.counts is not None:
            arrays += [sketch.edges.astype("<f8"), sketch.counts.astype("<i8")]
            if sketch.sums is not None:
                arrays.append(sketch.sums.astype("<f8"))
    return _packed(b"DTS1", header, arrays)


def wide_dts2_to_bytes(sketch: sk.NumericSketch, edges: np.ndarray) -> bytes:
    """What `to_bytes` wrote in DTS2 before the 4-byte sample and 2-byte counts, for a sketch binned on its
    column's frozen `edges` (every bin stored): the sample <f8, counts <u4, sums <f8."""
    header = {
        "kind": "numeric",
        "n": sketch.n,
        "nulls": sketch.nulls,
        "reservoir": len(sketch.reservoir),
        "edges": len(edges),
        "distinct": None,
        "sums": True,
        "lo": sketch.lo,
        "hi": sketch.hi,
        "mean": sketch.mean,
        "m2": sketch.m2,
        "ref": zlib.crc32(edges.astype("<f8").tobytes()),
        "cw": 4,
    }
    arrays = [sketch.reservoir.astype("<f8"), sketch.counts.astype("<u4"), sketch.sums.astype("<f8")]
    return _packed(b"DTS2", header, arrays)


def _packed(magic: bytes, header: dict, arrays: list[np.ndarray]) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<4sI", magic, len(head)) + head + b"".join(a.tobytes() for a in arrays)


def assert_same(a: sk.Sketch, b: sk.Sketch) -> None:
    """Two sketches hold the same values (arrays compared element by element)."""
    assert type(a) is type(b)
    if isinstance(a, sk.CategoricalSketch):
        assert a == b
        return
    for name in ("n", "nulls", "distinct", "lo", "hi", "mean", "m2"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("reservoir", "edges", "counts", "sums"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype, name
            assert same_sample(x, y) if name == "reservoir" and not b.complete else np.array_equal(x, y), name


def same_sample(stored: np.ndarray, sample: np.ndarray) -> bool:
    """An overflowed sketch's display sample as stored (float32 offsets from its minimum): each value within
    2**-24 of the sample's range of the value it was, in the same order."""
    if len(stored) != len(sample):
        return False
    bound = 2.0**-24 * float(np.ptp(sample)) if len(sample) else 0.0
    return bool(np.all(np.abs(stored - sample) <= bound))


def legacy_pairs_to_bytes(sketch: sk.PairSketch) -> bytes:
    """What `pairs_to_bytes` wrote before DTS2: the (prediction, label) rows as <f8 pairs."""
    head = json.dumps({"kind": "pairs", "n": sketch.n, "rows": len(sketch.reservoir)}).encode()
    return struct.pack("<4sI", b"DTS1", len(head)) + head + sketch.reservoir.astype("<f8").tobytes()
