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

