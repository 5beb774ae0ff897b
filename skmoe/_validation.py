"""Checks of hyper-parameters and of fit inputs (before any kernel runs).

Which solver supports what is the solver registry's (``skmoe._solvers``).
"""

import numpy as np
from sklearn.utils.validation import _check_sample_weight


def check_not_bool(estimator):
    """``True``/``False`` pass ``Interval(Integral)``; integer parameters reject them."""
    for name in ("n_experts", "n_init", "max_iter", "batch_size", "expert_hidden", "top_k",
                 "n_jobs"):
        value = getattr(estimator, name)
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(
                f"The '{name}' parameter of {type(estimator).__name__} must be an int, "
                f"not a bool ({value!r})."
            )


def check_n_jobs(n_jobs):
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int, or -1 (all).")


def check_top_k(top_k, n_experts):
    if top_k is not None and n_experts == "auto":
        raise ValueError(
            f"n_experts='auto' chooses the number of experts of the dense model; with "
            f"top_k={top_k} give n_experts as an int (> top_k)."
        )
    if top_k is not None and top_k >= n_experts:
        raise ValueError(
            f"top_k={top_k} must be smaller than n_experts={n_experts}; "
            "use top_k=None for the dense model."
        )


#: Smallest total sample weight that is fitted (the objectives divide by it).
MIN_TOTAL_WEIGHT = 1e-250


def check_sample_weight(sample_weight, X):
    """Validated float64 weights: finite, non-negative, not all zero."""
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    if not np.all(np.isfinite(sample_weight)):
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight must have at least one positive entry; all are zero.")
    check_total_weight(float(sample_weight.sum()))
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


def check_total_weight(total):
    """``ValueError`` unless the summed weight is in the range the objectives divide by."""
    if not np.isfinite(total) or total < MIN_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight sums to {total!r}, outside the range skmoe can fit "
            f"([{MIN_TOTAL_WEIGHT:g}, inf)): the per-sample objective divides by it. "
            "Rescale sample_weight (e.g. divide by its mean; this changes how strongly "
            "the penalties act)."
        )


def check_auto_distributed(estimator, continuing):
    """``n_experts="auto"`` runs in memory only (for now)."""
    if estimator.n_experts == "auto" and not continuing:
        raise ValueError(
            "n_experts='auto' is not supported for Dask input yet: give n_experts as an int "
            "(for example the n_experts_ of an 'auto' fit on an in-memory sample of the rows)."
        )


def check_auto_incremental(estimator, continuing):
    """``partial_fit`` cannot start a model with ``n_experts="auto"``."""
    if estimator.n_experts == "auto" and not continuing:
        raise ValueError(
            "n_experts='auto' chooses the number of experts in fit: call fit first (later "
            "partial_fit calls continue its choice) or give n_experts as an int."
        )


def check_n_samples(n_samples, n_experts, weighted=False):
    if n_experts == "auto":
        n_experts = 1  # the path starts from one expert
    if n_samples < n_experts:
        extra = " with positive sample_weight" if weighted else ""
        raise ValueError(
            f"n_samples={n_samples}{extra} should be >= n_experts={n_experts}: "
            "each expert needs data. Use fewer experts or more samples."
        )
