"""Prediction on Dask collections: every method, block by block, as lazy Dask arrays."""

import copy
import functools
import inspect
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._threads import numba_threads
from ._collections import as_array, feature_names, import_dask, is_dask_collection, known_rows


def dask_rows(method):
    """Decorator of a prediction method ``method(self, X[, y], **kwargs)``.

    The fitted check comes first; then, when ``X`` (or ``y``) is a Dask
    collection, the method runs block by block (:func:`map_rows`) and
    returns lazy Dask arrays; otherwise it runs as written.
    """
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        check_is_fitted(self)
        bound = signature.bind(self, X, *args, **kwargs).arguments
        y = bound.pop("y", None)
        if is_dask_collection(X) or is_dask_collection(y):
            options = {k: v for k, v in bound.items() if k not in ("self", "X")}
            return map_rows(self, method.__name__, X, y, **options)
        return method(self, X, *args, **kwargs)

    return wrapper


def _apply_block(estimator, method, kwargs, index, y_1d, Xb, yb=None):
    args = (Xb,) if yb is None else (Xb, yb[:, 0] if y_1d else yb)
    with warnings.catch_warnings():
        # blocks are plain arrays; the names were checked on the collection
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        with numba_threads(1):
            out = getattr(estimator, method)(*args, **kwargs)
    return out if index is None else out[index]


def map_rows(estimator, method, X, y=None, **kwargs):
    """``estimator.method(X[, y], **kwargs)`` block by block, as Dask array(s).

    The output's trailing shape and dtype come from the method on one row
    of zeros; each block runs the in-memory method (with its validation) on
    a worker with one thread.
    """
    _, da = import_dask()
    check_is_fitted(estimator)
    names, fitted = feature_names(X), getattr(estimator, "feature_names_in_", None)
    if names is not None and fitted is not None and list(names) != list(fitted):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"got {list(names)}, expected {list(fitted)}."
        )
    X = known_rows(as_array(da, X, "X"))
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if isinstance(X, np.ndarray):
        X = da.from_array(X)
    X = X.rechunk({1: -1})
    local = copy.copy(estimator)
    local.n_jobs = 1
    operands, y_1d, example = [X], False, [np.zeros((1, X.shape[1]))]
    if y is not None:
        y = known_rows(as_array(da, y, "y"))
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"{[int(X.shape[0]), int(y.shape[0])]}"
            )
        y_1d = y.ndim == 1
        if isinstance(y, np.ndarray):
            y = da.from_array(y)
        y = (y[:, None] if y_1d else y).rechunk((X.chunks[0], -1))
        operands.append(y)
        if hasattr(estimator, "classes_"):
            example.append(np.asarray(estimator.classes_[:1]))
        else:
            example.append(np.zeros((1,) + tuple(y.shape[1:])) if not y_1d else np.zeros(1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        sample = getattr(estimator, method)(*example, **kwargs)
    samples = sample if isinstance(sample, tuple) else (sample,)
    outputs = []
    for index, part in enumerate(samples):
        tail = part.shape[1:]
        chunks = (X.chunks[0],) + tuple((s,) for s in tail)
        extra = {}
        if len(tail) == 0:
            extra["drop_axis"] = 1
        elif len(tail) == 2:
            extra["new_axis"] = 2
        outputs.append(da.map_blocks(
            _apply_block, local, method, kwargs,
            index if isinstance(sample, tuple) else None, y_1d, *operands,
            chunks=chunks, dtype=part.dtype, meta=np.empty((0,) * part.ndim, part.dtype),
            **extra,
        ))
    return tuple(outputs) if isinstance(sample, tuple) else outputs[0]
