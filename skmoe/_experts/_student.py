"""Student-t experts: linear ``t_nu(A_k x + c_k, s2_k)`` and constant ``t_nu(c_k, s2_k)``.

Parameters (standardised units) are the Gaussian experts' ``coef`` and
``var`` (the squared scales ``s2``) plus ``df`` ``(n_experts, n_outputs)``,
the degrees of freedom, in ``[DF_MIN, DF_MAX]`` (``_heads``). Each output is
a univariate t with its own latent scale ``tau ~ Gamma(nu/2, nu/2)``,
``y | tau ~ N(mu, s2 / tau)`` (a product of t's for multi-output ``y``).

EM (Liu and Rubin 1995, ECM). The E-step gives, besides the
responsibilities ``r_ik``, the latent scales' posterior means
``u_ikj = (nu + 1) / (nu + delta_ikj)`` with ``delta = (y - mu)^2 / s2`` and
``E log tau = psi((nu + 1)/2) - log((nu + delta)/2)``. With ``v = w r`` the
expected complete-data objective of expert ``k``, output ``j`` is

    sum_i v_i [-1/2 log s2 - u_i (y_i - a . x_i)^2 / (2 s2)]
        + sum_i v_i [nu/2 log(nu/2) - lgamma(nu/2) + nu/2 (E log tau_i - u_i)]
        - alpha/2 ||a[1:]||^2 - rows/2 (log s2 + var0 / s2)

(plus terms free of the parameters). Three exact conditional maximisations:
the ridge ``(S_u + alpha s2 P) a = b_u`` with the ``v u``-weighted moments
at the current ``s2``, then ``s2 = (RSS_u + rows var0) / (N_k + rows)``
(``N_k = sum v``), then ``nu`` solving
``log(nu/2) + 1 - psi(nu/2) + sum v (E log tau - u) / N_k = 0``, a concave
maximisation, clamped to the range. Each raises the objective, so EM is
monotone in the penalised t-mixture log-likelihood.
"""

import numpy as np
from scipy.special import digamma

from ._gaussian import (
    GaussianExperts,
    accumulate_moments,
    solve_ridge,
    solve_ridge_batch,
    unpack_moments,
)
from ._heads import DF_MAX, DF_MIN, DF_START, StudentTHead

#: Bisection steps of the degrees-of-freedom step (on ``log nu``: the bracket
#: ``[DF_MIN, DF_MAX]`` shrinks to ``1e-14`` relative).
DF_BISECTIONS = 60


def df_step(mean_tau, df):
    """The exact ``nu`` step: root of ``log(nu/2) + 1 - psi(nu/2) + mean_tau``, clamped.

    ``mean_tau`` ``(K, m)`` is ``sum v (E log tau - u) / N_k``; where it is
    not finite (no weight) ``df`` is kept.
    """
    ok = np.isfinite(mean_tau)
    c = np.where(ok, mean_tau, -1.0)

    def h(nu):
        return np.log(0.5 * nu) + 1.0 - digamma(0.5 * nu) + c

    lo = np.full(c.shape, np.log(DF_MIN))
    hi = np.full(c.shape, np.log(DF_MAX))
    for _ in range(DF_BISECTIONS):  # h is decreasing in nu
        mid = 0.5 * (lo + hi)
        above = h(np.exp(mid)) > 0.0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    nu = np.exp(0.5 * (lo + hi))
    nu = np.where(h(np.full(c.shape, DF_MIN)) <= 0.0, DF_MIN, nu)
    nu = np.where(h(np.full(c.shape, DF_MAX)) >= 0.0, DF_MAX, nu)
    return np.where(ok, nu, df)


class StudentTExperts(GaussianExperts):
    """Linear or constant Student-t experts (see the module docstring).

    Parameters as :class:`~skmoe._experts._gaussian.GaussianExperts`.
    """

    grad_keys = ("coef", "log_var", "log_df")

    def __init__(self, n_experts, n_outputs, linear, alpha, var_floor=None, prior=None):
        super().__init__(n_experts, n_outputs, linear, alpha, var_floor, prior)
        self.head = StudentTHead(n_outputs, var_floor, prior)

    # -- sufficient statistics and M-step ----------------------------------

    def new_stats(self, n_columns):
        """Per output: ``v u``-weighted moments; ``n = sum v``; ``tau = sum v (E log tau - u)``."""
        m, K = self.n_outputs, self.n_experts
        stats = super().new_stats(n_columns)
        length = stats["flat"].shape[1]
        stats["flat"] = np.zeros((m, K, length))
        stats["nu_n"] = np.zeros((m, K))
        stats["tau"] = np.zeros((K, m))
        return stats

    def accumulate(self, stats, params, X1c, target_c, soft_weight):
        K, m = self.n_experts, self.n_outputs
        n = X1c.shape[0]
        if params is None:  # the first M-step: the Gaussian one (u = 1), nu stays at its start
            u = np.ones((n, K, m))
        else:
            diff = target_c[:, None, :] - self.means(params, X1c).reshape(n, K, m)
            df = params["df"]
            delta = diff * diff / params["var"]
            u = (df + 1.0) / (df + delta)
            e_log = digamma(0.5 * (df + 1.0)) - np.log(0.5 * (df + delta))
            stats["tau"] += np.einsum("nk,nkm->km", soft_weight, e_log - u)
        for j in range(m):
            sw = np.ascontiguousarray(soft_weight * u[:, :, j])
            accumulate_moments(X1c, stats["q"], sw, np.ascontiguousarray(target_c[:, j:j + 1]),
                               stats["flat"][j], stats["nu_n"][j])
        stats["n"] += soft_weight.sum(axis=0)

    def mstep(self, stats, params, collapsed, context=None):
        """Exact conditional M-steps: coefficients, scales, degrees of freedom (see module)."""
        K, m = self.n_experts, self.n_outputs
        q = stats["q"]
        nks = stats["n"]
        coef = np.zeros((K, m, q)) if params is None else params["coef"].copy()
        var = np.ones((K, m)) if params is None else params["var"].copy()
        df = np.full((K, m), DF_START) if params is None else params["df"].copy()
        alpha = self.alpha if self.linear else 0.0
        update = ~collapsed if params is not None else np.ones(K, dtype=bool)
        pool = collapsed & update
        rss = np.zeros((K, m))
        for j in range(m):
            grams, xys, yys = (a.copy() for a in unpack_moments(stats["flat"][j], q, 1))
            if pool.any():
                grams[pool], xys[pool], yys[pool] = grams.sum(0), xys.sum(0), yys.sum(0)
            b = xys[:, :, 0]
            ridge = alpha * var[:, j]
            batch = solve_ridge_batch(grams, b[:, :, None], ridge)
            for k in np.flatnonzero(update):
                sol = (batch[k] if batch[k] is not None else
                       solve_ridge(grams[k], b[k][:, None], ridge[k]))[:, 0]
                coef[k, j] = sol
                rss[k, j] = max(yys[k, 0] - 2.0 * sol @ b[k] + sol @ grams[k] @ sol, 0.0)
        nk_used = np.where(pool, nks.sum(), nks)
        var[update] = self.head.posterior_var(rss[update], nk_used[update][:, None])
        if params is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_tau = stats["tau"] / nks[:, None]
            new_df = df_step(mean_tau, df)
            df[update] = new_df[update]
        return {"coef": coef, "var": var, "df": df}

    # -- gradients --------------------------------------------------------------

    def loglik_grad(self, params, X1c, target_c, soft_weight, forward=None):
        """Gradient of ``sum_i sum_k v_ik log p_k(y_i | x_i)`` in the free parameters."""
        K, m = self.n_experts, self.n_outputs
        Xq = self.inputs(X1c)
        n = X1c.shape[0]
        mu = self.means(params, X1c) if forward is None else forward
        dout, head = self.head.output_grad(params, mu, target_c, soft_weight)
        grad_coef = (dout.reshape(n, K * m).T @ Xq).reshape(K, m, Xq.shape[1])
        return {"coef": grad_coef, **head}

    def penalty_grad(self, params):
        grads = super().penalty_grad(params)
        grads["log_df"] = np.zeros_like(params["df"])
        return grads
