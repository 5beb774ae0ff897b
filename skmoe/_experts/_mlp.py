"""One-hidden-layer experts (``expert="mlp"``), fitted by the gradient solvers only.

Expert ``k`` maps the standardised design row ``x`` (intercept in column 0)
to ``o`` outputs through one hidden layer of ``h`` ``tanh`` units:

    a_k(x) = tanh(W1_k x)                  W1_k: (h, p), column 0 the bias
    out_k(x) = W2_k [1, a_k(x)]            W2_k: (o, h + 1), column 0 the bias

``tanh`` rather than ReLU: the objective is then smooth, which L-BFGS (the
default solver of dense mlp experts) needs for its line search and curvature
pairs.

The likelihood is the family's head (``_heads``):

* Gaussian head (regressor): ``out_k`` is the mean of ``N(y; out_k(x),
  diag(s2_k))`` with one learned variance per expert and output, optimised as
  ``log s2`` and floored like the linear experts' variances.
* Categorical head (classifier): ``out_k`` are class logits.

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
from .._threads import PARALLEL_MIN_HIDDEN_CELLS, threaded
from ._base import ExpertFamily
from ._gaussian import solve_ridge
from ._heads import GaussianHead

#: Ridge (per unit of an expert's weight) of the output layer's starting fit
#: (``init_params``'s default, after the proxy start of L-BFGS) and of the
#: flat start (Adam's fixed-size steps need well-conditioned output weights):
#: measured in ``benchmarks/README.md``, "Measurements behind constants in the code".
INIT_RIDGE = 1e-6
ADAM_INIT_RIDGE = 0.1


class MLPExperts(ExpertFamily):
    """``n_experts`` one-hidden-layer networks under a likelihood head.

    Parameters
    ----------
    n_experts : int
    hidden : int
        Hidden units per expert.
    head : GaussianHead or CategoricalHead
        The likelihood; its ``n_out`` outputs per expert (means or logits).
    alpha : float
        L2 penalty on the weights (not the biases).
    """

    linear = True
    iterative = False

    def __init__(self, n_experts, hidden, head, alpha):
        self.n_experts = n_experts
        self.hidden = int(hidden)
        self.head = head
        self.alpha = float(alpha)
        self.grad_keys = ("W1", "W2", *head.grad_keys)

    @property
    def width(self):
        """Columns per expert in the temporaries of a chunk."""
        return self.hidden + self.head.n_out

    def n_free_params(self, n_features):
        h, o = self.hidden, self.head.n_out
        per_expert = h * (n_features + 1) + o * (h + 1) + self.head.n_free_params()
        return self.n_experts * per_expert

    # -- forward ------------------------------------------------------------

    def _hidden(self, params, X1):
        W1 = params["W1"]
        K, h, p = W1.shape
        H = X1 @ W1.reshape(K * h, p).T
        np.tanh(H, out=H)
        return H

    def forward(self, params, X1):
        """Hidden activations ``(n, K*h)`` and outputs ``(n, K*o)``."""
        H = self._hidden(params, X1)
        out = np.empty((X1.shape[0], self.n_experts * self.head.n_out))
        big = threaded(H.size, PARALLEL_MIN_HIDDEN_CELLS)
        kernel = _kernels.mlp_output_rows_parallel if big else _kernels.mlp_output_rows
        kernel(H, params["W2"], out)
        return H, out

    def means(self, params, X1):
        """Expert means ``(n_samples, n_experts * n_outputs)``, expert-major (Gaussian head)."""
        return self.forward(params, X1)[1]

    def logits(self, params, X1):
        """Expert class logits ``(n_samples, n_experts * n_classes)`` (categorical head)."""
        return self.forward(params, X1)[1]

    def log_proba(self, params, X1):
        """Expert log class probabilities ``(n_samples, n_experts, n_classes)``."""
        return self.head.log_proba(self.logits(params, X1), self.n_experts)

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):
        """Fused E-step; returns the forward pass ``(H, out)`` for :meth:`loglik_grad`."""
        forward = self.forward(params, X1c)
        self.head.estep(params, forward[1], target_c, logits, weight_c, resp, log_norm,
                        gate_resid, gate_q)
        return forward

    # -- gradient -----------------------------------------------------------

    def to_free(self, params):
        return {"W1": params["W1"], "W2": params["W2"], **self.head.to_free(params)}

    def from_free(self, free):
        return {"W1": free["W1"], "W2": free["W2"], **self.head.from_free(free)}

    def free_lower_bounds(self):
        """Lower bounds of the free parameters (``-inf`` where unbounded)."""
        return self.head.free_lower_bounds(self.n_experts)

    def free_upper_bounds(self):
        return self.head.free_upper_bounds(self.n_experts)

    def loglik_grad(self, params, X1c, target_c, soft_weight, forward=None):
        """Gradient of ``sum_i sum_k v_ik log p_k(y_i | x_i)`` in the free parameters.

        ``forward``: the ``(H, out)`` :meth:`estep_chunk` returned for this
        chunk (computed afresh when None).
        """
        K, o = self.n_experts, self.head.n_out
        n = X1c.shape[0]
        H, out = self.forward(params, X1c) if forward is None else forward
        dout, grads = self.head.output_grad(params, out, target_c, soft_weight)
        dout = np.ascontiguousarray(dout.reshape(n, K * o))
        grad_W2 = np.zeros_like(params["W2"])
        dZ = np.empty_like(H)
        big = threaded(H.size, PARALLEL_MIN_HIDDEN_CELLS)
        kernel = _kernels.mlp_backward_rows_parallel if big else _kernels.mlp_backward_rows
        kernel(H, params["W2"], dout, grad_W2, dZ)
        W1 = params["W1"]
        grads["W1"] = (dZ.T @ X1c).reshape(W1.shape)
        grads["W2"] = grad_W2
        return grads

    def penalty(self, params):
        """``alpha/2`` times the squared weights (not biases), plus the head's prior."""
        pen = self.head.penalty(params)
        if self.alpha == 0.0:
            return pen
        return pen + 0.5 * self.alpha * float(
            np.sum(params["W1"][:, :, 1:] ** 2) + np.sum(params["W2"][:, :, 1:] ** 2)
        )

    def penalty_grad(self, params):
        grads = {}
        for key in ("W1", "W2"):
            g = np.zeros_like(params[key])
            if self.alpha > 0.0:
                g[:, :, 1:] = self.alpha * params[key][:, :, 1:]
            grads[key] = g
        grads.update(self.head.penalty_grad(params))
        return grads

    # -- initialisation -----------------------------------------------------

    def init_params(self, design, resp, rng, ridge=None):
        """Parameters from starting responsibilities ``(n, K)``.

        Hidden weights are random (``N(0, 1/p)``: standardised inputs give
        pre-activations of unit scale, in ``tanh``'s responsive range); the
        output layer of each expert is then fitted to its responsibility-
        weighted data on those random features (ridge ``max(alpha, ridge *
        N_k)`` for the Gaussian head, ``ridge`` defaulting to
        ``INIT_RIDGE``; class log-frequencies for the categorical head), so
        every expert starts as a sensible fit of its share of the data.
        """
        ridge = INIT_RIDGE if ridge is None else float(ridge)
        K, h, o = self.n_experts, self.hidden, self.head.n_out
        gaussian = isinstance(self.head, GaussianHead)
        p = design.n_columns
        W1 = rng.normal(scale=1.0 / np.sqrt(p), size=(K, h, p))
        W1[:, :, 0] = rng.normal(scale=0.1, size=(K, h))
        W2 = np.zeros((K, o, h + 1))
        params = {"W1": W1, "W2": W2, **self.head.start_params(K)}
        H = self._hidden(params, design.X1)
        total = design.total_weight
        for k in range(K):
            v = design.weight * resp[:, k]
            nk = max(v.sum(), 1e-12 * total)
            if gaussian:
                F = np.empty((design.n_samples, h + 1))
                F[:, 0] = 1.0
                F[:, 1:] = H[:, k * h : (k + 1) * h]
                gram = (F * v[:, None]).T @ F
                rhs = (F * v[:, None]).T @ design.target
                sol = solve_ridge(gram, rhs, max(self.alpha, ridge * nk))  # (h + 1, o)
                W2[k] = sol.T
                resid = design.target - F @ sol
                params["var"][k] = self.head.posterior_var(v @ (resid * resid), nk)
            else:
                counts = np.bincount(design.target, weights=v, minlength=o) + 1e-3 * nk / o
                logp = np.log(counts / counts.sum())
                W2[k, :, 0] = logp - logp.mean()
        return params

    # -- sparse routing: experts evaluated on their own rows only ------------

    def slot_forward(self, params, X1, sel):
        """Outputs of the experts ``sel`` ``(n, s)`` only, ``(n, s, o)``, and the groups.

        The (row, slot) pairs are grouped by expert (a counting sort); each
        expert then runs its two layers on its own rows with BLAS, so the
        cost is that of ``s`` experts per row, whatever the number of
        experts. The groups and hidden activations (the second value) are
        what :meth:`slot_grad` back-propagates through.
        """
        n, s = sel.shape
        K, o = self.n_experts, self.head.n_out
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
        return out.reshape(n, s, o), groups

    def slot_outputs(self, params, X1, sel):
        """Outputs of the experts ``sel`` ``(n, s)`` only: ``(n, s, o)``."""
        return self.slot_forward(params, X1, sel)[0]

    def slot_grad(self, params, X1, target, sel, out, soft, forward=None):
        """Gradient of ``sum_ij soft_ij log p_sel[i,j](y_i | x_i)`` in the free parameters.

        ``forward``: the groups :meth:`slot_forward` returned with ``out``
        (recomputed when None).
        """
        groups = self.slot_forward(params, X1, sel)[1] if forward is None else forward
        dout, grads = self.head.slot_grad(params, out, target, sel, soft)
        dout = dout.reshape(-1, self.head.n_out)
        W2 = params["W2"]
        grad_W1 = np.zeros_like(params["W1"])
        grad_W2 = np.zeros_like(W2)
        for e, pos, Xe, He in groups:
            d = dout[pos]
            grad_W2[e, :, 0] = d.sum(axis=0)
            grad_W2[e, :, 1:] = d.T @ He
            dZ = d @ W2[e, :, 1:]
            dZ *= 1.0 - He * He
            grad_W1[e] = dZ.T @ Xe
        grads["W1"] = grad_W1
        grads["W2"] = grad_W2
        return grads
