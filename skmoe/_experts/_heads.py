"""Likelihood heads: what turns an expert's outputs into ``log p_k(y | x)``.

An expert family is a *mean function* (linear, constant, mlp, estimator: it
maps a design row to ``n_out`` outputs per expert) times a *head* (this
module: the likelihood of the target given those outputs).

* :class:`GaussianHead`: outputs are means ``mu`` of ``N(y; mu, diag(s2_k))``
  with one variance per expert and output (parameter ``var``, free as
  ``log_var``; floored at ``var_floor``, capped at ``LOG_VAR_MAX``).
* :class:`CategoricalHead`: outputs are class logits (or log-probabilities:
  ``log_softmax`` is idempotent on them) of ``softmax(out)[y]``; no
  parameters of its own.

A head owns, for its family: the E-step kernel dispatch (serial or threaded
through :func:`skmoe._threads.threaded`), the log-constant, the slot
log-likelihoods and their derivatives of the sparse path, its own
parameters (start values, free form, bounds, count per expert), the
gradient of the log-likelihood in the outputs (dense path) and the
conversion of its parameters to the user's units. The Numba kernels are in
:mod:`skmoe._kernels`.
"""

import numpy as np
from scipy.special import digamma, gammaln

from .. import _kernels
from .._threads import threaded

_LOG_2PI = float(np.log(2.0 * np.pi))
#: Expert variances are floored at this fraction of the weighted variance of
#: each output (1 in standardised units).
VAR_FLOOR = 1e-6
#: The variance prior (issue 16): each expert variance gets the conjugate
#: prior of ``VAR_PRIOR_ROWS * alpha`` pseudo-rows whose squared residual is
#: ``VAR_PRIOR_SHARE`` times the residual variance of a one-expert ridge fit
#: (per output). Chosen by ``benchmarks/bench_real_data.py`` (the README's
#: "Measurements behind constants in the code").
VAR_PRIOR_ROWS = 1.0
VAR_PRIOR_SHARE = 0.01
#: Upper bound of the gradient solvers' log-variances (standardised units):
#: keeps a diverging optimiser from overflowing ``exp``.
LOG_VAR_MAX = float(np.log(1e8))


class GaussianHead:
    """``N(y; out_k(x), diag(var_k))``: the regressor's likelihood.

    Parameters
    ----------
    n_outputs : int
        Target columns ``m`` (each expert has ``m`` outputs, ``m`` variances).
    var_floor : ndarray of shape (n_outputs,) or None
        Lower bound of the variances (standardised units); ``VAR_FLOOR``
        for every output when None.
    prior : tuple ``(rows, var)`` or None
        The variance prior: ``rows`` pseudo-rows (a float >= 0) with squared
        residual ``var`` (ndarray of shape (n_outputs,), standardised units),
        the penalty ``rows/2 * (log(s2 / var) + var / s2 - 1)`` per expert
        and output (an inverse-gamma prior with mode ``var``, up to a
        constant). None or ``rows == 0``: no prior.
    """

    name = "gaussian"
    #: keys of the head's own parameters, and of their free forms
    param_keys = ("var",)
    grad_keys = ("log_var",)

    def __init__(self, n_outputs, var_floor=None, prior=None):
        self.n_outputs = int(n_outputs)
        if var_floor is None:
            var_floor = np.full(self.n_outputs, VAR_FLOOR)
        self.var_floor = np.asarray(var_floor, dtype=float)
        self.prior_rows, self.prior_var = 0.0, None
        if prior is not None and prior[0] > 0 and prior[1] is not None:
            self.prior_rows = float(prior[0])
            self.prior_var = np.broadcast_to(np.asarray(prior[1], dtype=float),
                                             (self.n_outputs,)).copy()

    @property
    def n_out(self):
        """Outputs of the mean function per expert (the means)."""
        return self.n_outputs

    def n_free_params(self):
        """Free parameters of the head per expert (the variances)."""
        return self.n_outputs

    def log_const(self, params):
        """``log N`` without the quadratic term, per expert ``(K,)``."""
        return -0.5 * np.sum(np.log(params["var"]) + _LOG_2PI, axis=1)

    def estep(self, params, out, target, logits, weight, resp, log_norm, gate_resid, gate_q):
        """Fused E-step of a chunk from the experts' means ``out`` ``(n, K * m)``."""
        var = params["var"]
        n_experts = var.shape[0]
        parallel = threaded(out.shape[0] * n_experts)
        kernel = (
            _kernels.estep_gaussian_rows_parallel if parallel else _kernels.estep_gaussian_rows
        )
        kernel(
            logits, out, target, 1.0 / var, self.log_const(params), weight, resp, log_norm,
            gate_resid, gate_q,
        )

    # -- parameters -----------------------------------------------------------

    def start_params(self, n_experts):
        return {"var": np.ones((n_experts, self.n_outputs))}

    def to_free(self, params):
        return {"log_var": np.log(params["var"])}

    def from_free(self, free):
        var = np.maximum(np.exp(np.minimum(free["log_var"], LOG_VAR_MAX)), self.var_floor)
        return {"var": var}

    def free_lower_bounds(self, n_experts):
        """The variance floor, in log space."""
        return {"log_var": np.broadcast_to(np.log(self.var_floor), (n_experts, self.n_outputs))}

    def free_upper_bounds(self, n_experts):
        """Variances at most ``1e8`` times the variance of ``y`` (divergence guard)."""
        return {"log_var": np.full((n_experts, self.n_outputs), LOG_VAR_MAX)}

    def floor(self, var):
        """Variances floored at ``var_floor``."""
        return np.maximum(var, self.var_floor)

    # -- the variance prior ---------------------------------------------------

    def posterior_var(self, rss, nk):
        """The exact variance M-step: ``(rss + rows var0) / (nk + rows)``, floored.

        ``rss`` ``(..., m)`` is the weighted residual sum of squares (plus the
        coefficient penalty's ``alpha ||a||^2`` where there is one), ``nk``
        the expert's weight (a scalar, or shaped to broadcast against ``rss``).
        """
        if self.prior_var is None:
            return self.floor(rss / np.maximum(nk, 1e-300))
        rows = self.prior_rows
        return self.floor((rss + rows * self.prior_var) / np.maximum(nk + rows, 1e-300))

    def penalty(self, params):
        """The variance prior's penalty (0 without a prior)."""
        if self.prior_var is None:
            return 0.0
        ratio = self.prior_var / params["var"]
        return 0.5 * self.prior_rows * float(np.sum(ratio - np.log(ratio) - 1.0))

    def penalty_grad(self, params):
        """Gradient of :meth:`penalty` in ``log_var``."""
        if self.prior_var is None:
            return self.zero_grads(params)
        return {"log_var": 0.5 * self.prior_rows * (1.0 - self.prior_var / params["var"])}

    # -- gradients ------------------------------------------------------------

    def output_grad(self, params, out, target, soft_weight):
        """``d/d out`` ``(n, K, m)`` and ``{"log_var": (K, m)}`` of ``sum v log N``.

        ``out`` are the means ``(n, K * m)``, ``soft_weight`` ``v = w r``
        ``(n, K)``.
        """
        var = params["var"]
        n, (K, m) = out.shape[0], var.shape
        diff = target[:, None, :] - out.reshape(n, K, m)
        dout = soft_weight[:, :, None] * diff / var
        grad_log_var = 0.5 * (
            np.einsum("nk,nko->ko", soft_weight, diff * diff) / var
            - soft_weight.sum(axis=0)[:, None]
        )
        return dout, {"log_var": grad_log_var}

    def zero_grads(self, params):
        """Zero gradients of the head's free parameters (e.g. for a penalty)."""
        return {"log_var": np.zeros_like(params["var"])}

    # -- sparse path: the selected experts only -------------------------------

    def slot_loglik(self, params, out, target, sel):
        """``log p_sel[i,j](y_i)`` ``(n, s)`` from the slot means ``(n, s, m)``."""
        var = params["var"]
        n, s = sel.shape
        loglik = np.empty((n, s))
        _kernels.gaussian_slot_loglik_rows(out, target, sel, 1.0 / var, self.log_const(params),
                                           loglik)
        return loglik

    def slot_grad(self, params, out, target, sel, soft):
        """``d/d out`` ``(n, s, m)`` and ``{"log_var": (K, m)}`` of ``sum v log N``."""
        var = params["var"]
        n_experts, m = var.shape
        diff = target[:, None, :] - out
        scaled = diff / var[sel]
        dout = scaled * soft[:, :, None]
        # 0.5 * sum_ij v_ij (diff^2 / var - 1), per expert
        per_slot = 0.5 * (dout * diff - soft[:, :, None])  # (n, s, m)
        flat_sel = sel.ravel()
        grad_log_var = np.empty((n_experts, m))
        for o in range(m):
            grad_log_var[:, o] = np.bincount(
                flat_sel, weights=per_slot[:, :, o].ravel(), minlength=n_experts
            )
        return dout, {"log_var": grad_log_var}

    # -- the user's units -----------------------------------------------------

    def export(self, params, target):
        """``{"expert_var_": ...}`` in the units of ``y`` (``target``: the Gaussian codec)."""
        var = params["var"] * target.scaler.scale_**2
        return {"expert_var_": var[:, 0] if target.squeeze else var}


class CategoricalHead:
    """``softmax(out_k(x))[y]``: the classifier's likelihood (no own parameters).

    Parameters
    ----------
    n_classes : int
    """

    name = "categorical"
    param_keys = ()
    grad_keys = ()

    def __init__(self, n_classes):
        self.n_classes = int(n_classes)

    @property
    def n_out(self):
        """Outputs of the mean function per expert (the class logits)."""
        return self.n_classes

    def n_free_params(self):
        return 0

    def log_const(self, params):
        return 0.0

    def estep(self, params, out, target, logits, weight, resp, log_norm, gate_resid, gate_q):
        """Fused E-step of a chunk from the experts' logits ``out`` ``(n, K * C)``."""
        n_experts = out.shape[1] // self.n_classes
        parallel = threaded(out.shape[0] * n_experts)
        kernel = (
            _kernels.estep_categorical_rows_parallel
            if parallel
            else _kernels.estep_categorical_rows
        )
        kernel(
            logits, out, target, self.n_classes, self.log_const(params), weight, resp, log_norm,
            gate_resid, gate_q,
        )

    def start_params(self, n_experts):
        return {}

    def to_free(self, params):
        return {}

    def from_free(self, free):
        return {}

    def free_lower_bounds(self, n_experts):
        return {}

    def free_upper_bounds(self, n_experts):
        return {}

    def log_proba(self, out, n_experts):
        """Log class probabilities ``(n, K, C)`` from the logits ``(n, K * C)``."""
        n = out.shape[0]
        flat = out.reshape(n * n_experts, self.n_classes)
        res = np.empty_like(flat)
        _kernels.log_softmax_rows(flat, res)
        return res.reshape(n, n_experts, self.n_classes)

    def output_grad(self, params, out, target, soft_weight):
        """``d/d out`` ``(n, K, C)`` of ``sum v log softmax(out)[y]`` (no own parameters)."""
        n, K, C = out.shape[0], soft_weight.shape[1], self.n_classes
        prob = np.empty((n * K, C))
        _kernels.softmax_rows(out.reshape(n * K, C), prob)
        dout = -prob.reshape(n, K, C)
        dout[np.arange(n), :, target] += 1.0
        dout *= soft_weight[:, :, None]
        return dout, {}

    def zero_grads(self, params):
        return {}

    def penalty(self, params):
        """No prior of the head's own (it has no parameters)."""
        return 0.0

    def penalty_grad(self, params):
        return {}

    def slot_loglik(self, params, out, target, sel):
        n, s, _ = out.shape
        loglik = np.empty((n, s))
        _kernels.categorical_slot_loglik_rows(np.ascontiguousarray(out), target, loglik)
        return loglik

    def slot_grad(self, params, out, target, sel, soft):
        n, s, C = out.shape
        prob = np.empty((n * s, C))
        _kernels.softmax_rows(np.ascontiguousarray(out).reshape(n * s, C), prob)
        dout = -prob.reshape(n, s, C)
        dout[np.arange(n), :, target] += 1.0
        dout *= soft[:, :, None]
        return dout, {}

    def export(self, params, target):
        return {}



#: Range of the Student-t experts' degrees of freedom: below 1 a t has no
#: mean (and the mixture's mean prediction would be undefined), above 200 it
#: is a normal to within the resolution of any data set we fit.
DF_MIN = 1.5
DF_MAX = 200.0
#: Degrees of freedom every t expert starts from (close to a normal: the
#: data decide whether the tails are heavy).
DF_START = 10.0


def student_log_const(var, df):
    """``lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi s2)/2`` per expert and output."""
    return (gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df)
            - 0.5 * np.log(df * np.pi * var))


class StudentTHead(GaussianHead):
    """``prod_j t_nu_kj(y_j; out_kj(x), s2_kj)``: Student-t experts, one latent scale per output.

    Parameters as :class:`GaussianHead` (``var`` is the squared scale
    ``s2``; its prior and floor are the Gaussian head's), plus the degrees of
    freedom ``df`` ``(K, m)`` in ``[DF_MIN, DF_MAX]`` (free as ``log_df``),
    without a prior.
    """

    name = "student_t"
    param_keys = ("var", "df")
    grad_keys = ("log_var", "log_df")

    def n_free_params(self):
        """Free parameters of the head per expert (scales and degrees of freedom)."""
        return 2 * self.n_outputs

    def log_const(self, params):
        return student_log_const(params["var"], params["df"])

    def estep(self, params, out, target, logits, weight, resp, log_norm, gate_resid, gate_q):
        """Fused E-step of a chunk from the experts' locations ``out`` ``(n, K * m)``."""
        var = params["var"]
        parallel = threaded(out.shape[0] * var.shape[0])
        kernel = _kernels.estep_student_rows_parallel if parallel else _kernels.estep_student_rows
        kernel(logits, out, target, 1.0 / var, np.ascontiguousarray(params["df"]),
               self.log_const(params), weight, resp, log_norm, gate_resid, gate_q)

    def start_params(self, n_experts):
        return {"var": np.ones((n_experts, self.n_outputs)),
                "df": np.full((n_experts, self.n_outputs), DF_START)}

    def to_free(self, params):
        return {"log_var": np.log(params["var"]), "log_df": np.log(params["df"])}

    def from_free(self, free):
        out = super().from_free(free)
        out["df"] = np.clip(np.exp(free["log_df"]), DF_MIN, DF_MAX)
        return out

    def free_lower_bounds(self, n_experts):
        return {**super().free_lower_bounds(n_experts),
                "log_df": np.full((n_experts, self.n_outputs), np.log(DF_MIN))}

    def free_upper_bounds(self, n_experts):
        return {**super().free_upper_bounds(n_experts),
                "log_df": np.full((n_experts, self.n_outputs), np.log(DF_MAX))}

    def penalty_grad(self, params):
        return {**super().penalty_grad(params), "log_df": np.zeros_like(params["df"])}

    def zero_grads(self, params):
        return {"log_var": np.zeros_like(params["var"]), "log_df": np.zeros_like(params["df"])}

    def derivatives(self, diff, var, df):
        """Of ``log t`` at residuals ``diff``: ``d/d mu``, ``d/d log s2``, ``d/d log nu``.

        ``diff`` ``(..., m)`` broadcasts against ``var``/``df``. With
        ``delta = diff^2 / s2`` and ``u = (nu + 1) / (nu + delta)`` (the latent
        scale's posterior mean): ``u diff / s2``, ``(u delta - 1) / 2`` and
        ``nu/2 [psi((nu+1)/2) - psi(nu/2) - 1/nu - log1p(delta/nu) + u delta / nu]``.
        """
        delta = diff * diff / var
        u = (df + 1.0) / (df + delta)
        d_mu = u * diff / var
        d_log_var = 0.5 * (u * delta - 1.0)
        d_log_df = 0.5 * df * (digamma(0.5 * (df + 1.0)) - digamma(0.5 * df) - 1.0 / df
                               - np.log1p(delta / df) + u * delta / df)
        return d_mu, d_log_var, d_log_df

    def slot_loglik(self, params, out, target, sel):
        """``log p_sel[i,j](y_i)`` ``(n, s)`` from the slot locations ``(n, s, m)``."""
        var, df = params["var"][sel], params["df"][sel]  # (n, s, m)
        delta = (target[:, None, :] - out) ** 2 / var
        lc = student_log_const(var, df)
        return np.sum(lc - 0.5 * (df + 1.0) * np.log1p(delta / df), axis=2)

    def slot_grad(self, params, out, target, sel, soft):
        """``d/d out`` ``(n, s, m)`` and the head's gradients of ``sum v log t``."""
        n_experts, m = params["var"].shape
        d_mu, d_lv, d_ldf = self.derivatives(target[:, None, :] - out, params["var"][sel],
                                             params["df"][sel])
        w = soft[:, :, None]
        flat_sel = sel.ravel()
        grads = {"log_var": np.empty((n_experts, m)), "log_df": np.empty((n_experts, m))}
        for key, d in (("log_var", d_lv), ("log_df", d_ldf)):
            for o in range(m):
                grads[key][:, o] = np.bincount(flat_sel, weights=(w * d)[:, :, o].ravel(),
                                               minlength=n_experts)
        return w * d_mu, grads

    def output_grad(self, params, out, target, soft_weight):
        """``d/d out`` ``(n, K, m)`` and the head's gradients of ``sum v log t`` (dense)."""
        var, df = params["var"], params["df"]
        n, (K, m) = out.shape[0], var.shape
        d_mu, d_lv, d_ldf = self.derivatives(target[:, None, :] - out.reshape(n, K, m), var, df)
        w = soft_weight[:, :, None]
        return w * d_mu, {"log_var": (w * d_lv).sum(axis=0), "log_df": (w * d_ldf).sum(axis=0)}

    def export(self, params, target):
        """``expert_var_`` (squared scales, units of ``y``) and ``expert_df_``."""
        out = super().export(params, target)
        df = params["df"]
        out["expert_df_"] = df[:, 0].copy() if target.squeeze else df.copy()
        return out
