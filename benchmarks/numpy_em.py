"""Hand-written NumPy/SciPy EM for the dense Mixture-of-Experts regressor.

This is the baseline the skmoe benchmarks compare against: what a careful
NumPy user would write for the same model, vectorised, with matrix products
in BLAS, the E-step in log space with :func:`scipy.special.logsumexp`, and
no tricks beyond that (no Numba, no float32, no fused kernels).

Model (the same as :func:`skmoe._synthetic.make_moe_regression` generates)::

    g(x)     = softmax(W x + b)
    p(y | x) = sum_k g_k(x) N(y; a_k . x + c_k, s2_k)

Fitting, on internally standardised ``X`` and ``y`` (weighted mean / std),
with ``X1 = [1, X]``:

* initialisation: k-means labels (sklearn ``KMeans`` on standardised
  ``[X, y]``) as hard responsibilities, one expert M-step, and a few gate
  steps from ``W = 0``;
* E-step: log gate = log-softmax of ``X1 W``, Gaussian log densities,
  ``logsumexp`` over experts, responsibilities ``R = exp(L - lse)``
  (:func:`scipy.special.logsumexp` by default; ``logsumexp_impl="numpy"``
  swaps in a hand-rolled one);
* expert M-step: per expert, weighted ridge least squares in closed form
  (``alpha`` on the non-intercept coefficients only) and variance
  ``(RSS_k + alpha ||a_k||^2) / N_k`` floored at ``1e-6 * var(y)``. This is
  the exact maximiser of the expected complete log-likelihood with the
  penalty ``-alpha ||a_k||^2 / (2 s2_k)`` (a Gaussian prior on ``a_k`` with
  variance ``s2_k / alpha``);
* gate M-step: one step of Böhning's bound per iteration,
  ``W += solve(0.5 S + gate_alpha P, G)`` with ``S = X1^T diag(w) X1``
  (factorised once), ``P = diag(0, 1, ..., 1)``, and ``G`` the gradient of
  the penalised gate objective ``X1^T (w (R - G_prob)) - gate_alpha P W``.
  ``0.5 I`` bounds the Hessian of log-sum-exp, so this is a minorise-
  maximise step and never decreases the penalised objective. ``W`` is kept
  centred across experts.

The penalised mean objective (``objective`` in the result) is therefore
non-decreasing over iterations (generalised EM).
"""

import time
from contextlib import contextmanager

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

__all__ = ["numpy_em"]

_LOG_2PI = np.log(2.0 * np.pi)


@contextmanager
def _timed(timings, key):
    if timings is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + (time.perf_counter() - t0)


def _weighted_mean_std(a, w, w_sum):
    if w is None:
        mean = a.mean(axis=0)
        var = ((a - mean) ** 2).mean(axis=0)
    else:
        mean = (w @ a) / w_sum if a.ndim > 1 else np.dot(w, a) / w_sum
        var = (w @ ((a - mean) ** 2)) / w_sum if a.ndim > 1 else np.dot(w, (a - mean) ** 2) / w_sum
    std = np.sqrt(var)
    std = np.where(std > 0, std, 1.0)
    return mean, std


class _State:
    """Parameters in standardised units. Columns are experts."""

    def __init__(self, d1, K):
        self.W = np.zeros((d1, K))  # gate, row 0 = intercept
        self.B = np.zeros((d1, K))  # expert regression coefficients, row 0 = intercept
        self.var = np.ones(K)


def _lse_numpy(a, axis=1, keepdims=False):
    """Hand-rolled max / exp / sum / log (for finite inputs, as here)."""
    m = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
    out += m
    return out if keepdims else np.squeeze(out, axis=axis)


_LSE = {"scipy": logsumexp, "numpy": _lse_numpy}


def _estep(X1, ys, st, buf, lse=logsumexp):
    """Fill ``buf['R']`` (responsibilities) and ``buf['gate']`` (gate probabilities).

    Returns the per-sample log-likelihood (standardised units).
    """
    logits = X1 @ st.W  # (n, K)
    logits -= lse(logits, axis=1, keepdims=True)  # log gate
    log_gate = logits
    mu = X1 @ st.B  # (n, K) expert means
    # log N(y; mu, var), in place in ``mu``
    np.subtract(ys[:, None], mu, out=mu)
    mu *= mu
    mu *= -0.5 / st.var
    mu += -0.5 * (_LOG_2PI + np.log(st.var))
    L = mu
    L += log_gate
    ll = lse(L, axis=1)
    L -= ll[:, None]
    np.exp(L, out=L)
    buf["R"] = L
    buf["gate"] = np.exp(log_gate, out=log_gate)
    return ll


def _expert_mstep(X1, ys, w, R, st, alpha, var_floor, ws):
    """Weighted ridge least squares per expert, then the variances.

    ``ws`` holds reusable work buffers (allocated on first use).
    """
    n, d1 = X1.shape
    K = R.shape[1]
    WR = R if w is None else R * w[:, None]
    Nk = WR.sum(axis=0)
    pen = np.full(d1, alpha)
    pen[0] = 0.0
    idx = np.arange(d1)
    if "Z" not in ws:
        ws["Z"] = np.empty((n, d1))
        ws["sw"] = np.empty(n)
        ws["swy"] = np.empty(n)
    Z, sw, swy = ws["Z"], ws["sw"], ws["swy"]
    for k in range(K):
        if Nk[k] <= 1e-10 * n:
            continue  # empty expert: keep its parameters
        np.sqrt(WR[:, k], out=sw)
        np.multiply(X1, sw[:, None], out=Z)  # sqrt-weighted design
        A = Z.T @ Z  # BLAS (NumPy uses syrk for Z.T @ Z), (d+1, d+1)
        A[idx, idx] += pen
        np.multiply(sw, ys, out=swy)
        rhs = swy @ Z
        try:
            st.B[:, k] = linalg.solve(A, rhs, assume_a="pos", check_finite=False)
        except (linalg.LinAlgError, ValueError):
            st.B[:, k] = linalg.lstsq(A, rhs, check_finite=False)[0]
    mu = X1 @ st.B
    np.subtract(ys[:, None], mu, out=mu)
    mu *= mu
    rss = np.einsum("nk,nk->k", WR, mu)
    coef_sq = (st.B[1:] ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (rss + alpha * coef_sq) / Nk
    ok = Nk > 1e-10 * n
    st.var = np.where(ok, np.maximum(var, var_floor), st.var)


def _gate_grad(X1, w, R, gate_prob, st, gate_alpha):
    D = np.subtract(R, gate_prob, out=gate_prob)
    if w is not None:
        D *= w[:, None]
    G = X1.T @ D  # (d+1, K)
    G[1:] -= gate_alpha * st.W[1:]
    return G


def _gate_step(X1, w, R, gate_prob, st, gate_alpha, chol):
    G = _gate_grad(X1, w, R, gate_prob, st, gate_alpha)
    st.W += linalg.cho_solve(chol, G, check_finite=False)
    st.W -= st.W.mean(axis=1, keepdims=True)


def _gate_proba(X1, W):
    logits = X1 @ W
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def _penalty(st, alpha, gate_alpha):
    """Penalty subtracted from the summed log-likelihood (standardised units)."""
    experts = 0.5 * alpha * ((st.B[1:] ** 2).sum(axis=0) / st.var).sum()
    gate = 0.5 * gate_alpha * (st.W[1:] ** 2).sum()
    return experts + gate


def numpy_em(
    X,
    y,
    n_experts,
    max_iter=100,
    tol=1e-6,
    random_state=0,
    timings=None,
    sample_weight=None,
    alpha=1e-4,
    gate_alpha=1e-4,
    n_init_gate_steps=5,
    logsumexp_impl="scipy",
):
    """Fit the dense MoE regressor by EM in plain NumPy/SciPy.

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
    n_experts : int
    max_iter : int
        Maximum number of EM iterations (after the initialisation).
    tol : float
        Stop when the penalised mean objective changes by less than ``tol``
        (nats per unit weight) between iterations. ``tol=0`` runs
        ``max_iter`` iterations.
    random_state : int
        Seed for k-means.
    timings : dict or None
        If given, filled with cumulative seconds for ``'estep'``,
        ``'expert_mstep'``, ``'gate_mstep'`` (main loop), ``'init'`` and
        ``'total_em'`` (the whole main loop).
    sample_weight : array of shape (n,) or None
    alpha : float
        Ridge penalty of the expert coefficients (standardised units).
    gate_alpha : float
        Ridge penalty of the gate weights (standardised units).
    n_init_gate_steps : int
        Böhning steps on the k-means labels at initialisation.
    logsumexp_impl : {"scipy", "numpy"}
        ``"scipy"`` (default) uses :func:`scipy.special.logsumexp`;
        ``"numpy"`` a hand-rolled max/exp/sum/log, which is about twice as
        fast with SciPy 1.17 (``logsumexp`` does extra checks and is slow
        for a short reduction axis). Results agree to rounding.

    Returns
    -------
    result : dict
        ``gate_coef`` (K, d), ``gate_intercept`` (K,), ``expert_coef`` (K, d),
        ``expert_intercept`` (K,), ``expert_var`` (K,) in original units (the
        keys of :func:`skmoe._synthetic.make_moe_regression`), ``loglik`` (list: mean
        log-likelihood per unit weight in original units: entry ``t`` is the
        model after ``t`` EM iterations, the last entry is the returned
        model), ``objective`` (same minus the penalty per unit weight),
        ``n_iter`` (number of M-steps done), ``converged``.
    """
    from sklearn.cluster import KMeans

    lse = _LSE[logsumexp_impl]
    if timings is None:
        timings = {}
    for key in ("estep", "expert_mstep", "gate_mstep", "init", "total_em"):
        timings.setdefault(key, 0.0)

    t_init = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    n, d = X.shape
    K = int(n_experts)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w_sum = float(n) if w is None else float(w.sum())

    # Standardise (weighted mean / std); X1 = [1, (X - mean) / std]
    x_mean, x_std = _weighted_mean_std(X, w, w_sum)
    y_mean, y_std = _weighted_mean_std(y, w, w_sum)
    X1 = np.empty((n, d + 1))
    X1[:, 0] = 1.0
    np.subtract(X, x_mean, out=X1[:, 1:])
    X1[:, 1:] /= x_std
    ys = (y - y_mean) / y_std
    var_floor = 1e-6  # = 1e-6 * var(y) in standardised units
    log_y_std = np.log(y_std)

    # Böhning matrix, factorised once
    S = X1.T @ X1 if w is None else (X1 * w[:, None]).T @ X1
    P = np.eye(d + 1)
    P[0, 0] = 0.0
    chol = linalg.cho_factor(0.5 * S + gate_alpha * P, check_finite=False)

    # Initialisation from k-means labels on standardised [X, y]
    km = KMeans(n_clusters=K, n_init=1, random_state=random_state)
    Z = np.empty((n, d + 1))
    Z[:, :d] = X1[:, 1:]
    Z[:, d] = ys
    labels = km.fit(Z, sample_weight=w).labels_
    del Z
    R = np.zeros((n, K))
    R[np.arange(n), labels] = 1.0
    st = _State(d + 1, K)
    ws = {}
    _expert_mstep(X1, ys, w, R, st, alpha, var_floor, ws)
    for _ in range(n_init_gate_steps):
        _gate_step(X1, w, R, _gate_proba(X1, st.W), st, gate_alpha, chol)
    del R
    timings["init"] += time.perf_counter() - t_init

    loglik, objective = [], []
    buf = {}
    converged = False
    n_iter = 0
    t_em = time.perf_counter()
    for it in range(max_iter):
        with _timed(timings, "estep"):
            ll = _estep(X1, ys, st, buf, lse)
            ll_sum = float(ll.sum()) if w is None else float(w @ ll)
        mean_ll = ll_sum / w_sum - log_y_std
        obj = mean_ll - _penalty(st, alpha, gate_alpha) / w_sum
        loglik.append(mean_ll)
        objective.append(obj)
        if it > 0 and abs(objective[-1] - objective[-2]) < tol:
            converged = True
            break
        with _timed(timings, "expert_mstep"):
            _expert_mstep(X1, ys, w, buf["R"], st, alpha, var_floor, ws)
        with _timed(timings, "gate_mstep"):
            _gate_step(X1, w, buf["R"], buf["gate"], st, gate_alpha, chol)
        n_iter += 1
    timings["total_em"] += time.perf_counter() - t_em
    if not converged:
        # Score the final parameters too (outside the timed loop), so that
        # ``loglik[-1]`` is always the log-likelihood of the returned model.
        ll = _estep(X1, ys, st, buf, lse)
        ll_sum = float(ll.sum()) if w is None else float(w @ ll)
        loglik.append(ll_sum / w_sum - log_y_std)
        objective.append(loglik[-1] - _penalty(st, alpha, gate_alpha) / w_sum)
    del buf, ws

    # Back to original units
    Ws, bs = st.W[1:] / x_std[:, None], st.W[0] - (st.W[1:] * (x_mean / x_std)[:, None]).sum(0)
    As = st.B[1:] * y_std / x_std[:, None]
    cs = y_mean + y_std * (st.B[0] - (st.B[1:] * (x_mean / x_std)[:, None]).sum(0))
    return {
        "gate_coef": Ws.T.copy(),
        "gate_intercept": bs,
        "expert_coef": As.T.copy(),
        "expert_intercept": cs,
        "expert_var": st.var * y_std**2,
        "loglik": loglik,
        "objective": objective,
        "n_iter": n_iter,
        "converged": converged,
    }
