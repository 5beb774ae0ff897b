"""The penalised mixture log-likelihood as a function of packed parameters.

This is the objective the gradient solvers minimise (issue 4): the negative of
what EM maximises, per unit weight,

    f(theta) = -(sum_i w_i log p(y_i | x_i) - penalty(theta)) / sum_i w_i

with the same penalties as EM (``gate_alpha/2 ||W_g[:, 1:]||^2``; Gaussian
experts ``alpha/(2 s2_kj) ||A_kj[1:]||^2``; logistic experts
``alpha/2 ||B_k[:, 1:]||^2``), so both fitting routes share one optimum.

Packing convention: one float64 vector, in this order, each block C-ordered:

1. the gate, ``(n_experts, p)``, intercept in column 0;
2. the experts' blocks in the family's ``grad_keys`` order: for Gaussian
   experts ``coef`` ``(K, m, q)`` then ``log_var`` ``(K, m)`` (the variance
   is optimised in log space, so it stays positive); for categorical experts
   ``coef`` ``(K, C, q)``.

The gradient is exact: the E-step kernel gives responsibilities ``r_ik`` and
the gate residual ``w_i (r_ik - g_ik)``, and the derivative of
``log p(y_i | x_i)`` with respect to expert ``k``'s parameters is ``r_ik``
times that of ``log p_k(y_i | x_i)`` (``family.loglik_grad``).
"""

from typing import NamedTuple

import numpy as np

from ._gate import gate_logits, gate_penalty
from ._passes import evaluate


class BatchStats(NamedTuple):
    """What one mini-batch gradient returns besides the gradient.

    ``ll``: ``sum_i w_i log p(y_i | x_i)`` over the batch (before the step);
    ``weight``: ``sum_i w_i``; ``load``: ``sum_i w_i r_ik`` per expert;
    ``extra``: extra loss terms of the batch (the sparse model's load
    balancing), per unit weight.
    """

    ll: float
    weight: float
    load: np.ndarray
    extra: float


class PackedParameters:
    """Packing of ``{"gate", <gate-like blocks>, "experts"}`` into one vector.

    Shared by the dense objective (:class:`MixtureObjective`, gate blocks
    ``("gate",)``) and the sparse one (``skmoe._sparse.SparseObjective``,
    which adds the noise weights ``"noise"`` when trained with noise).
    Subclasses set ``family`` and ``gate_alpha`` and may override
    :meth:`gate_keys`; every gate-like block is an ``(n_experts, p)``
    matrix penalised like the gate.
    """

    _layout = None

    def gate_keys(self):
        """Keys of the gate-like blocks, packed first, in this order."""
        return ("gate",)

    def layout(self, like):
        """``[(key, shape, slice)]`` of the packed blocks for parameters like ``like``."""
        if self._layout is None:
            blocks = [(key, like[key].shape) for key in self.gate_keys()]
            free = self.family.to_free(like["experts"])
            blocks += [(key, free[key].shape) for key in self.family.grad_keys]
            layout, pos = [], 0
            for key, shape in blocks:
                size = int(np.prod(shape))
                layout.append((key, shape, slice(pos, pos + size)))
                pos += size
            self._layout = layout
            self.size = pos
        return self._layout

    def pack(self, params):
        """Parameter dict (EM layout) -> vector."""
        free = self.family.to_free(params["experts"])
        parts = [params[key].ravel() for key in self.gate_keys()]
        parts += [free[key].ravel() for key in self.family.grad_keys]
        return np.concatenate(parts)

    def unpack(self, theta, like, copy=True):
        """Vector -> parameter dict with the shapes of ``like``.

        With ``copy=False`` the blocks are views into ``theta`` (the caller
        must not modify ``theta`` while using them). Entries of ``like`` that
        are not packed (e.g. fixed noise weights) are passed through.
        """
        blocks = {key: theta[sl].reshape(shape) for key, shape, sl in self.layout(like)}
        if copy:
            blocks = {key: value.copy() for key, value in blocks.items()}
        params = {key: blocks.pop(key) for key in self.gate_keys()}
        for key, value in like.items():
            if key not in params and key != "experts":
                params[key] = value
        params["experts"] = self.family.from_free(blocks)
        return params

    def bounds(self, like):
        """Packed ``(lower, upper)`` bounds; each None when there are none."""
        out = []
        for bounds, fill in [(self.family.free_lower_bounds(), -np.inf),
                             (self.family.free_upper_bounds(), np.inf)]:
            if not bounds:
                out.append(None)
                continue
            arr = np.full(self.pack(like).shape[0], fill)
            for key, shape, sl in self.layout(like):
                if key in bounds:
                    arr[sl] = np.broadcast_to(bounds[key], shape).ravel()
            out.append(arr)
        return tuple(out)

    def penalty(self, params):
        """The penalty of ``params`` (gate-like blocks and experts)."""
        pen = sum(gate_penalty(params[key], self.gate_alpha) for key in self.gate_keys())
        return pen + self.family.penalty(params["experts"])


class MixtureObjective(PackedParameters):
    """Value and exact gradient of the penalised mean negative log-likelihood.

    Parameters
    ----------
    design : Design or None
        Standardised data (the full data); None when only mini-batches are
        evaluated (:meth:`batch_grad`).
    family : ExpertFamily
        Must implement ``grad_keys``, ``to_free``, ``from_free``,
        ``loglik_grad`` and ``penalty_grad``.
    gate_alpha : float
    total_weight : float or None
        Divides the penalty (and the full-data objective);
        ``design.total_weight`` when None. Mini-batch objectives divide the
        batch's log-likelihood by the batch weight and the penalty by this,
        so that they are unbiased estimates of the full objective.
    """

    def __init__(self, design, family, gate_alpha, total_weight=None):
        self.design = design
        self.family = family
        self.gate_alpha = float(gate_alpha)
        if total_weight is None:
            total_weight = design.total_weight
        self.total_weight = float(total_weight)

    # -- value and gradient ------------------------------------------------

    def _accumulate(self, params, Xc, target_c, w, grad_gate, grad_free):
        """Add one chunk's log-likelihood gradient.

        Returns the chunk's weighted log-likelihood and its expert weights
        ``sum_i w_i r_ik``.
        """
        family = self.family
        logits = gate_logits(Xc, params["gate"])
        resp = np.empty_like(logits)
        log_norm = np.empty(logits.shape[0])
        resid = np.empty_like(logits)
        gate_q = np.empty(logits.shape[0])
        forward = family.estep_chunk(
            params["experts"], Xc, target_c, w, logits, resp, log_norm, resid, gate_q
        )
        grad_gate += resid.T @ Xc
        resp *= w[:, None]
        part = family.loglik_grad(params["experts"], Xc, target_c, resp, forward)
        for key in family.grad_keys:
            if key in grad_free:
                grad_free[key] += part[key]
            else:
                grad_free[key] = part[key]
        return float(np.dot(w, log_norm)), resp.sum(axis=0)

    def _finish_grad(self, params, grad_gate, grad_free, ll_scale):
        """Gradient of ``-(ll * ll_scale) + penalty / total_weight`` as a dict."""
        family, gate = self.family, params["gate"]
        pen_scale = 1.0 / self.total_weight
        grads = {"gate": -ll_scale * grad_gate}
        grads["gate"][:, 1:] += (pen_scale * self.gate_alpha) * gate[:, 1:]
        pen_grad = family.penalty_grad(params["experts"])
        for key in family.grad_keys:
            grads[key] = pen_scale * pen_grad[key] - ll_scale * grad_free[key]
        return grads

    def value_and_grad(self, params):
        """``(f, grad, mean log-likelihood)`` on the full design.

        ``grad`` is a dict in the packed blocks' shapes.
        """
        design, family = self.design, self.family
        gate = params["gate"]
        K = gate.shape[0]
        grad_gate = np.zeros_like(gate)
        grad_free = {}
        total_ll = 0.0
        for sl in design.chunks(K * family.width + design.n_columns):
            total_ll += self._accumulate(
                params, design.X1[sl], design.target[sl], design.weight[sl], grad_gate,
                grad_free,
            )[0]
        penalty = gate_penalty(gate, self.gate_alpha) + family.penalty(params["experts"])
        value = -(total_ll - penalty) / self.total_weight
        grads = self._finish_grad(params, grad_gate, grad_free, 1.0 / self.total_weight)
        return value, grads, total_ll / self.total_weight

    def _flatten(self, grads, like, out=None):
        if out is None:
            out = np.empty(self.size)
        for key, _, sl in self.layout(like):
            out[sl] = grads[key].ravel()
        return out

    def value_and_grad_packed(self, theta, like):
        """``(f, gradient vector, mean log-likelihood)`` at packed ``theta``."""
        params = self.unpack(theta, like)
        value, grads, mean_ll = self.value_and_grad(params)
        return value, self._flatten(grads, like), mean_ll

    def batch_grad(self, theta, like, X1b, target_b, weight_b, out):
        """Gradient of one mini-batch's objective into ``out``; a :class:`BatchStats`.

        The mini-batch objective is ``-(sum_b w_i log p(y_i | x_i)) / sum_b
        w_i + penalty / total_weight``, an unbiased estimate of the full
        objective under uniform sampling of rows.
        """
        params = self.unpack(theta, like, copy=False)
        grad_gate = np.zeros_like(params["gate"])
        grad_free = {}
        ll, load = self._accumulate(params, X1b, target_b, weight_b, grad_gate, grad_free)
        weight = float(weight_b.sum())
        grads = self._finish_grad(params, grad_gate, grad_free, 1.0 / weight)
        self._flatten(grads, like, out)
        return BatchStats(ll, weight, load, 0.0)

    def evaluate(self, design, params):
        """Exact mean log-likelihood, objective and expert weights (a ``FitResult``)."""
        return evaluate(design, self.family, params, self.gate_alpha)
