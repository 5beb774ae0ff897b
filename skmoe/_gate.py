"""The softmax gate (the "manager") and its M-step.

The gate's parameters are one matrix ``W`` of shape ``(n_experts, p)`` on the
design matrix (intercept in column 0), so ``gate_logits = X1 @ W.T``. Softmax
is invariant to adding the same vector to every expert's row; we keep the rows
centred (``W.sum(axis=0) == 0``), which is also the minimum-norm member of
each equivalence class and so what the L2 penalty prefers.

Gate M-step
-----------
EM's gate M-step maximises the expected complete-data log-likelihood

    Q(W) = sum_i w_i sum_k r_ik log softmax_k(W x_i) - gate_alpha / 2 ||W[:, 1:]||^2

a weighted multinomial logistic regression on soft labels. Its Hessian is
bounded below, in the Loewner order, by ``-(B kron S + gate_alpha I kron P)``
with ``B = (I - 11^T / K) / 2`` (Böhning 1992), ``S = X1^T diag(w) X1`` and
``P = diag(0, 1, ..., 1)``. On centred directions ``B`` acts as ``I / 2``, so
the minorise-maximise step

    W <- W + grad Q(W) @ inv(S / 2 + gate_alpha P)

uses one fixed ``p x p`` matrix for the whole fit (factorised once), costs one
pass over the data (the gradient comes free with the E-step) and never lowers
``Q``. Extra steps per M-step re-use the stored responsibilities.
"""

import numpy as np
import scipy.linalg

from . import _kernels
from ._data import PARALLEL_MIN_CELLS, Design


def gate_logits(X1, coef):
    """Gate logits ``X1 @ coef.T`` of shape (n_samples, n_experts)."""
    return X1 @ coef.T


def gate_log_proba(X1, coef):
    """Log gate probabilities (log-softmax of the logits)."""
    logits = gate_logits(X1, coef)
    out = np.empty_like(logits)
    _kernels.log_softmax_rows(logits, out)
    return out


def gate_proba(X1, coef):
    """Gate probabilities (softmax of the logits)."""
    logits = gate_logits(X1, coef)
    out = np.empty_like(logits)
    _kernels.softmax_rows(logits, out)
    return out


def gate_penalty(coef, gate_alpha):
    """``gate_alpha / 2 * ||coef[:, 1:]||^2`` (intercepts are not penalised)."""
    return 0.5 * gate_alpha * float(np.sum(coef[:, 1:] ** 2))


#: The Newton candidate is used while the Hessian, of size (K p) x (K p), is
#: small enough to form and factorise cheaply.
MAX_NEWTON_DIM = 256
#: Rows used to form the Hessian are thinned so that forming it costs about
#: this many multiply-adds (a direction needs no exact Hessian: the candidate
#: is only kept if it raises the objective on all rows).
HESSIAN_BUDGET = 2e7


def thin_design(design, n_experts):
    """Every j-th row of ``design`` so that the gate Hessian stays cheap.

    ``design`` is in canonical (sorted, de-duplicated) order whenever this is
    used, so the thinned rows do not depend on the user's row order.
    """
    p = design.n_columns
    max_rows = int(max(HESSIAN_BUDGET / (0.5 * n_experts * n_experts * p * p), 256))
    if design.n_samples <= max_rows:
        return design
    stride = int(np.ceil(design.n_samples / max_rows))
    return Design(
        design.X1[::stride].copy(), design.target[::stride].copy(), design.weight[::stride].copy()
    )


def gate_hessian(design, coef, gate_alpha, scale=1.0):
    """Negative Hessian of the gate objective at ``coef``, shape (K p, K p).

    ``sum_i w_i (diag(g_i) - g_i g_i^T) kron x_i x_i^T`` over the rows of
    ``design`` times ``scale``, plus the penalty. Its null space (adding the
    same vector to every expert) is filled with a multiple of the identity so
    that the matrix is positive definite; centred gradients are unaffected.
    """
    K, p = coef.shape
    H = np.zeros((K, p, K, p))
    for sl in design.chunks(K + p):
        Xc = design.X1[sl]
        g = gate_proba(Xc, coef)
        wg = g * design.weight[sl, None]
        for k in range(K):
            for l in range(k, K):
                v = wg[:, k] * ((1.0 if k == l else 0.0) - g[:, l])
                block = (Xc * v[:, None]).T @ Xc
                H[k, :, l, :] += block
                if l != k:
                    H[l, :, k, :] += block.T
    H *= scale
    H = H.reshape(K * p, K * p)
    penal = np.full(p, gate_alpha)
    penal[0] = 0.0
    H[np.diag_indices(K * p)] += np.tile(penal, K)
    # the constant direction: J kron I / K, with a scale of the diagonal
    fill = max(np.mean(np.diag(H)), 1e-12)
    H += fill * np.kron(np.full((K, K), 1.0 / K), np.eye(p))
    H[np.diag_indices(K * p)] += 1e-10 * fill
    return 0.5 * (H + H.T)


class GateMStep:
    """Monotone gate M-step: the better of a Böhning and a Newton candidate.

    The Böhning bound step never lowers the gate objective ``Q`` but is
    conservative where the gate is confident; the Newton step (Hessian on
    ``hessian_design``, a canonical subsample on large data, rescaled to the
    full weight) is fast but unguarded. Each step evaluates ``Q`` of both
    candidates in one pass over the data and keeps the better, so ``Q`` never
    decreases.

    Parameters
    ----------
    design : Design
        The data EM runs on.
    gate_alpha : float
        L2 penalty on the (non-intercept) gate coefficients.
    hessian_design : Design or None, default=None
        Rows used for the Newton Hessian (``design`` itself when None).
    """

    def __init__(self, design, gate_alpha, n_experts, hessian_design=None):
        gram = design.gram()
        p = gram.shape[0]
        curvature = 0.5 * gram
        curvature[np.diag_indices(p)] += gate_alpha
        curvature[0, 0] -= gate_alpha
        # a larger curvature is still a valid bound: a tiny ridge keeps the
        # factorisation positive definite for constant or collinear columns
        jitter = 1e-10 * max(design.total_weight, 1e-300)
        curvature[np.diag_indices(p)] += jitter
        self._factor = scipy.linalg.cho_factor(curvature, lower=False)
        self.gate_alpha = gate_alpha
        hessian_design = design if hessian_design is None else hessian_design
        self.hessian_design = thin_design(hessian_design, n_experts)
        self._hessian_scale = design.total_weight / self.hessian_design.total_weight

    def _full_grad(self, coef, grad):
        full = grad.copy()
        full[:, 1:] -= self.gate_alpha * coef[:, 1:]
        return full - full.mean(axis=0)

    def bohning(self, coef, grad):
        """One bound step from the likelihood part of the gradient.

        Parameters
        ----------
        coef : ndarray of shape (n_experts, p)
        grad : ndarray of shape (n_experts, p)
            ``sum_i w_i (r_ik - g_ik) x_i``, the gradient of the data term.

        Returns
        -------
        new_coef : ndarray of shape (n_experts, p)
        """
        delta = scipy.linalg.cho_solve(self._factor, self._full_grad(coef, grad).T).T
        new = coef + delta
        return new - new.mean(axis=0)

    def newton(self, coef, grad):
        """Newton candidate, or None when the Hessian would be too large."""
        K, p = coef.shape
        if K * p > MAX_NEWTON_DIM:
            return None
        H = gate_hessian(self.hessian_design, coef, self.gate_alpha, self._hessian_scale)
        full = self._full_grad(coef, grad).ravel()
        try:
            factor = scipy.linalg.cho_factor(H, lower=False, check_finite=False)
            delta = scipy.linalg.cho_solve(factor, full, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None
        if not np.all(np.isfinite(delta)):
            return None
        new = coef + delta.reshape(K, p)
        return new - new.mean(axis=0)

    def objective(self, design, resp, candidates, need_grad=True):
        """Gate objective and data-term gradient of each candidate (one pass)."""
        n_experts = candidates[0].shape[0]
        parallel = design.n_samples * n_experts >= PARALLEL_MIN_CELLS
        kernel = (
            _kernels.gate_objective_rows_parallel if parallel else _kernels.gate_objective_rows
        )
        q = np.zeros(len(candidates))
        grads = [np.zeros_like(c) for c in candidates]
        for sl in design.chunks(n_experts * len(candidates) + design.n_columns):
            Xc = design.X1[sl]
            resp_c = resp[sl]
            w = design.weight[sl]
            for j, coef in enumerate(candidates):
                logits = Xc @ coef.T
                q_rows = np.empty(logits.shape[0])
                resid = np.empty_like(logits)
                kernel(logits, resp_c, w, q_rows, resid)
                q[j] += q_rows.sum()
                if need_grad:
                    grads[j] += resid.T @ Xc
        q -= np.array([gate_penalty(c, self.gate_alpha) for c in candidates])
        return q, grads

    def fit(self, design, resp, coef, n_steps):
        """``n_steps`` steps towards the gate that best explains ``resp``."""
        _, grads = self.objective(design, resp, [coef])
        return self.step(design, resp, coef, grads[0], n_steps)

    def step(self, design, resp, coef, grad, n_steps=1, newton=True):
        """``n_steps`` monotone steps from ``coef`` whose data gradient is ``grad``."""
        if coef.shape[0] == 1:
            return coef
        for step in range(n_steps):
            candidates = [self.bohning(coef, grad)]
            if newton:
                cand = self.newton(coef, grad)
                if cand is not None:
                    candidates.append(cand)
            q, grads = self.objective(design, resp, candidates, need_grad=step < n_steps - 1)
            best = int(np.argmax(q))
            coef, grad = candidates[best], grads[best]
        return coef
