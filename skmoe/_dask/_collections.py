"""Dask collections: recognising them, importing Dask, aligning the inputs of a fit.

Dask is imported only when a Dask collection is passed; collections are
recognised by the module of their type, so ``import skmoe`` never needs it.
"""

import functools

import numpy as np

from .._threads import numba_threads

#: The install command named in errors.
EXTRA = 'pip install "skmoe[dask]"'


def is_dask_collection(obj):
    """Whether ``obj`` is a Dask collection (array, DataFrame, ...), without importing Dask."""
    module = type(obj).__module__ or ""
    return module == "dask" or module.startswith(("dask.", "dask_expr"))


def is_dask_input(*objs):
    """Whether any of ``objs`` is a Dask collection."""
    return any(is_dask_collection(obj) for obj in objs)


def import_dask():
    """``(dask, dask.array)``, or ``ImportError`` naming the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            "skmoe was given a Dask collection, but Dask is not installed. Install "
            f"skmoe's optional Dask support with: {EXTRA}"
        ) from exc
    return dask, da


def single_threaded(fn):
    """Run a task body with one Numba thread and single-threaded BLAS."""

    # same name and qualname: pickled by reference (the module attribute is the wrapper)
    @functools.wraps(fn)
    def task(*args):
        with numba_threads(1):
            return fn(*args)

    return task


def add(a, b):
    """Sum of two (nested tuple / list / dict of) arrays or numbers."""
    if isinstance(a, dict):
        return {key: add(a[key], b[key]) for key in a}
    if isinstance(a, (tuple, list)):
        return type(a)(add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def tree_sum(dask, parts):
    """Pairwise (tree) sum of delayed parts, in block order."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [
            dask.delayed(add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def tree_total(dask, parts):
    """The computed pairwise sum of delayed parts (:func:`tree_sum`)."""
    return dask.compute(tree_sum(dask, parts))[0]


# -- input preparation --------------------------------------------------------


def as_array(da, obj, name):
    """A Dask array, a NumPy array or None from what the user passed."""
    if obj is None:
        return None
    if is_dask_collection(obj):
        if hasattr(obj, "to_dask_array"):  # DataFrame / Series
            obj = obj.to_dask_array(lengths=True)
        if not isinstance(obj, da.Array):
            raise TypeError(
                f"{name} is a {type(obj).__name__}; skmoe takes Dask arrays or Dask "
                "DataFrames (chunked by rows)."
            )
        return obj
    return np.asarray(obj)


def feature_names(X):
    """String column names of a (Dask or pandas) DataFrame, else None (as scikit-learn)."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size and all(isinstance(name, str) for name in names):
        return names
    return None


def known_rows(arr):
    if isinstance(arr, np.ndarray) or not np.any(np.isnan(arr.shape[0])):
        return arr
    return arr.compute_chunk_sizes()


def prepare_inputs(da, estimator, X, y, sample_weight):
    """Row-aligned float Dask arrays ``X`` (one column block), ``y``, ``sample_weight``.

    Shape and dtype problems raise here, with scikit-learn's wording; values
    (NaN, infinity, negative weights, labels) are checked by the block tasks.
    """
    names = feature_names(X)
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    X = known_rows(as_array(da, X, "X"))
    y = known_rows(as_array(da, y, "y"))
    w = as_array(da, sample_weight, "sample_weight")
    if w is not None and w.ndim == 0:
        w = None if isinstance(w, np.ndarray) and w == 1 else w
    w = known_rows(w) if w is not None and w.ndim else w
    ref = next(a for a in (X, y, w) if a is not None and not isinstance(a, np.ndarray))
    rows = ref.chunks[0]
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {X.dtype}; skmoe needs numeric features (encode strings and "
            "categories first)."
        )
    lengths = [int(a.shape[0]) for a in (X, y) if a is not None]
    if w is not None and w.ndim:
        if w.ndim != 1:
            raise ValueError("Sample weights must be 1D array or scalar")
        if w.shape[0] != X.shape[0]:
            raise ValueError(
                f"sample_weight.shape == ({w.shape[0]},), expected ({X.shape[0]},)!"
            )
    if len(set(lengths)) > 1:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: {lengths}"
        )
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got {y.ndim} dimensions.")

    def aligned(arr, dtype=None):
        if isinstance(arr, np.ndarray):
            arr = da.from_array(arr, chunks=(rows,) + arr.shape[1:])
        arr = arr.rechunk((rows,) + tuple(-1 for _ in arr.shape[1:]))
        return arr if dtype is None else arr.astype(dtype)

    estimator.n_features_in_ = int(X.shape[1])
    X = aligned(X, np.float64)
    y = aligned(y)
    if w is not None:
        w = aligned(w, np.float64) if w.ndim else float(w)
    return X, y, w
