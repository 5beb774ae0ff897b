"""Gaussian experts: linear ``N(A_k x + c_k, diag(s2_k))`` and constant ``N(c_k, diag(s2_k))``.

Parameters (standardised units; intercept in column 0 of the design):

* ``coef``: ``(n_experts, n_outputs, q)`` with ``q = n_features + 1`` for
  linear experts and ``q = 1`` (intercept only) for constant ones;
* ``var``: ``(n_experts, n_outputs)``.

M-step (exact conditional steps, ECM). With soft weights ``v_i = w_i r_ik``
the expected complete-data objective of expert ``k`` and output ``j`` is

    sum_i v_i log N(y_ij; a . x_i, s2) - alpha / 2 ||a[1:]||^2
        - rows / 2 (log s2 + var0_j / s2),

a Gaussian prior ``N(0, 1 / alpha)`` on the standardised slopes and the
head's variance prior (``rows`` pseudo-rows of squared residual ``var0_j``:
``_heads.GaussianHead``; none when ``alpha = 0``). For a fixed ``s2`` it is
maximised over ``a`` by the ridge solution ``(S_k + alpha s2 P) a = b_kj``
with ``S_k = sum_i v_i x_i x_i^T``, ``b_kj = sum_i v_i x_i y_ij``; for a fixed
``a`` over ``s2`` by ``s2 = (RSS + rows var0_j) / (N_k + rows)``, floored at
``var_floor_j``. The M-step takes the coefficient step at the current
variance, then the variance step at the new coefficients: two exact
conditional maximisations (Meng and Rubin 1993), so EM stays monotone; at a
fixed point of the responsibilities the pair is the joint maximiser. The
floor makes the variance step a constrained maximisation, which keeps this
true.
"""

import numpy as np
import scipy.linalg

from .. import _kernels
from .._threads import threaded
from ._base import ExpertFamily
from ._heads import GaussianHead
from ._slots import linear_slot_backward, linear_slot_outputs

#: From this many design columns on, the weighted Gram matrices are formed by
#: one BLAS product per expert instead of the Numba kernel (the measured
#: crossover: ``benchmarks/README.md``, "Measurements behind constants in the code").
BLAS_MIN_COLUMNS = 48


def accumulate_moments(X, q, soft_weight, y, flat, nk):
    """Add the flat weighted moments of ``gaussian_stats_rows`` into ``flat``/``nk``.

    Narrow designs use the Numba kernel (threaded for large chunks); wide ones
    one BLAS product per expert, whose upper triangle is packed the same way.
    """
    if q < BLAS_MIN_COLUMNS:
        parallel = threaded(X.shape[0], 2 * _kernels.STATS_BLOCK)
        kernel = (
            _kernels.gaussian_stats_rows_parallel if parallel else _kernels.gaussian_stats_rows
        )
        kernel(X, q, soft_weight, y, flat, nk)
        return
    Xq = X[:, :q]
    m = y.shape[1]
    rows, cols = np.triu_indices(q)
    n_tri = rows.shape[0]
    for k in range(soft_weight.shape[1]):
        v = soft_weight[:, k]
        Xw = Xq * v[:, None]
        flat[k, :n_tri] += (Xw.T @ Xq)[rows, cols]
        if m:
            flat[k, n_tri : n_tri + q * m] += (Xw.T @ y).ravel()
            flat[k, n_tri + q * m :] += v @ (y * y)
        nk[k] += v.sum()


def unpack_moments(flat, q, m):
    """``gram`` (K, q, q), ``xy`` (K, q, m), ``yy`` (K, m) from ``gaussian_stats_rows``' layout."""
    K = flat.shape[0]
    n_tri = q * (q + 1) // 2
    rows, cols = np.triu_indices(q)
    gram = np.zeros((K, q, q))
    gram[:, rows, cols] = flat[:, :n_tri]
    gram[:, cols, rows] = flat[:, :n_tri]
    xy = flat[:, n_tri : n_tri + q * m].reshape(K, q, m)
    yy = flat[:, n_tri + q * m :]
    return gram, xy, yy


def solve_ridge(gram, rhs, alpha, penalise_from=1):
    """Solve ``(gram + alpha P) x = rhs``; minimum-norm solution if singular.

    ``P`` is the identity with zeros on the first ``penalise_from`` diagonal
    entries (the intercept). Any solution maximises the quadratic objective,
    so falling back to the pseudo-inverse keeps the M-step exact.
    """
    q = gram.shape[0]
    A = gram.copy()
    if alpha > 0 and q > penalise_from:
        idx = np.arange(penalise_from, q)
        A[idx, idx] += alpha
    try:
        factor = scipy.linalg.cho_factor(A, lower=False, check_finite=False)
        sol = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        # Cholesky of a numerically singular matrix can "succeed" with a tiny
        # pivot: check the solution really solves the system
        resid = A @ sol - rhs
        scale = np.abs(A).max() * np.abs(sol).max() + np.abs(rhs).max()
        if np.all(np.isfinite(sol)) and np.abs(resid).max() <= 1e-8 * max(scale, 1e-300):
            return sol
    except (np.linalg.LinAlgError, ValueError):
        pass
    evals, evecs = np.linalg.eigh(A)
    cutoff = evals.max() * q * np.finfo(float).eps if evals.max() > 0 else 0.0
    inv = np.where(evals > cutoff, 1.0 / np.where(evals > cutoff, evals, 1.0), 0.0)
    return evecs @ (inv[:, None] * (evecs.T @ rhs))


def solve_ridge_batch(grams, rhs, alpha, penalise_from=1):
    """:func:`solve_ridge` for a stack of systems, one LAPACK call.

    ``alpha``: one ridge for all systems, or one per system ``(K,)``.
    Returns a list with each solution, or None where the batched solve is not
    trusted (singular or inaccurate: :func:`solve_ridge` then decides).
    """
    K, q, _ = grams.shape
    A = grams.copy()
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (K,))
    if q > penalise_from:
        idx = np.arange(penalise_from, q)
        A[:, idx, idx] += alpha[:, None]
    try:
        with np.errstate(all="ignore"):
            sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        return [None] * K
    resid = np.einsum("kij,kjm->kim", A, sol) - rhs
    out = []
    for k in range(K):
        scale = np.abs(A[k]).max() * np.abs(sol[k]).max() + np.abs(rhs[k]).max()
        good = np.all(np.isfinite(sol[k])) and (
            np.abs(resid[k]).max() <= 1e-8 * max(scale, 1e-300))
        out.append(sol[k] if good else None)
    return out


class GaussianExperts(ExpertFamily):
    """Linear or constant Gaussian experts with one variance per output.

    Parameters
    ----------
    n_experts : int
    n_outputs : int
    linear : bool
        ``True`` for ``expert="linear"``, ``False`` for ``expert="constant"``.
    alpha : float
        Ridge penalty on the (standardised) slopes.
    var_floor : ndarray of shape (n_outputs,)
        Lower bound on each expert variance, in standardised units.
    prior : tuple or None
        The variance prior ``(rows, var0)`` (see ``GaussianHead``).
    """

    def __init__(self, n_experts, n_outputs, linear, alpha, var_floor=None, prior=None):
        self.n_experts = n_experts
        self.head = GaussianHead(n_outputs, var_floor, prior)
        self.linear = linear
        self.alpha = float(alpha)

    @property
    def n_outputs(self):
        return self.head.n_outputs

    # -- shapes -------------------------------------------------------------

    def n_free_params(self, n_features):
        q = n_features + 1 if self.linear else 1
        return self.n_experts * (self.n_outputs * q + self.head.n_free_params())

    # -- E-step -------------------------------------------------------------

    def means(self, params, X1):
        """Expert means ``(n_samples, n_experts * n_outputs)``, expert-major."""
        coef = params["coef"]
        K, m, q = coef.shape
        return self.inputs(X1) @ coef.reshape(K * m, q).T

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):
        """Fused E-step; returns the means (the forward pass of ``loglik_grad``)."""
        means = self.means(params, X1c)
        self.head.estep(params, means, target_c, logits, weight_c, resp, log_norm, gate_resid,
                        gate_q)
        return means

    # -- sufficient statistics and M-step ----------------------------------

    def new_stats(self, n_columns):
        """Zeroed statistics: ``flat`` (see ``gaussian_stats_rows``) and ``n``."""
        q = self._q(n_columns)
        length = _kernels.gaussian_stats_length(q, self.n_outputs)
        return {"flat": np.zeros((self.n_experts, length)), "n": np.zeros(self.n_experts), "q": q}

    def accumulate(self, stats, params, X1c, target_c, soft_weight):
        accumulate_moments(X1c, stats["q"], soft_weight, target_c, stats["flat"], stats["n"])

    def unpack_stats(self, stats):
        """``gram`` (K, q, q), ``xy`` (K, q, m), ``yy`` (K, m) from the flat vector."""
        return unpack_moments(stats["flat"], stats["q"], self.n_outputs)

    def mstep(self, stats, params, collapsed, context=None):
        """Exact conditional M-steps from sufficient statistics (module docstring).

        The coefficient step uses the previous variances (without previous
        parameters: 1, the variance of ``y``). Experts flagged in
        ``collapsed`` keep their previous parameters (which keeps EM
        monotone); without previous parameters they get the pooled fit.
        """
        K, m = self.n_experts, self.n_outputs
        q = stats["q"]
        grams, xys, yys = self.unpack_stats(stats)
        nks = stats["n"]
        coef = np.zeros((K, m, q)) if params is None else params["coef"].copy()
        var = np.ones((K, m)) if params is None else params["var"].copy()
        alpha = self.alpha if self.linear else 0.0
        ridge = alpha * var  # (K, m): the coefficient step's ridge at the current variance
        update = ~collapsed if params is not None else np.ones(K, dtype=bool)
        # experts without previous parameters and without weight: the pooled fit
        pool = collapsed & update
        if pool.any():
            grams, xys, yys, nks = grams.copy(), xys.copy(), yys.copy(), nks.copy()
            grams[pool], xys[pool] = grams.sum(axis=0), xys.sum(axis=0)
            yys[pool], nks[pool] = yys.sum(axis=0), nks.sum()
        rss = np.zeros((K, m))
        for j in range(m):
            b = xys[:, :, j]
            batch = solve_ridge_batch(grams, b[:, :, None], ridge[:, j])
            for k in np.flatnonzero(update):
                sol = (batch[k] if batch[k] is not None else
                       solve_ridge(grams[k], b[k][:, None], ridge[k, j]))[:, 0]
                coef[k, j] = sol
                rss[k, j] = max(yys[k, j] - 2.0 * sol @ b[k] + sol @ grams[k] @ sol, 0.0)
        var[update] = self.head.posterior_var(rss[update], nks[update][:, None])
        return {"coef": coef, "var": var}

    # -- gradient of the log-likelihood (for the gradient solvers) ----------

    grad_keys = ("coef", "log_var")

    def to_free(self, params):
        """Unconstrained parameters: the variance in log space."""
        return {"coef": params["coef"], **self.head.to_free(params)}

    def from_free(self, free):
        return {"coef": free["coef"], **self.head.from_free(free)}

    def free_lower_bounds(self):
        return self.head.free_lower_bounds(self.n_experts)

    def free_upper_bounds(self):
        return self.head.free_upper_bounds(self.n_experts)

    def loglik_grad(self, params, X1c, target_c, soft_weight, forward=None):
        """Gradient of ``sum_i sum_k v_ik log p_k(y_i | x_i)`` in the free parameters.

        ``forward``: the means :meth:`estep_chunk` returned for this chunk
        (computed afresh when None).
        """
        K, m = self.n_experts, self.n_outputs
        Xq = self.inputs(X1c)
        n = X1c.shape[0]
        mu = self.means(params, X1c) if forward is None else forward
        var = params["var"]
        diff = target_c[:, None, :] - mu.reshape(n, K, m)
        scaled = diff / var
        scaled *= soft_weight[:, :, None]
        grad_coef = (scaled.reshape(n, K * m).T @ Xq).reshape(K, m, Xq.shape[1])
        # sum_i v_ik (d^2 / var - 1) / 2 = (sum_i scaled * diff - N_k) / 2
        sq = (scaled * diff).sum(axis=0)
        grad_log_var = 0.5 * (sq - soft_weight.sum(axis=0)[:, None])
        return {"coef": grad_coef, "log_var": grad_log_var}

    def penalty_grad(self, params):
        """Gradient of :meth:`penalty` in the free parameters."""
        coef = params["coef"]
        grad_coef = np.zeros_like(coef)
        if self.linear and self.alpha > 0.0:
            grad_coef[:, :, 1:] = self.alpha * coef[:, :, 1:]
        return {"coef": grad_coef, "log_var": self.head.penalty_grad(params)["log_var"].copy()}

    def penalty(self, params):
        """``alpha/2 sum_kj ||A_kj[1:]||^2`` plus the variance prior's penalty."""
        pen = self.head.penalty(params)
        if not self.linear or self.alpha == 0.0:
            return pen
        return pen + 0.5 * self.alpha * float(np.sum(params["coef"][:, :, 1:] ** 2))

    # -- sparse routing: only the selected experts (see ``_slots``) ----------

    def slot_outputs(self, params, X1, sel):
        """Means of the experts ``sel`` ``(n, s)`` only: ``(n, s, n_outputs)``."""
        return linear_slot_outputs(params["coef"], X1, sel)

    def slot_grad(self, params, X1, target, sel, out, soft, forward=None):
        """Gradient of ``sum_ij soft_ij log p_sel[i,j](y_i | x_i)`` in the free parameters."""
        dout, head_grads = self.head.slot_grad(params, out, target, sel, soft)
        return {"coef": linear_slot_backward(params["coef"].shape, X1, sel, dout), **head_grads}


def residual_variance(design, n_outputs, alpha):
    """Residual variance ``(n_outputs,)`` of one linear expert fitted to all of ``design``.

    The weighted ridge fit (``alpha`` on the slopes) by one pass of the
    E-step's statistics (in memory or on Dask blocks), in standardised units:
    the scale of the experts' variance prior (``_heads.GaussianHead``).
    """
    family = GaussianExperts(1, n_outputs, linear=True, alpha=alpha)
    p = design.n_columns
    params = {"gate": np.zeros((1, p)),
              "experts": {"coef": np.zeros((1, n_outputs, p)), "var": np.ones((1, n_outputs))}}
    stats = family.new_stats(p)
    design.passes(1).estep(family, params, stats)
    return family.mstep(stats, None, np.zeros(1, dtype=bool))["var"][0]
