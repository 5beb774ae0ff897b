"""Hand-written NumPy/SciPy EM for the dense Mixture-of-Experts classifier.

The classifier counterpart of :mod:`numpy_em`: what a careful NumPy user
would write for the same model, vectorised over rows, with matrix products
in BLAS, the E-step in log space with :func:`scipy.special.logsumexp`, and
no tricks beyond that (no Numba, no float32, no fused kernels).

Model (the same as :func:`skmoe._synthetic.make_moe_classification` generates, and as
``skmoe.MixtureOfExpertsClassifier(expert="logistic")`` fits)::

    g(x)     = softmax(W x + b)
    p(y | x) = sum_k g_k(x) softmax(B_k x + d_k)[y]

Fitting, on internally standardised ``X`` (weighted mean / std), with
``X1 = [1, X]`` (``p = d + 1`` columns), ``Y`` the one-hot labels:

* initialisation: k-means labels (sklearn ``KMeans`` on the column-wise
  standardised ``[X, onehot(y)]``) as hard responsibilities, a few expert
  steps from ``B_k = 0`` and a few gate steps from ``W = 0`` (the same
  Böhning steps as below);
* E-step: log gate = log-softmax of ``X1 W``; per expert, the class
  log-probabilities ``log softmax(X1 B_k^T)`` (one ``n x C`` block per
  expert; the probabilities ``P_k`` are kept for the M-step), the observed
  class's entry, ``logsumexp`` over experts, responsibilities
  ``R = exp(L - lse)`` (:func:`scipy.special.logsumexp` by default;
  ``logsumexp_impl="numpy"`` swaps in a hand-rolled one);
* expert M-step: per expert, ONE Böhning bound step of the weighted
  multinomial logistic regression with row weights ``v = w r_k`` and labels
  ``Y``: ``B_k += G_k inv(H_k)`` with the gradient
  ``G_k = (v (Y - P_k))^T X1 - alpha B_k P`` and the curvature bound
  ``H_k = 0.5 X1^T diag(v) X1 + alpha P``, ``P = diag(0, 1, ..., 1)``, rows of
  ``B_k`` centred over classes;
* gate M-step: one Böhning step per iteration exactly as in
  :mod:`numpy_em`, ``W += solve(0.5 S + gate_alpha P, G)`` with
  ``S = X1^T diag(w) X1`` factorised once and
  ``G = X1^T (w (R - G_prob)) - gate_alpha P W``; ``W`` centred across
  experts.

``(I - 11^T / C) / 2 kron S`` bounds the Hessian of the weighted
log-softmax term (Böhning 1992), and on class-centred directions it acts as
``0.5 S``; so both steps are minorise-maximise steps that never lower their
part of the expected complete-data penalised log-likelihood, and the
penalised mean objective (``objective`` in the result) is non-decreasing over
iterations (generalised EM). Defaults ``alpha = gate_alpha = 1.0`` are
skmoe's classifier defaults; the penalised objective is the same as skmoe's
(``objective_curve_``).

Memory: besides ``X1`` (``n x p``), the E-step keeps the experts' class
probabilities, ``K x n x C`` float64 (640 MB at n = 1e6, K = 8, C = 10).
"""

import time

import numpy as np
from numpy_em import _LSE, _timed, _weighted_mean_std
from scipy import linalg

__all__ = ["numpy_em_classifier"]


class _State:
    """Parameters in standardised units."""

    def __init__(self, p, K, C):
        self.W = np.zeros((p, K))  # gate, columns are experts, row 0 = intercept
        self.B = np.zeros((K, C, p))  # experts' class coefficients, column 0 = intercept


def _estep(X1, y, st, buf, lse):
    """Fill ``buf['R']`` (responsibilities), ``buf['gate']`` (gate probabilities)
    and ``buf['P']`` (experts' class probabilities, (K, n, C)).

    Returns the per-sample log-likelihood.
    """
    n = X1.shape[0]
    K, C, _ = st.B.shape
    rows = np.arange(n)
    logits = X1 @ st.W  # (n, K)
    logits -= lse(logits, axis=1, keepdims=True)  # log gate
    log_gate = logits
    if "P" not in buf:
        buf["P"] = np.empty((K, n, C))
    P = buf["P"]
    L = np.empty((n, K))
    for k in range(K):
        lp = np.matmul(X1, st.B[k].T, out=P[k])  # (n, C) class logits
        lp -= lse(lp, axis=1, keepdims=True)  # log softmax
        L[:, k] = lp[rows, y]
        np.exp(lp, out=lp)  # P_k, kept for the M-step
    L += log_gate
    ll = lse(L, axis=1)
    L -= ll[:, None]
    np.exp(L, out=L)
    buf["R"] = L
    buf["gate"] = np.exp(log_gate, out=log_gate)
    return ll


def _expert_mstep(X1, y, w, R, P, st, alpha, ws):
    """One Böhning step per expert (weights ``w r_k``, one-hot labels).

    ``P`` holds the experts' class probabilities at the current ``st.B``
    (shape (K, n, C)); ``ws`` holds reusable work buffers.
    """
    n, p = X1.shape
    K, C, _ = st.B.shape
    WR = R if w is None else R * w[:, None]
    Nk = WR.sum(axis=0)
    pen = np.full(p, alpha)
    pen[0] = 0.0
    idx = np.arange(p)
    rows = np.arange(n)
    if "Z" not in ws:
        ws["Z"] = np.empty((n, p))
        ws["sv"] = np.empty(n)
        ws["D"] = np.empty((n, C))
    Z, sv, D = ws["Z"], ws["sv"], ws["D"]
    for k in range(K):
        if Nk[k] <= 1e-10 * n:
            continue  # empty expert: keep its parameters
        v = WR[:, k]
        # gradient of the expert's penalised objective, (C, p)
        np.negative(P[k], out=D)
        D[rows, y] += 1.0  # Y - P_k
        D *= v[:, None]
        G = D.T @ X1
        G[:, 1:] -= alpha * st.B[k][:, 1:]
        G -= G.mean(axis=0)
        # curvature bound 0.5 X1^T diag(v) X1 + alpha P (BLAS syrk via Z^T Z)
        np.sqrt(v, out=sv)
        np.multiply(X1, sv[:, None], out=Z)
        H = Z.T @ Z
        H *= 0.5
        H[idx, idx] += pen
        H[idx, idx] += 1e-10 * Nk[k]  # a larger bound is still a bound
        try:
            delta = linalg.solve(H, G.T, assume_a="pos", check_finite=False).T
        except (linalg.LinAlgError, ValueError):
            delta = linalg.lstsq(H, G.T, check_finite=False)[0].T
        Bk = st.B[k] + delta
        st.B[k] = Bk - Bk.mean(axis=0)


def _expert_proba(X1, st, buf):
    """Experts' class probabilities at ``st.B`` into ``buf['P']`` (for init)."""
    n = X1.shape[0]
    K, C, _ = st.B.shape
    if "P" not in buf:
        buf["P"] = np.empty((K, n, C))
    for k in range(K):
        lp = np.matmul(X1, st.B[k].T, out=buf["P"][k])
        lp -= lp.max(axis=1, keepdims=True)
        np.exp(lp, out=lp)
        lp /= lp.sum(axis=1, keepdims=True)
    return buf["P"]


def _gate_step(X1, w, R, gate_prob, st, gate_alpha, chol):
    D = np.subtract(R, gate_prob, out=gate_prob)
    if w is not None:
        D *= w[:, None]
    G = X1.T @ D  # (p, K)
    G[1:] -= gate_alpha * st.W[1:]
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
    experts = 0.5 * alpha * (st.B[:, :, 1:] ** 2).sum()
    gate = 0.5 * gate_alpha * (st.W[1:] ** 2).sum()
    return experts + gate


def numpy_em_classifier(
    X,
    y,
    n_experts,
    n_classes=None,
    max_iter=100,
    tol=1e-6,
    random_state=0,
    timings=None,
    sample_weight=None,
    alpha=1.0,
    gate_alpha=1.0,
    n_init_expert_steps=5,
    n_init_gate_steps=5,
    logsumexp_impl="scipy",
):
    """Fit the dense MoE classifier (logistic experts) by EM in plain NumPy/SciPy.

    Parameters
    ----------
    X : array of shape (n, d)
    y : array of shape (n,)
        Integer class codes ``0 .. n_classes - 1``.
    n_experts : int
    n_classes : int or None
        Number of classes (default ``y.max() + 1``).
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
        L2 penalty of the experts' non-intercept coefficients (standardised
        units).
    gate_alpha : float
        L2 penalty of the gate weights (standardised units).
    n_init_expert_steps, n_init_gate_steps : int
        Böhning steps on the k-means labels at initialisation.
    logsumexp_impl : {"scipy", "numpy"}
        As in :func:`numpy_em.numpy_em`.

    Returns
    -------
    result : dict
        ``gate_coef`` (K, d), ``gate_intercept`` (K,), ``expert_coef``
        (K, C, d), ``expert_intercept`` (K, C) in original units (the keys of
        :func:`skmoe._synthetic.make_moe_classification`), ``loglik`` (list:
        mean log-likelihood per unit weight: entry ``t`` is the model after
        ``t`` EM iterations, the last entry is the returned model),
        ``objective`` (same minus the penalty per unit weight), ``n_iter``
        (number of M-steps done), ``converged``.
    """
    from sklearn.cluster import KMeans

    lse = _LSE[logsumexp_impl]
    if timings is None:
        timings = {}
    for key in ("estep", "expert_mstep", "gate_mstep", "init", "total_em"):
        timings.setdefault(key, 0.0)

    t_init = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64).ravel()
    n, d = X.shape
    K = int(n_experts)
    C = int(y.max()) + 1 if n_classes is None else int(n_classes)
    p = d + 1
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w_sum = float(n) if w is None else float(w.sum())

    # Standardise (weighted mean / std); X1 = [1, (X - mean) / std]
    x_mean, x_std = _weighted_mean_std(X, w, w_sum)
    X1 = np.empty((n, p))
    X1[:, 0] = 1.0
    np.subtract(X, x_mean, out=X1[:, 1:])
    X1[:, 1:] /= x_std

    # Gate's Böhning matrix, factorised once
    S = X1.T @ X1 if w is None else (X1 * w[:, None]).T @ X1
    Pm = np.eye(p)
    Pm[0, 0] = 0.0
    chol = linalg.cho_factor(0.5 * S + gate_alpha * Pm, check_finite=False)

    # Initialisation from k-means labels on column-wise standardised [X, onehot(y)]
    Z = np.zeros((n, d + C))
    Z[:, :d] = X1[:, 1:]
    Z[np.arange(n), d + y] = 1.0
    oh_mean, oh_std = _weighted_mean_std(Z[:, d:], w, w_sum)
    Z[:, d:] -= oh_mean
    Z[:, d:] /= oh_std
    km = KMeans(n_clusters=K, n_init=1, random_state=random_state)
    labels = km.fit(Z, sample_weight=w).labels_
    del Z
    R = np.zeros((n, K))
    R[np.arange(n), labels] = 1.0
    st = _State(p, K, C)
    buf, ws = {}, {}
    for _ in range(n_init_expert_steps):
        _expert_mstep(X1, y, w, R, _expert_proba(X1, st, buf), st, alpha, ws)
    for _ in range(n_init_gate_steps):
        _gate_step(X1, w, R, _gate_proba(X1, st.W), st, gate_alpha, chol)
    del R
    timings["init"] += time.perf_counter() - t_init

    loglik, objective = [], []
    converged = False
    n_iter = 0
    t_em = time.perf_counter()
    for it in range(max_iter):
        with _timed(timings, "estep"):
            ll = _estep(X1, y, st, buf, lse)
            ll_sum = float(ll.sum()) if w is None else float(w @ ll)
        mean_ll = ll_sum / w_sum
        obj = mean_ll - _penalty(st, alpha, gate_alpha) / w_sum
        loglik.append(mean_ll)
        objective.append(obj)
        if it > 0 and abs(objective[-1] - objective[-2]) < tol:
            converged = True
            break
        with _timed(timings, "expert_mstep"):
            _expert_mstep(X1, y, w, buf["R"], buf["P"], st, alpha, ws)
        with _timed(timings, "gate_mstep"):
            _gate_step(X1, w, buf["R"], buf["gate"], st, gate_alpha, chol)
        n_iter += 1
    timings["total_em"] += time.perf_counter() - t_em
    if not converged:
        # Score the final parameters too (outside the timed loop), so that
        # ``loglik[-1]`` is always the log-likelihood of the returned model.
        ll = _estep(X1, y, st, buf, lse)
        ll_sum = float(ll.sum()) if w is None else float(w @ ll)
        loglik.append(ll_sum / w_sum)
        objective.append(loglik[-1] - _penalty(st, alpha, gate_alpha) / w_sum)
    del buf, ws

    # Back to original units
    Ws = st.W[1:] / x_std[:, None]  # (d, K)
    bs = st.W[0] - (x_mean / x_std) @ st.W[1:]
    As = st.B[:, :, 1:] / x_std  # (K, C, d)
    cs = st.B[:, :, 0] - As @ x_mean
    return {
        "gate_coef": Ws.T.copy(),
        "gate_intercept": bs,
        "expert_coef": As,
        "expert_intercept": cs,
        "loglik": loglik,
        "objective": objective,
        "n_iter": n_iter,
        "converged": converged,
    }
