"""Categorical experts: multinomial logistic ``softmax(B_k x + d_k)`` or constant.

Parameters (standardised inputs; intercept in column 0 of the design):
``coef`` of shape ``(n_experts, n_classes, q)`` with ``q = n_features + 1``
(logistic) or ``q = 1`` (constant: class logits only). Rows are centred over
classes (softmax is invariant to a common shift).

M-step. Expert ``k`` maximises ``sum_i w_i r_ik log softmax(B_k x_i)[y_i] -
alpha / 2 ||B_k[:, 1:]||^2``, a weighted multinomial logistic regression. One
EM iteration takes one monotone :class:`skmoe._softmax.SoftmaxStep` per
expert: the better of a Böhning bound step, computed from the pass's
sufficient statistics alone (``S_k = X^T diag(w r_k) X`` and the gradient),
and a Newton step with a Hessian on thinned rows (for more than
``_softmax.MAX_NEWTON_DIM`` coefficients: the Böhning step stretched along
its direction instead, ``_softmax.BOHNING_STRETCH``). None can lower the
expert's objective, so EM stays monotone; on separable data (or ``alpha=0``)
the coefficients grow a little per iteration but stay finite.
"""

import numpy as np

from .. import _kernels
from .._softmax import SoftmaxStep, hessian_stride, softmax_penalty
from ._base import ExpertFamily
from ._gaussian import accumulate_moments
from ._heads import CategoricalHead
from ._slots import linear_slot_backward, linear_slot_outputs


class CategoricalExperts(ExpertFamily):
    """Logistic or constant classifier experts.

    Parameters
    ----------
    n_experts : int
    n_classes : int
    linear : bool
        ``True`` for ``expert="logistic"``, ``False`` for ``expert="constant"``.
    alpha : float
        L2 penalty on the (standardised) logistic coefficients.
    """

    iterative = True

    def __init__(self, n_experts, n_classes, linear, alpha):
        self.n_experts = n_experts
        self.head = CategoricalHead(n_classes)
        self.linear = linear
        # Internally each expert has one centred row per class. With two
        # classes the reported coefficient is the log-odds b = B[1] - B[0] and
        # ||B||^2 = ||b||^2 / 2, so the penalty is doubled to make it
        # alpha / 2 ||b||^2, as in LogisticRegression(C=1 / alpha).
        scale = 2.0 if n_classes == 2 else 1.0
        self.alpha = scale * float(alpha) if linear else 0.0

    def n_free_params(self, n_features):
        q = n_features + 1 if self.linear else 1
        return self.n_experts * (self.n_classes - 1) * q

    def logits(self, params, X1):
        """Expert class logits ``(n_samples, n_experts * n_classes)``, expert-major."""
        coef = params["coef"]
        K, C, q = coef.shape
        return self.inputs(X1) @ coef.reshape(K * C, q).T

    def log_proba(self, params, X1):
        """Expert log class probabilities ``(n_samples, n_experts, n_classes)``."""
        return self.head.log_proba(self.logits(params, X1), self.n_experts)

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):
        """Fused E-step; returns the expert logits (the forward pass of ``loglik_grad``)."""
        expert_logits = self.logits(params, X1c)
        self.head.estep(params, expert_logits, target_c, logits, weight_c, resp, log_norm,
                        gate_resid, gate_q)
        return expert_logits

    # -- sufficient statistics and M-step ----------------------------------

    def new_stats(self, n_columns):
        q = self._q(n_columns)
        K, C = self.n_experts, self.n_classes
        return {
            "flat": np.zeros((K, _kernels.gaussian_stats_length(q, 0))),
            "grad": np.zeros((K, C, q)),
            "n": np.zeros(K),
            "q": q,
        }

    def accumulate(self, stats, params, X1c, target_c, soft_weight):
        q = stats["q"]
        Xq = np.ascontiguousarray(self.inputs(X1c))
        no_y = np.empty((X1c.shape[0], 0))
        accumulate_moments(Xq, q, soft_weight, no_y, stats["flat"], stats["n"])
        stats["grad"] += self._coef_grad(params, X1c, target_c, soft_weight)

    def _coef_grad(self, params, X1c, target_c, soft_weight, forward=None):
        """``sum_i v_ik (onehot(y_i) - p_k(x_i)) x_i^T``, shape (K, C, q)."""
        Xq = self.inputs(X1c)
        n = X1c.shape[0]
        K, C = self.n_experts, self.n_classes
        if params is None:
            prob = np.full((n * K, C), 1.0 / C)
        else:
            logits = self.logits(params, X1c) if forward is None else forward
            flat_logits = logits.reshape(n * K, C)
            prob = np.empty_like(flat_logits)
            _kernels.softmax_rows(flat_logits, prob)
        resid = -prob.reshape(n, K, C)
        resid[np.arange(n), :, target_c] += 1.0
        resid *= soft_weight[:, :, None]
        return (resid.reshape(n, K * C).T @ Xq).reshape(K, C, Xq.shape[1])

    def gram(self, stats):
        q = stats["q"]
        rows, cols = np.triu_indices(q)
        gram = np.zeros((self.n_experts, q, q))
        gram[:, rows, cols] = stats["flat"]
        gram[:, cols, rows] = stats["flat"]
        return gram

    def mstep(self, stats, params, collapsed, context=None):
        """One monotone softmax-regression step per expert.

        Without ``context`` (data access) only the Böhning step from the
        statistics is taken; with it, the better of Böhning and Newton.
        """
        K, C, q = self.n_experts, self.n_classes, stats["q"]
        coef = np.zeros((K, C, q)) if params is None else params["coef"].copy()
        grams = self.gram(stats)
        rows = None
        for k in range(K):
            if collapsed[k] and params is not None:
                continue
            hX = hv = None
            if context is not None:
                if rows is None:
                    rows = context.hessian_rows(hessian_stride, C, q)
                hX = rows.X1[:, :q]
                hv = rows.weight * rows.resp[:, k]
            step = SoftmaxStep(grams[k], self.alpha, stats["n"][k], hX, hv)
            if context is None:
                coef[k] = step.bohning(coef[k], stats["grad"][k])
            else:
                evaluate = context.passes.expert_objective(self, k, self.alpha)
                coef[k] = step.step(evaluate, coef[k], stats["grad"][k])
        return {"coef": coef}

    # -- gradient of the log-likelihood (for the gradient solvers) ----------

    grad_keys = ("coef",)

    def to_free(self, params):
        return {"coef": params["coef"]}

    def from_free(self, free):
        return {"coef": free["coef"]}

    def loglik_grad(self, params, X1c, target_c, soft_weight, forward=None):
        """Gradient of ``sum_i sum_k v_ik log p_k(y_i | x_i)`` in ``coef``."""
        return {"coef": self._coef_grad(params, X1c, target_c, soft_weight, forward)}

    def penalty_grad(self, params):
        coef = params["coef"]
        grad = np.zeros_like(coef)
        if self.linear and self.alpha > 0.0:
            grad[:, :, 1:] = self.alpha * coef[:, :, 1:]
        return {"coef": grad}

    def penalty(self, params):
        if not self.linear or self.alpha == 0.0:
            return 0.0
        return sum(softmax_penalty(c, self.alpha) for c in params["coef"])

    # -- sparse routing: only the selected experts (see ``_slots``) ----------

    def slot_outputs(self, params, X1, sel):
        """Class logits of the experts ``sel`` ``(n, s)`` only: ``(n, s, n_classes)``."""
        return linear_slot_outputs(params["coef"], X1, sel)

    def slot_grad(self, params, X1, target, sel, out, soft, forward=None):
        dout, _ = self.head.slot_grad(params, out, target, sel, soft)
        return {"coef": linear_slot_backward(params["coef"].shape, X1, sel, dout)}
