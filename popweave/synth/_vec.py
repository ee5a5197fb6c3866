"""Vectorised helpers for the generator: ids, dates, categorical draws, calibration."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.date(1970, 1, 1)


def day(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def ids(prefix: str, n: int, start: int = 0) -> pa.Array:
    """``prefix`` + running number, built in Arrow (no Python loop)."""
    nums = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), nums, "")


def take_ids(prefix: str, index: np.ndarray) -> pa.Array:
    """Ids of rows ``index`` made by :func:`ids` with the same prefix; -1 gives null."""
    idx = np.asarray(index, dtype=np.int64)
    nums = pc.cast(pa.array(idx, mask=idx < 0), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), nums, "")


def labels(values: list[str] | tuple[str, ...], index: np.ndarray) -> pa.Array:
    """Strings ``values[index]`` (index -1 -> null), decoded to a plain string column."""
    idx = np.asarray(index, dtype=np.int32)
    arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(values, pa.string()))
    return arr.dictionary_decode()


def dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """date32 from days since epoch; ``mask`` True -> null."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(), mask=mask)


def timestamps(seconds: np.ndarray) -> pa.Array:
    """timestamp[us] from seconds since epoch."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, type=pa.timestamp("us"))


def expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def calibrate(linear: np.ndarray, target: float, weights: np.ndarray | None = None) -> float:
    """Intercept ``a`` such that the mean of expit(a + linear) equals ``target`` (bisection)."""
    lo, hi = -20.0, 20.0
    w = np.ones_like(linear) if weights is None else weights
    wsum = w.sum()
    for _ in range(60):
        mid = (lo + hi) / 2
        if (expit(mid + linear) * w).sum() / wsum < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def calibrate_rate(linear: np.ndarray, target: float, exposure: np.ndarray) -> float:
    """Log-rate intercept so that sum(exp(a + linear) * exposure) / sum(exposure) == target."""
    return float(np.log(target * exposure.sum() / (np.exp(linear) * exposure).sum()))


def categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) logit matrix (Gumbel-max)."""
    g = rng.gumbel(size=logits.shape)
    out: np.ndarray = np.argmax(logits + g, axis=1)
    return out


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """Row index repeated ``counts`` times: [0,0,1,3,3,3] for counts [2,1,0,3]."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def rank_within(groups: np.ndarray) -> np.ndarray:
    """For sorted ``groups``, the 0-based position of each row inside its group."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    out: np.ndarray = np.arange(n) - np.repeat(starts, lengths)
    return out
