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

import numpy as np

from ._gate import gate_penalty


class MixtureObjective:
    """Value and exact gradient of the penalised mean negative log-likelihood.

    Parameters
    ----------
    design : Design
        Standardised data (the full data, or one mini-batch).
    family : ExpertFamily
        Must implement ``grad_keys``, ``to_free``, ``from_free``,
        ``loglik_grad`` and ``penalty_grad``.
    gate_alpha : float
    total_weight : float or None
        Divides the objective; ``design.total_weight`` when None (a
        mini-batch may pass the full data's weight to keep the penalty's
        scale).
    """

    def __init__(self, design, family, gate_alpha, total_weight=None):
        self.design = design
        self.family = family
        self.gate_alpha = float(gate_alpha)
        self.total_weight = design.total_weight if total_weight is None else total_weight

    # -- packing ------------------------------------------------------------

    def pack(self, params):
        """Parameter dict (EM layout) -> vector."""
        free = self.family.to_free(params["experts"])
        parts = [params["gate"].ravel()] + [free[k].ravel() for k in self.family.grad_keys]
        return np.concatenate(parts)

    def unpack(self, theta, like):
        """Vector -> parameter dict with the shapes of ``like``."""
        gate_shape = like["gate"].shape
        pos = int(np.prod(gate_shape))
        gate = theta[:pos].reshape(gate_shape)
        free_like = self.family.to_free(like["experts"])
        free = {}
        for key in self.family.grad_keys:
            size = free_like[key].size
            free[key] = theta[pos : pos + size].reshape(free_like[key].shape)
            pos += size
        return {"gate": gate.copy(), "experts": self.family.from_free(free)}

    # -- value and gradient ------------------------------------------------

    def value_and_grad(self, params):
        """``(f, grad)`` with ``grad`` a dict in the packed blocks' shapes."""
        design, family = self.design, self.family
        gate = params["gate"]
        K = gate.shape[0]
        grad_gate = np.zeros_like(gate)
        grad_free = None
        total_ll = 0.0
        for sl in design.chunks(K * family.width + design.n_columns):
            Xc = design.X1[sl]
            target_c = design.target[sl]
            w = design.weight[sl]
            logits = Xc @ gate.T
            resp = np.empty_like(logits)
            log_norm = np.empty(logits.shape[0])
            resid = np.empty_like(logits)
            gate_q = np.empty(logits.shape[0])
            family.estep_chunk(
                params["experts"], Xc, target_c, w, logits, resp, log_norm, resid, gate_q
            )
            total_ll += float(np.dot(w, log_norm))
            grad_gate += resid.T @ Xc
            part = family.loglik_grad(params["experts"], Xc, target_c, resp * w[:, None])
            if grad_free is None:
                grad_free = part
            else:
                for key in grad_free:
                    grad_free[key] += part[key]
        penalty = gate_penalty(gate, self.gate_alpha) + family.penalty(params["experts"])
        value = -(total_ll - penalty) / self.total_weight
        #: mean log-likelihood at the last evaluation (for progress curves)
        self.last_loglik = total_ll / self.total_weight
        grad_gate[:, 1:] -= self.gate_alpha * gate[:, 1:]
        pen_grad = family.penalty_grad(params["experts"])
        grads = {"gate": -grad_gate / self.total_weight}
        for key in family.grad_keys:
            grads[key] = -(grad_free[key] - pen_grad[key]) / self.total_weight
        return value, grads

    def value_and_grad_packed(self, theta, like):
        """``(f, gradient vector)`` at packed ``theta`` (for scipy.optimize)."""
        params = self.unpack(theta, like)
        value, grads = self.value_and_grad(params)
        parts = [grads["gate"].ravel()] + [grads[k].ravel() for k in self.family.grad_keys]
        return value, np.concatenate(parts)
