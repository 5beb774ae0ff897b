"""Sparse top-k mixtures of experts (Shazeer et al. 2017): routing, objective, balance.

Prediction
----------
With ``top_k = k``, row ``x`` is routed to the ``k`` experts with the largest
gate logits ``h = W_g x`` (ties to the lower index) and

    p(y | x) = sum_{j in S_k(x)} softmax_{S_k(x)}(h)_j p_j(y | x),

so only ``k`` experts are evaluated per row.

Training objective (mini-batch Adam)
------------------------------------
With ``noisy_gating``, the logits that route a training row are
``H = h + eps * softplus(W_n x)`` with ``eps ~ N(0, 1)`` drawn afresh for
every row and step from the estimator's random generator, and learned noise
weights ``W_n``; without it ``H = h``. The loss of a mini-batch ``B`` is

    J = -(1 / W_B) sum_{i in B} w_i log sum_{j in S'(x_i)} softmax_{S'}(H_i)_j p_j(y_i | x_i)
        + penalty / W + load_balancing * (CV^2(importance) + CV^2(load)),

where ``S'(x)`` holds the ``k + 1`` largest routing logits ``H``.

**Why k + 1 experts in training.** The likelihood the model predicts with
renormalises the gate over the top ``k``; with ``k = 1`` the selected weight
is always 1 and the likelihood says nothing about the gate. Training on the
mixture of the top ``k + 1`` experts gives every ``k`` a gate signal: the
derivative with respect to the logit of a candidate ``j`` is ``w (r_j -
g_j)``, the difference between its posterior responsibility and its gate
probability among the ``k + 1``, which pushes up the experts that explain
the row better than the gate thinks (EM's gate update, restricted to the
candidates). The ``(k + 1)``-th expert is the challenger: training evaluates
``k + 1`` experts per row, prediction ``k``. (Scaling the chosen expert by
its unrenormalised gate probability, as the Switch Transformer does, only
reinforces the current choice under a mixture likelihood.)

**Load balancing** (Shazeer et al. 2017, eqs. 6-10), over the mini-batch:

* ``importance_e = sum_i w_i softmax(H_i)_e`` with the softmax over *all*
  experts (a one-hot top-1 weight would have no gradient);
* ``load_e = sum_i w_i Phi((h_ie - t_ie) / s_ie)``: the probability that
  expert ``e`` is among the top ``k`` under fresh noise, with ``t_ie`` the
  ``k``-th largest of the noisy logits ``H_i`` excluding ``e`` and ``s_ie =
  softplus(W_n x_i)_e`` the noise scale. Without noisy gating there is no
  noise scale; ``s = 1`` is used instead, a smooth count of how close each
  expert is to being chosen;
* ``CV^2(v) = var(v) / mean(v)^2`` over the experts (population variance).

``expert_load_`` reports, for a sparse model, the weighted mean of the
prediction gate (``k`` non-zeros per row) over the training data.

Gradients are exact away from ties of the logits (where the top-k set, and
so the objective, jumps).
"""

import numpy as np
from scipy.special import expit

from . import _kernels
from ._gate import gate_logits
from ._objective import BatchStats, PackedParameters
from ._result import FitResult
from ._threads import threaded

#: Added to the noise scale in the smooth load estimate.
NOISE_SCALE_FLOOR = 1e-6


def softplus(x):
    return np.logaddexp(0.0, x)


def route(X1, gate, k):
    """Prediction routing: ``sel`` ``(n, k)`` and renormalised gate ``(n, k)``."""
    logits = gate_logits(X1, gate)
    n = logits.shape[0]
    sel = np.empty((n, k), dtype=np.int64)
    g = np.empty((n, k))
    kernel = _kernels.route_rows_parallel if threaded(n) else _kernels.route_rows
    kernel(logits, k, sel, g)
    return sel, g


def sparse_log_norm(family, params, X1, target, k):
    """Per-row ``log p(y | x)`` of the top-k model, and the routed gate ``(sel, g)``."""
    sel, g = route(X1, params["gate"], k)
    out = family.slot_outputs(params["experts"], X1, sel)
    loglik = family.slot_loglik(params["experts"], out, target, sel)
    with np.errstate(divide="ignore"):
        joint = np.log(g) + loglik
    top = joint.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    log_norm = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
    return log_norm, sel, g


def dense_gate(sel, g, n_experts):
    """``(n, n_experts)`` gate with the routed weights and zeros elsewhere.

    Weights that underflow are kept at the smallest positive float, so a row
    has exactly ``k`` non-zeros.
    """
    out = np.zeros((sel.shape[0], n_experts))
    np.put_along_axis(out, sel, np.maximum(g, np.finfo(float).tiny), axis=1)
    return out


class SparseObjective(PackedParameters):
    """Mini-batch training objective of the sparse model (see the module docstring).

    Parameters
    ----------
    family : ExpertFamily
        With ``slot_outputs``, ``slot_loglik`` and ``slot_grad``.
    top_k : int
    noisy : bool
    load_balancing : float
    gate_alpha : float
        L2 penalty on the gate's and the noise weights' slopes.
    total_weight : float
        Divides the penalty (as in :class:`MixtureObjective`).
    rng : numpy.random.RandomState
        Draws the gate noise.
    """

    def __init__(self, family, top_k, noisy, load_balancing, gate_alpha, total_weight, rng):
        self.family = family
        self.top_k = int(top_k)
        self.noisy = bool(noisy)
        self.load_balancing = float(load_balancing)
        self.gate_alpha = float(gate_alpha)
        self.total_weight = float(total_weight)
        self.rng = rng

    # -- packing (gate, noise, experts): PackedParameters -------------------

    def gate_keys(self):
        return ("gate", "noise") if self.noisy else ("gate",)

    # -- one mini-batch ------------------------------------------------------

    def batch_value_and_grad(self, params, X1b, target_b, weight_b, eps):
        """``(J, grads dict, BatchStats)`` of one mini-batch with noise ``eps``.

        ``BatchStats.extra`` is the batch's load-balancing term.
        """
        family = self.family
        k, K = self.top_k, params["gate"].shape[0]
        n = X1b.shape[0]
        h = gate_logits(X1b, params["gate"])
        if self.noisy:
            nz = X1b @ params["noise"].T
            scale = softplus(nz)
            H = h + eps * scale
        else:
            H = h
        s = min(k + 1, K)
        sel = np.empty((n, s), dtype=np.int64)
        _kernels.topk_rows(H, s, sel)
        Hs = np.empty((n, s))
        _kernels.gather_rows(H, sel, Hs)
        out, forward = family.slot_forward(params["experts"], X1b, sel)
        loglik = family.slot_loglik(params["experts"], out, target_b, sel)
        # the challenger mixture over the top k + 1 ...
        resp = loglik.copy()
        log_norm = np.empty(n)
        resid = np.empty((n, s))
        _kernels.mix_rows(Hs, weight_b, resp, log_norm, resid, np.empty(n))
        wb = float(weight_b.sum())
        value = -float(weight_b @ log_norm) / wb
        if s > k:
            # ... plus the prediction mixture over the top k (the first k slots)
            resp_k = np.ascontiguousarray(loglik[:, :k])
            log_norm_k = np.empty(n)
            resid_k = np.empty((n, k))
            _kernels.mix_rows(np.ascontiguousarray(Hs[:, :k]), weight_b, resp_k, log_norm_k,
                              resid_k, np.empty(n))
            resp[:, :k] += resp_k
            resid[:, :k] += resid_k
            ll_sum = float(weight_b @ log_norm_k)
            value -= ll_sum / wb
        else:
            ll_sum = float(weight_b @ log_norm)
        soft = resp * weight_b[:, None]
        grad_free = family.slot_grad(params["experts"], X1b, target_b, sel, out, soft, forward)
        load = np.bincount(sel.ravel(), weights=soft.ravel(), minlength=K)

        # d J / d H from the likelihood: -(w (r - g)) / W_B on the candidates
        gH = np.zeros((n, K))
        np.put_along_axis(gH, sel, -resid / wb, axis=1)
        gh = np.zeros((n, K))
        gn = np.zeros((n, K)) if self.noisy else None
        balance = 0.0
        if self.load_balancing > 0.0 and K > 1:
            bal, bal_H, bal_h, bal_n = self._balance(
                h, H, sel, weight_b, nz if self.noisy else None, scale if self.noisy else None
            )
            value += self.load_balancing * bal
            balance = self.load_balancing * bal
            gH += self.load_balancing * bal_H
            gh += self.load_balancing * bal_h
            if self.noisy:
                gn += self.load_balancing * bal_n
        gh += gH
        if self.noisy:
            gn += gH * eps * expit(nz)
        pen_scale = 1.0 / self.total_weight
        grads = {"gate": gh.T @ X1b}
        grads["gate"][:, 1:] += pen_scale * self.gate_alpha * params["gate"][:, 1:]
        if self.noisy:
            grads["noise"] = gn.T @ X1b
            grads["noise"][:, 1:] += pen_scale * self.gate_alpha * params["noise"][:, 1:]
        pen_grad = family.penalty_grad(params["experts"])
        for key in family.grad_keys:
            grads[key] = pen_scale * pen_grad[key] - grad_free[key] / wb
        value += self.penalty(params) * pen_scale
        return value, grads, BatchStats(ll_sum, wb, load, balance)

    def _balance(self, h, H, sel, w, nz, scale):
        """``CV^2(importance) + CV^2(load)`` and its derivatives in ``H``, ``h``, ``n``.

        Two passes of Numba kernels over the rows (``balance_stats_rows``,
        ``balance_grad_rows``) around the ``K``-sized arithmetic here.
        """
        n, K = h.shape
        k = self.top_k
        # CV^2 is scale-free: normalised weights keep extreme sample_weight
        # scales from under/overflowing the squares below
        w = np.ascontiguousarray(w / w.sum())
        # a vanishing noise scale (softplus underflow) must not divide by zero
        s = scale + NOISE_SCALE_FLOOR if scale is not None else np.ones((n, K))
        q = np.empty((n, K))
        z = np.empty((n, K))
        importance = np.zeros(K)
        load = np.zeros(K)
        _kernels.balance_stats_rows(h, H, sel, w, s, k, q, z, importance, load)
        # importance: the full softmax of the routing logits; the weights sum to 1
        mean_imp = 1.0 / K
        cv_imp = np.mean((importance - mean_imp) ** 2) / mean_imp**2
        a = 2.0 * (importance - mean_imp) / (K * mean_imp**2)
        # load: P(e in top k under fresh noise)
        mean_load = load.mean()
        use_load = bool(mean_load > 1e-12)
        cv_load = 0.0
        c = np.zeros(K)
        if use_load:
            second = np.mean(load**2)
            cv_load = second / mean_load**2 - 1.0
            c = 2.0 / (K * mean_load**2) * (load - second / mean_load)
        grad_H = np.empty((n, K))
        grad_h = np.empty((n, K))
        _kernels.balance_grad_rows(q, z, sel, w, s, a, c, k, use_load, grad_H, grad_h)
        grad_n = -grad_h * z * expit(nz) if nz is not None else None
        return cv_imp + cv_load, grad_H, grad_h, grad_n

    def batch_grad(self, theta, like, X1b, target_b, weight_b, out):
        """Adam's interface (see :meth:`MixtureObjective.batch_grad`); draws the noise."""
        params = self.unpack(theta, like, copy=False)
        eps = None
        if self.noisy:
            eps = self.rng.standard_normal(size=(X1b.shape[0], params["gate"].shape[0]))
        _, grads, stats = self.batch_value_and_grad(params, X1b, target_b, weight_b, eps)
        for key, _, sl in self.layout(like):
            out[sl] = grads[key].ravel()
        return stats

    # -- the fitted model ------------------------------------------------------

    def evaluate(self, design, params, gate_alpha=None):
        """Exact top-k log-likelihood, objective and routed weight on ``design``."""
        K = params["gate"].shape[0]
        total_ll = 0.0
        weight = np.zeros(K)
        for sl in design.chunks(self.top_k * self.family.width + K + design.n_columns):
            log_norm, sel, g = sparse_log_norm(
                self.family, params, design.X1[sl], design.target[sl], self.top_k
            )
            w = design.weight[sl]
            total_ll += float(w @ log_norm)
            weight += np.bincount(sel.ravel(), weights=(g * w[:, None]).ravel(), minlength=K)
        ll = total_ll / design.total_weight
        obj = ll - self.penalty(params) / design.total_weight
        return FitResult(
            params=params, log_likelihood=ll, objective=obj, curve=[ll], objective_curve=[obj],
            n_iter=0, converged=True, expert_weight=weight,
            collapsed=np.zeros(K, dtype=bool),
        )
