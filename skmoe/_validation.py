"""Checks of parameter combinations and of fit inputs (before any kernel runs)."""

import numpy as np
from sklearn.utils.validation import _check_sample_weight

#: Solvers implemented so far, per routing mode and expert kind. Each later
#: capability adds itself here; the messages below are built from this table
#: so they always name what a user can actually choose.
_SUPPORTED = {
    ("dense", "builtin"): ("em", "lbfgs", "adam"),
    ("dense", "mlp"): ("lbfgs", "adam"),
    ("dense", "estimator"): ("em",),
    ("sparse", "builtin"): ("adam",),
    ("sparse", "mlp"): ("adam",),
    ("sparse", "estimator"): (),
}


def expert_kind(expert):
    """``"builtin"``, ``"mlp"`` or ``"estimator"``."""
    if isinstance(expert, str):
        return "mlp" if expert == "mlp" else "builtin"
    return "estimator"


def _describe(expert, top_k):
    what = f"expert={expert!r}" if isinstance(expert, str) else "an estimator expert"
    return what + (f" with top_k={top_k}" if top_k is not None else " (dense)")


def resolve_solver(estimator):
    """The solver ``fit`` will use; ``ValueError`` naming the alternatives.

    ``"auto"`` means ``"em"`` when dense, ``"lbfgs"`` for dense ``"mlp"``
    experts and ``"adam"`` when sparse (``top_k`` set).
    """
    mode = "dense" if estimator.top_k is None else "sparse"
    kind = expert_kind(estimator.expert)
    supported = _SUPPORTED[(mode, kind)]
    solver = estimator.solver
    if solver == "auto":
        if mode == "sparse":
            solver = "adam"
        elif kind == "mlp":
            solver = "lbfgs"
        else:
            solver = "em"
    if solver not in supported:
        what = _describe(estimator.expert, estimator.top_k)
        if supported:
            names = " or ".join(repr(s) for s in supported)
            raise ValueError(
                f"solver={estimator.solver!r} is not supported for {what}; use solver={names}."
            )
        raise ValueError(
            f"{what} is not available in this version of skmoe (no solver supports it yet); "
            "use the dense model (top_k=None) with expert='linear' or 'constant' "
            "(regressor), 'logistic' or 'constant' (classifier), and solver='em'."
        )
    return solver


def check_partial_fit(estimator):
    """``partial_fit`` runs Adam: the combination must support ``"adam"``."""
    mode = "dense" if estimator.top_k is None else "sparse"
    kind = expert_kind(estimator.expert)
    if "adam" not in _SUPPORTED[(mode, kind)]:
        what = _describe(estimator.expert, estimator.top_k)
        raise ValueError(
            f"partial_fit (mini-batch Adam) is not available for {what} in this version "
            "of skmoe; use fit."
        )


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
    total = float(sample_weight.sum())
    if not np.isfinite(total) or total < MIN_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight sums to {total!r}, outside the range skmoe can fit "
            f"([{MIN_TOTAL_WEIGHT:g}, inf)): the per-sample objective divides by it. "
            "Rescale sample_weight (e.g. divide by its mean; this changes how strongly "
            "the penalties act)."
        )
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


def check_n_samples(n_samples, n_experts, weighted=False):
    if n_samples < n_experts:
        extra = " with positive sample_weight" if weighted else ""
        raise ValueError(
            f"n_samples={n_samples}{extra} should be >= n_experts={n_experts}: "
            "each expert needs data. Use fewer experts or more samples."
        )
