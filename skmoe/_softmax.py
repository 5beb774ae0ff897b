"""Monotone steps for weighted multinomial logistic regression on soft labels.

Both the gate M-step and the M-step of logistic experts maximise

    Q(W) = sum_i v_i sum_c t_ic log softmax_c(W x_i) - alpha / 2 ||W[:, 1:]||^2

over ``W`` of shape ``(n_classes, p)`` (intercept in column 0), with row
weights ``v`` and soft labels ``t`` (rows sum to one): for the gate ``v = w``
and ``t`` the responsibilities; for expert ``k`` ``v = w r_k`` and ``t`` the
one-hot labels. Softmax is invariant to adding one vector to every row of
``W``; rows are kept centred, the minimum-norm representative.

Each step proposes two candidates and keeps one that does not lower ``Q``
(evaluated on all rows in one pass; the Böhning step never does, so when
``Q`` at the current point is known only the Newton candidate is evaluated):

* the Böhning (1992) bound step ``W + grad Q(W) @ inv(S / 2 + alpha P)``,
  with ``S = X^T diag(v) X``: the curvature bound ``(I - 11^T/C)/2 kron S``
  makes it a minorise-maximise step, so it never lowers ``Q``;
* a Newton step with the exact Hessian formed on a thinned set of rows
  (cheap, order-free); fast where the bound is loose (confident softmax).
  Where the Hessian is too large to form (``MAX_NEWTON_DIM``), the Böhning
  step stretched along its direction (``BOHNING_STRETCH``) takes its place.

Keeping the better of the two never lowers ``Q``, on near-separable data and
with ``alpha = 0`` too (the bound step then still gives finite parameters).
"""

import numpy as np
import scipy.linalg

from . import _kernels
from ._data import _CHUNK_VALUES, chunk_rows, iter_chunks
from ._threads import threaded

#: The Newton candidate is used while the Hessian, of size (C p) x (C p), is
#: small enough to form and factorise cheaply.
MAX_NEWTON_DIM = 256
#: Without a Newton candidate (a Hessian too large to form), the Böhning step
#: is also tried stretched by these factors along its direction, all
#: evaluated in the same pass: the bound is loose where the softmax is
#: confident, and its steps then converge slowly. Keeping the best of them
#: (the plain step among them) never lowers ``Q``. Measured on digits
#: (``benchmarks/README.md``, "Measurements behind constants in the code").
BOHNING_STRETCH = (1.0, 3.0, 9.0, 27.0, 81.0, 243.0, 729.0, 2187.0)
#: Rows used to form the Hessian are thinned so that forming it costs about
#: this many multiply-adds (a direction needs no exact Hessian: the candidate
#: is only kept if it raises the objective on all rows).
HESSIAN_BUDGET = 5e6


def hessian_stride(n_rows, n_classes, p):
    """Stride that thins ``n_rows`` rows to the Hessian budget."""
    max_rows = int(max(HESSIAN_BUDGET / (0.5 * n_classes * n_classes * p * p), 256))
    return max(1, int(np.ceil(n_rows / max_rows)))


def softmax_penalty(coef, alpha):
    """``alpha / 2 * ||coef[:, 1:]||^2`` (intercepts are not penalised)."""
    return 0.5 * alpha * float(np.sum(coef[:, 1:] ** 2))


def softmax_hessian(X, v, coef, alpha, scale=1.0):
    """Negative Hessian of ``Q`` at ``coef``, shape (C p, C p), positive definite.

    ``scale * sum_i v_i (diag(s_i) - s_i s_i^T) kron x_i x_i^T`` plus the
    penalty, with ``s_i = softmax(coef x_i)``. The null space (the same
    vector added to every class) is filled with a multiple of the identity;
    centred gradients are unaffected by it.
    """
    C, p = coef.shape
    H = np.zeros((C, p, C, p))
    for sl in iter_chunks(X.shape[0], chunk_rows(X.shape[0], C + p)):
        Xc = X[sl]
        logits = Xc @ coef.T
        s = np.empty_like(logits)
        _kernels.softmax_rows(logits, s)
        vs = s * v[sl, None]
        for a in range(C):
            for b in range(a, C):
                u = vs[:, a] * ((1.0 if a == b else 0.0) - s[:, b])
                block = (Xc * u[:, None]).T @ Xc
                H[a, :, b, :] += block
                if b != a:
                    H[b, :, a, :] += block.T
    H *= scale
    H = H.reshape(C * p, C * p)
    penal = np.full(p, alpha)
    penal[0] = 0.0
    H[np.diag_indices(C * p)] += np.tile(penal, C)
    fill = max(np.mean(np.diag(H)), 1e-12)
    H += fill * np.kron(np.full((C, C), 1.0 / C), np.eye(p))
    H[np.diag_indices(C * p)] += 1e-10 * fill
    return 0.5 * (H + H.T)


def softmax_objective(X, v, targets, candidates, alpha, need_grad=True,
                      chunk_values=_CHUNK_VALUES):
    """``Q`` and the gradient of its data term for each candidate, one pass.

    Parameters
    ----------
    X : ndarray of shape (n_samples, p)
    v : ndarray of shape (n_samples,)
    targets : ndarray of shape (n_samples, n_classes)
    candidates : list of ndarray of shape (n_classes, p)
    alpha : float
    need_grad : bool
    chunk_values : int
        Size of the chunk temporaries, in float64 values.

    Returns
    -------
    q : ndarray of shape (n_candidates,)
    grads : list of ndarray of shape (n_classes, p)
        ``sum_i v_i (t_i - s_i) x_i^T`` per candidate (zeros unless needed).
    """
    n_classes = candidates[0].shape[0]
    parallel = threaded(X.shape[0] * n_classes)
    kernel = _kernels.gate_objective_rows_parallel if parallel else _kernels.gate_objective_rows
    q = np.zeros(len(candidates))
    grads = [np.zeros_like(c) for c in candidates]
    rows = chunk_rows(X.shape[0], n_classes * len(candidates) + X.shape[1], chunk_values)
    for sl in iter_chunks(X.shape[0], rows):
        Xc = X[sl]
        t = targets[sl]
        vc = v[sl]
        for j, coef in enumerate(candidates):
            logits = Xc @ coef.T
            q_rows = np.empty(logits.shape[0])
            resid = np.empty_like(logits)
            kernel(logits, t, vc, q_rows, resid)
            q[j] += q_rows.sum()
            if need_grad:
                grads[j] += resid.T @ Xc
    q -= np.array([softmax_penalty(c, alpha) for c in candidates])
    return q, grads


def rows_objective(X, v, targets, alpha):
    """``evaluate(candidates, need_grad)`` for :meth:`SoftmaxStep.step` on rows in memory."""

    def evaluate(candidates, need_grad):
        return softmax_objective(X, v, targets, candidates, alpha, need_grad)

    return evaluate


class SoftmaxStep:
    """Monotone steps for one weighted softmax regression (see module doc).

    Parameters
    ----------
    gram : ndarray of shape (p, p)
        ``X^T diag(v) X`` over all rows (for the Böhning bound).
    alpha : float
        L2 penalty on non-intercept coefficients.
    total_weight : float
        ``sum_i v_i`` (scales the jitter and the thinned Hessian).
    hessian_X, hessian_v : ndarray or None
        Rows and weights for the Newton Hessian; None disables Newton.
    """

    def __init__(self, gram, alpha, total_weight, hessian_X=None, hessian_v=None):
        p = gram.shape[0]
        curvature = 0.5 * gram
        curvature[np.diag_indices(p)] += alpha
        curvature[0, 0] -= alpha
        # a larger curvature is still a valid bound: a tiny ridge keeps the
        # factorisation positive definite for constant or collinear columns
        jitter = 1e-10 * max(total_weight, 1e-300) + 1e-300
        curvature[np.diag_indices(p)] += jitter
        self._factor = scipy.linalg.cho_factor(curvature, lower=False, check_finite=False)
        self.alpha = alpha
        self.hessian_X = hessian_X
        self.hessian_v = hessian_v
        self._scale = 1.0
        if hessian_v is not None:
            hv = float(hessian_v.sum())
            self._scale = total_weight / hv if hv > 0 else 0.0

    def _full_grad(self, coef, grad):
        full = grad.copy()
        full[:, 1:] -= self.alpha * coef[:, 1:]
        return full - full.mean(axis=0)

    def bohning(self, coef, grad):
        """Bound step from the data-term gradient ``grad`` (C, p)."""
        delta = scipy.linalg.cho_solve(self._factor, self._full_grad(coef, grad).T).T
        new = coef + delta
        return new - new.mean(axis=0)

    def newton(self, coef, grad):
        """Newton candidate, or None (no Hessian rows, too large, or singular)."""
        C, p = coef.shape
        if self.hessian_X is None or C * p > MAX_NEWTON_DIM or self._scale == 0.0:
            return None
        H = softmax_hessian(self.hessian_X, self.hessian_v, coef, self.alpha, self._scale)
        full = self._full_grad(coef, grad).ravel()
        try:
            factor = scipy.linalg.cho_factor(H, lower=False, check_finite=False)
            delta = scipy.linalg.cho_solve(factor, full, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            return None
        if not np.all(np.isfinite(delta)):
            return None
        new = coef + delta.reshape(C, p)
        return new - new.mean(axis=0)

    def step(self, evaluate, coef, grad, n_steps=1, q_current=None):
        """``n_steps`` monotone steps from ``coef`` whose data gradient is ``grad``.

        ``evaluate(candidates, need_grad)`` returns ``Q`` and the data-term
        gradients of each candidate on all rows, as :func:`softmax_objective`
        (made by :func:`rows_objective` for rows in memory; the distributed
        path sums it over chunks). With ``q_current`` (``Q(coef)``) known,
        only the Newton candidate is evaluated: it is kept if it does not
        lower ``Q``, otherwise the Böhning step is taken, which never does.
        Without it both candidates are evaluated and the better kept. Either
        way ``Q`` never decreases.
        """
        if coef.shape[0] == 1:
            return coef
        for step in range(n_steps):
            need_grad = step < n_steps - 1
            bohning = self.bohning(coef, grad)
            newton = self.newton(coef, grad)
            if newton is None:
                candidates = [coef + f * (bohning - coef) for f in BOHNING_STRETCH]
            elif q_current is None:
                candidates = [bohning, newton]
            else:
                q, grads = evaluate([newton], need_grad)
                if q[0] >= q_current:
                    coef, grad, q_current = newton, grads[0], q[0]
                    continue
                candidates = [bohning]
            if len(candidates) == 1 and not need_grad:
                return candidates[0]
            q, grads = evaluate(candidates, need_grad)
            best = int(np.argmax(q))
            coef, grad, q_current = candidates[best], grads[best], q[best]
        return coef
