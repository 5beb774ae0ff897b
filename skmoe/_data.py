"""Internal data handling: scaling, the design matrix, row chunks, subsamples.

Everything the solvers see is standardised: features by their weighted mean
and standard deviation, regression targets likewise. Column 0 of the design
matrix is the intercept (a column of ones), so parameter matrices of shape
``(..., n_features + 1)`` hold the intercept in position 0.
"""

import numpy as np

from . import _kernels

#: Rows per chunk in a data pass are chosen so that a chunk's temporaries
#: (``rows x n_experts x n_outputs`` and ``rows x n_features``) stay near this
#: many float64 values; a function of the shapes only, never of the thread
#: count, so the order of floating-point sums is fixed.
_CHUNK_VALUES = 1 << 19
_MIN_CHUNK_ROWS = 1024
_MAX_CHUNK_ROWS = 1 << 16


def chunk_rows(n_samples, width, values=_CHUNK_VALUES):
    """Rows per chunk for a pass whose widest temporary has ``width`` columns.

    ``values``: the target size of a chunk's temporaries, in float64 values.
    """
    rows = values // max(int(width), 1)
    rows = int(min(max(rows, _MIN_CHUNK_ROWS), _MAX_CHUNK_ROWS))
    return max(1, min(rows, n_samples))


def iter_chunks(n_samples, rows):
    """Yield ``slice`` objects covering ``range(n_samples)`` in order."""
    for start in range(0, n_samples, rows):
        yield slice(start, min(start + rows, n_samples))


class Scaler:
    """Weighted standardisation of the columns of a matrix.

    A zero-weight row does not move the statistics. Columns that are
    constant (up to round-off) get scale 1, so that standardising maps them
    to zero instead of dividing by zero.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_columns)
    sample_weight : ndarray of shape (n_samples,)
    """

    def __init__(self, X, sample_weight):
        w = sample_weight / sample_weight.sum()
        # columns are divided by their largest magnitude first, so that
        # values near the float64 limits (1e160) do not overflow when squared
        big = np.max(np.abs(X), axis=0) if X.shape[0] else np.ones(X.shape[1])
        big = np.where(big > 0, big, 1.0)
        mean = (w @ (X / big)) * big
        var = np.zeros(X.shape[1])
        rows = chunk_rows(X.shape[0], X.shape[1])
        for sl in iter_chunks(X.shape[0], rows):
            diff = (X[sl] - mean) / big
            var += w[sl] @ (diff * diff)
        self._finish(mean, var, big)

    @classmethod
    def from_moments(cls, mean, var, big):
        """The scaler from ``mean``, ``var`` (of ``X / big``) and ``big`` (``max |X|``, 0 -> 1).

        For statistics summed elsewhere (per chunk of a Dask array) with the
        same formulas as ``__init__``.
        """
        scaler = cls.__new__(cls)
        scaler._finish(np.asarray(mean, dtype=float), np.asarray(var, dtype=float), big)
        return scaler

    def _finish(self, mean, var, big):
        scale = np.sqrt(var) * big
        # round-off in the mean of a constant column leaves a scale of order
        # eps * |mean|; treat such columns as constant
        tiny = 64.0 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), np.finfo(float).tiny)
        constant = (scale <= tiny) | (scale == 0.0)
        scale[constant] = 1.0
        self.mean_ = mean
        self.scale_ = scale
        self.var_ = np.where(constant, 0.0, var)
        self.constant_ = constant

    def state(self):
        """Plain arrays (what an estimator stores)."""
        return {"mean": self.mean_, "scale": self.scale_, "var": self.var_,
                "constant": self.constant_}

    @classmethod
    def from_state(cls, state):
        """The scaler stored by :meth:`state`."""
        scaler = cls.__new__(cls)
        scaler.mean_, scaler.scale_ = state["mean"], state["scale"]
        scaler.var_, scaler.constant_ = state["var"], state["constant"]
        return scaler

    def transform(self, X, out=None):
        """Standardise ``X`` (optionally into ``out``)."""
        if out is None:
            return (X - self.mean_) / self.scale_
        np.subtract(X, self.mean_, out=out)
        out /= self.scale_
        return out


def design_matrix(X, scaler, out=None):
    """``[1, (X - mean) / scale]`` as a C-contiguous float64 array."""
    n, d = X.shape
    if out is None:
        out = np.empty((n, d + 1))
    out[:, 0] = 1.0
    scaler.transform(X, out=out[:, 1:])
    return out


def canonical_subsample(columns, weight, max_rows, seed, hash_view=None):
    """An order-free, duplication-consistent weighted subsample of rows.

    Rows are selected by a hash of their values (see
    :func:`skmoe._kernels.hash_rows`), then identical rows are merged (their
    weights added) and sorted lexicographically. The result depends only on
    the weighted set of rows, not on their order, and ``w`` copies of a row
    give the same result as one row with weight ``w``.

    Parameters
    ----------
    columns : list of ndarray
        2-D arrays with ``n_samples`` rows, concatenated column-wise.
    weight : ndarray of shape (n_samples,)
    max_rows : int
        Expected number of rows selected when ``n_samples > max_rows``.
    seed : int
        Seed mixed into the hash (unsigned 64-bit).
    hash_view : callable or None
        Maps a block of concatenated raw rows to the values that are hashed
        (e.g. rounded standardised values, so that rescaled data select the
        same rows); None hashes the raw values.

    Returns
    -------
    rows : ndarray of shape (n_unique, n_columns)
    row_weight : ndarray of shape (n_unique,)
    """
    n = columns[0].shape[0]
    width = sum(c.shape[1] for c in columns)
    if n <= max_rows:
        selected = np.hstack(columns) + 0.0  # -0.0 -> 0.0
        sel_weight = weight
    else:
        threshold = np.uint64(min(max_rows / n, 1.0) * float(2**64 - 1))
        keep = np.empty(n, dtype=bool)
        hashes = np.empty(chunk_rows(n, width), dtype=np.uint64)
        for sl in iter_chunks(n, hashes.shape[0]):
            block = np.hstack([c[sl] for c in columns])
            if hash_view is not None:
                block = hash_view(block)
            block = np.ascontiguousarray(block) + 0.0
            h = hashes[: block.shape[0]]
            with np.errstate(over="ignore"):  # wrap-around is the point (pure-Python mode)
                _kernels.hash_rows(block.view(np.uint64), np.uint64(seed), h)
            keep[sl] = h <= threshold
        selected = np.hstack([c[keep] for c in columns]) + 0.0
        sel_weight = weight[keep]
    rows, inverse = np.unique(selected, axis=0, return_inverse=True)
    row_weight = np.bincount(inverse.ravel(), weights=sel_weight, minlength=rows.shape[0])
    nonzero = row_weight > 0
    return np.ascontiguousarray(rows[nonzero]), row_weight[nonzero]
