"""One-hidden-layer experts (``expert="mlp"``), fitted by the gradient solvers only.

Expert ``k`` maps the standardised design row ``x`` (intercept in column 0)
to ``o`` outputs through one hidden layer of ``h`` ``tanh`` units:

    a_k(x) = tanh(W1_k x)                  W1_k: (h, p), column 0 the bias
    out_k(x) = W2_k [1, a_k(x)]            W2_k: (o, h + 1), column 0 the bias

``tanh`` rather than ReLU: the objective is then smooth, which L-BFGS (the
default solver of dense mlp experts) needs for its line search and curvature
pairs.

* Gaussian output (regressor): ``out_k`` is the mean of ``N(y; out_k(x),
  diag(s2_k))`` with one learned variance per expert and output, optimised as
  ``log s2`` and floored like the linear experts' variances.
* Softmax output (classifier): ``out_k`` are class logits.

Penalty: ``alpha / 2 * (||W1_k[:, 1:]||^2 + ||W2_k[:, 1:]||^2)`` summed over
experts (weights, not biases), as ``MLPRegressor``'s ``alpha`` acts on the
summed (not averaged) loss.

There is no closed-form M-step, so EM does not apply; ``mstep`` is absent and
the estimators reject ``solver="em"`` for these experts. Hidden activations
are ``(rows, n_experts * hidden)`` per chunk, never ``(rows, experts,
features)``: the first layer of every expert is one BLAS product.
"""

import numpy as np

from .. import _kernels
from .._data import PARALLEL_MIN_CELLS
from .._threads import threaded
from ._base import ExpertFamily
from ._gaussian import _LOG_2PI, LOG_VAR_MAX, solve_ridge
from ._slots import (
    categorical_slot_dout,
    categorical_slot_loglik,
    gaussian_slot_dout,
    gaussian_slot_loglik,
)

#: Hidden layers are large enough for the threaded kernels from this many
#: row x expert x hidden cells on.
_PARALLEL_MIN_HIDDEN_CELLS = 1 << 18


class MLPExperts(ExpertFamily):
    """``n_experts`` one-hidden-layer networks with Gaussian or softmax output.

    Parameters
    ----------
    n_experts : int
    hidden : int
        Hidden units per expert.
    output : {"gaussian", "categorical"}
    n_outputs : int
        Outputs ``m`` (Gaussian) or classes ``C`` (categorical).
    alpha : float
        L2 penalty on the weights (not the biases).
    var_floor : ndarray of shape (n_outputs,) or None
        Variance floor (Gaussian output).
    """

    linear = True
    iterative = False
    #: Ridge (per unit of an expert's weight) of the output layer's starting
    #: fit, set by the estimator for its solver. L-BFGS does best from the
    #: closest fit (1e-6: on a 3-regime sin/linear curve it started at a mean
    #: log-likelihood of 0.83 and converged to 0.85 in 29 iterations, against
    #: 0.77 unconverged after 200 from 0.1); Adam's fixed-size steps need
    #: well-conditioned output weights (from the 1e-6 start, lr=1e-2 fell to
    #: 0.70; from 0.1 it reached 0.74-0.80).

    def __init__(self, n_experts, hidden, output, n_outputs, alpha, var_floor=None):
        self.n_experts = n_experts
        self.hidden = int(hidden)
        self.output = output
        self.kind = output
        self.n_out = int(n_outputs)
        self.n_outputs = self.n_out
        self.n_classes = self.n_out
        self.alpha = float(alpha)
        self.var_floor = None if var_floor is None else np.asarray(var_floor, dtype=float)
        #: columns per expert in the temporaries of a chunk
        self.width = self.hidden + self.n_out
        self.grad_keys = ("W1", "W2", "log_var") if output == "gaussian" else ("W1", "W2")
        self._cache = None

    def n_free_params(self, n_features):
        h, o = self.hidden, self.n_out
        per_expert = h * (n_features + 1) + o * (h + 1)
        if self.output == "gaussian":
            per_expert += o
        return self.n_experts * per_expert

    # -- forward ------------------------------------------------------------

    def _hidden(self, params, X1):
        W1 = params["W1"]
        K, h, p = W1.shape
        H = X1 @ W1.reshape(K * h, p).T
        np.tanh(H, out=H)
        return H

    def forward(self, params, X1, reuse=False):
        """Hidden activations ``(n, K*h)`` and outputs ``(n, K*o)``.

        ``reuse=True`` returns the activations of the previous call when it
        was on the same arrays (the E-step's forward pass, reused by the
        gradient of the same chunk); otherwise they are computed afresh.
        """
        cache = self._cache
        if reuse and cache is not None and cache[0] is X1 and cache[1] is params["W1"] and (
            cache[2] is params["W2"]
        ):
            return cache[3], cache[4]
        H = self._hidden(params, X1)
        out = np.empty((X1.shape[0], self.n_experts * self.n_out))
        big = threaded(H.size >= _PARALLEL_MIN_HIDDEN_CELLS)
        kernel = _kernels.mlp_output_rows_parallel if big else _kernels.mlp_output_rows
        kernel(H, params["W2"], out)
        self._cache = (X1, params["W1"], params["W2"], H, out)
        return H, out

    def means(self, params, X1):
        """Expert means ``(n_samples, n_experts * n_outputs)``, expert-major."""
        return self.forward(params, X1)[1]

    def logits(self, params, X1):
        """Expert class logits ``(n_samples, n_experts * n_classes)``."""
        return self.forward(params, X1)[1]

    def log_proba(self, params, X1):
        """Expert log class probabilities ``(n_samples, n_experts, n_classes)``."""
        logits = self.logits(params, X1)
        n = logits.shape[0]
        flat = logits.reshape(n * self.n_experts, self.n_out)
        out = np.empty_like(flat)
        _kernels.log_softmax_rows(flat, out)
        return out.reshape(n, self.n_experts, self.n_out)

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):
        _, out = self.forward(params, X1c)
        parallel = threaded(X1c.shape[0] * self.n_experts >= PARALLEL_MIN_CELLS)
        if self.output == "gaussian":
            var = params["var"]
            log_const = -0.5 * np.sum(np.log(var) + _LOG_2PI, axis=1)
            kernel = (
                _kernels.estep_gaussian_rows_parallel
                if parallel
                else _kernels.estep_gaussian_rows
            )
            kernel(logits, out, target_c, 1.0 / var, log_const, weight_c, resp, log_norm,
                   gate_resid, gate_q)
        else:
            kernel = (
                _kernels.estep_categorical_rows_parallel
                if parallel
                else _kernels.estep_categorical_rows
            )
            kernel(logits, out, target_c, self.n_out, 0.0, weight_c, resp, log_norm,
                   gate_resid, gate_q)

    # -- gradient -----------------------------------------------------------

    def to_free(self, params):
        free = {"W1": params["W1"], "W2": params["W2"]}
        if self.output == "gaussian":
            free["log_var"] = np.log(params["var"])
        return free

    def from_free(self, free):
        params = {"W1": free["W1"], "W2": free["W2"]}
        if self.output == "gaussian":
            params["var"] = np.maximum(
                np.exp(np.minimum(free["log_var"], LOG_VAR_MAX)), self.var_floor
            )
        return params

    def free_lower_bounds(self):
        """Lower bounds of the free parameters (``-inf`` where unbounded)."""
        if self.output != "gaussian":
            return {}
        return {"log_var": np.broadcast_to(np.log(self.var_floor), (self.n_experts, self.n_out))}

    def free_upper_bounds(self):
        if self.output != "gaussian":
            return {}
        return {"log_var": np.full((self.n_experts, self.n_out), LOG_VAR_MAX)}

    def loglik_grad(self, params, X1c, target_c, soft_weight):
        """Gradient of ``sum_i sum_k v_ik log p_k(y_i | x_i)`` in the free parameters."""
        K, o = self.n_experts, self.n_out
        n = X1c.shape[0]
        H, out = self.forward(params, X1c, reuse=True)
        self._cache = None
        grads = {}
        if self.output == "gaussian":
            var = params["var"]
            diff = target_c[:, None, :] - out.reshape(n, K, o)
            dout = soft_weight[:, :, None] * diff / var
            grads["log_var"] = 0.5 * (
                np.einsum("nk,nko->ko", soft_weight, diff * diff) / var
                - soft_weight.sum(axis=0)[:, None]
            )
        else:
            prob = np.empty((n * K, o))
            _kernels.softmax_rows(out.reshape(n * K, o), prob)
            dout = -prob.reshape(n, K, o)
            dout[np.arange(n), :, target_c] += 1.0
            dout *= soft_weight[:, :, None]
        dout = np.ascontiguousarray(dout.reshape(n, K * o))
        grad_W2 = np.zeros_like(params["W2"])
        dZ = np.empty_like(H)
        big = threaded(H.size >= _PARALLEL_MIN_HIDDEN_CELLS)
        kernel = _kernels.mlp_backward_rows_parallel if big else _kernels.mlp_backward_rows
        kernel(H, params["W2"], dout, grad_W2, dZ)
        W1 = params["W1"]
        grads["W1"] = (dZ.T @ X1c).reshape(W1.shape)
        grads["W2"] = grad_W2
        return grads

    def penalty(self, params):
        if self.alpha == 0.0:
            return 0.0
        return 0.5 * self.alpha * float(
            np.sum(params["W1"][:, :, 1:] ** 2) + np.sum(params["W2"][:, :, 1:] ** 2)
        )

    def penalty_grad(self, params):
        grads = {}
        for key in ("W1", "W2"):
            g = np.zeros_like(params[key])
            if self.alpha > 0.0:
                g[:, :, 1:] = self.alpha * params[key][:, :, 1:]
            grads[key] = g
        if self.output == "gaussian":
            grads["log_var"] = np.zeros_like(params["var"])
        return grads

    # -- initialisation -----------------------------------------------------

    def init_params(self, design, resp, rng, ridge=1e-6):
        """Parameters from starting responsibilities ``(n, K)``.

        Hidden weights are random (``N(0, 1/p)``: standardised inputs give
        pre-activations of unit scale, in ``tanh``'s responsive range); the
        output layer of each expert is then fitted to its responsibility-
        weighted data on those random features (ridge for Gaussian output,
        class log-frequencies for softmax), so every expert starts as a
        sensible fit of its share of the data.
        """
        K, h, o = self.n_experts, self.hidden, self.n_out
        p = design.n_columns
        W1 = rng.normal(scale=1.0 / np.sqrt(p), size=(K, h, p))
        W1[:, :, 0] = rng.normal(scale=0.1, size=(K, h))
        W2 = np.zeros((K, o, h + 1))
        params = {"W1": W1, "W2": W2}
        if self.output == "gaussian":
            params["var"] = np.ones((K, o))
        self._cache = None
        H = self._hidden(params, design.X1)
        total = design.total_weight
        for k in range(K):
            v = design.weight * resp[:, k]
            nk = max(v.sum(), 1e-12 * total)
            if self.output == "gaussian":
                F = np.empty((design.n_samples, h + 1))
                F[:, 0] = 1.0
                F[:, 1:] = H[:, k * h : (k + 1) * h]
                gram = (F * v[:, None]).T @ F
                rhs = (F * v[:, None]).T @ design.target
                sol = solve_ridge(gram, rhs, max(self.alpha, ridge * nk))  # (h + 1, o)
                W2[k] = sol.T
                resid = design.target - F @ sol
                params["var"][k] = np.maximum(v @ (resid * resid) / nk, self.var_floor)
            else:
                counts = np.bincount(design.target, weights=v, minlength=o) + 1e-3 * nk / o
                logp = np.log(counts / counts.sum())
                W2[k, :, 0] = logp - logp.mean()
        return params

    # -- sparse routing: experts evaluated on their own rows only ------------

    def slot_outputs(self, params, X1, sel):
        """Outputs of the experts ``sel`` ``(n, s)`` only: ``(n, s, o)``.

        The (row, slot) pairs are grouped by expert (a counting sort); each
        expert then runs its two layers on its own rows with BLAS, so the
        cost is that of ``s`` experts per row, whatever the number of
        experts. The groups and hidden activations are kept for
        :meth:`slot_grad` on the same arrays.
        """
        n, s = sel.shape
        K, o = self.n_experts, self.n_out
        order = np.empty(n * s, dtype=np.int64)
        offsets = np.empty(K + 1, dtype=np.int64)
        _kernels.group_by_expert(sel, K, order, offsets)
        W1, W2 = params["W1"], params["W2"]
        out = np.empty((n * s, o))
        groups = []
        for e in range(K):
            pos = order[offsets[e] : offsets[e + 1]]
            if pos.size == 0:
                continue
            Xe = X1[pos // s]
            He = Xe @ W1[e].T
            np.tanh(He, out=He)
            out[pos] = He @ W2[e, :, 1:].T + W2[e, :, 0]
            groups.append((e, pos, Xe, He))
        self._slot_cache = (X1, sel, W1, W2, groups)
        return out.reshape(n, s, o)

    def slot_loglik(self, params, out, target, sel):
        if self.output == "gaussian":
            return gaussian_slot_loglik(out, target, sel, params["var"])
        return categorical_slot_loglik(out, target)

    def slot_grad(self, params, X1, target, sel, out, soft):
        cache = self._slot_cache
        if not (cache is not None and cache[0] is X1 and cache[1] is sel
                and cache[2] is params["W1"] and cache[3] is params["W2"]):
            self.slot_outputs(params, X1, sel)
            cache = self._slot_cache
        self._slot_cache = None
        grads = {}
        if self.output == "gaussian":
            dout, grads["log_var"] = gaussian_slot_dout(out, target, sel, params["var"], soft)
        else:
            dout = categorical_slot_dout(out, target, soft)
        dout = dout.reshape(-1, self.n_out)
        W2 = params["W2"]
        grad_W1 = np.zeros_like(params["W1"])
        grad_W2 = np.zeros_like(W2)
        for e, pos, Xe, He in cache[4]:
            d = dout[pos]
            grad_W2[e, :, 0] = d.sum(axis=0)
            grad_W2[e, :, 1:] = d.T @ He
            dZ = d @ W2[e, :, 1:]
            dZ *= 1.0 - He * He
            grad_W1[e] = dZ.T @ Xe
        grads["W1"] = grad_W1
        grads["W2"] = grad_W2
        return grads
