"""The softmax gate (the "manager") and its M-step.

The gate's parameters are one matrix ``W`` of shape ``(n_experts, p)`` on the
design matrix (intercept in column 0), so ``gate_logits = X1 @ W.T``. Softmax
is invariant to adding the same vector to every expert's row; we keep the rows
centred (``W.sum(axis=0) == 0``), which is also the minimum-norm member of
each equivalence class and so what the L2 penalty prefers.

Gate M-step
-----------
EM's gate M-step maximises the expected complete-data log-likelihood

    Q(W) = sum_i w_i sum_k r_ik log softmax_k(W x_i) - gate_alpha / 2 ||W[:, 1:]||^2

a weighted multinomial logistic regression on soft labels. Its Hessian is
bounded below, in the Loewner order, by ``-(B kron S + gate_alpha I kron P)``
with ``B = (I - 11^T / K) / 2`` (Böhning 1992), ``S = X1^T diag(w) X1`` and
``P = diag(0, 1, ..., 1)``. On centred directions ``B`` acts as ``I / 2``, so
the minorise-maximise step

    W <- W + grad Q(W) @ inv(S / 2 + gate_alpha P)

uses one fixed ``p x p`` matrix for the whole fit (factorised once), costs one
pass over the data (the gradient comes free with the E-step) and never lowers
``Q``. Extra steps per M-step re-use the stored responsibilities.

The gate contract (the seam for another gate)
---------------------------------------------
Every consumer computes the gate's logits through :func:`gate_logits` (EM's
E-step ``_solvers._em.estep_pass``, the gradient objective
``_objective.MixtureObjective``, the sparse routing and training
``_sparse.route`` / ``SparseObjective.batch_value_and_grad``, and through
:func:`gate_proba` / :func:`gate_log_proba` the predictions), so a different
gate (a tree of gates, a bias used only for routing, ...) replaces what is
below, not its call sites. A gate supplies:

* logits ``(n_samples, n_experts)`` from the design chunk ``X1`` and its
  parameters ``params["gate"]`` (:func:`gate_logits`); the kernels turn them
  into (log-)softmax probabilities, responsibilities and the gate residual
  ``w_i (r_ik - g_ik)``;
* its penalty (:func:`gate_penalty`), subtracted from the log-likelihood;
* its gradient from that residual: ``resid.T @ X1`` for the softmax gate (the
  chain rule through the logits; written where the residual is summed:
  ``estep_pass``, ``MixtureObjective._accumulate``,
  ``SparseObjective.batch_value_and_grad``) plus the penalty's gradient;
* an EM M-step (:class:`GateMStep`: ``step(passes, coef, grad, n_steps,
  q_current)`` and ``fit(design, resp, coef, n_steps)``);
* a free-parameter count, ``(n_experts - 1) * p`` for the softmax gate
  (``BaseMixtureOfExperts._n_free_params``), and its conversion to the
  user's units (``BaseMixtureOfExperts._export_gate``).

The packed gradient solvers treat ``params["gate"]`` as one ``(n_experts,
p)`` block (``_objective.PackedParameters.gate_keys``); a gate with another
shape adds its blocks there.
"""

import numpy as np

from . import _kernels
from ._softmax import (
    SoftmaxStep,
    hessian_stride,
    rows_objective,
    softmax_objective,
    softmax_penalty,
)


def gate_logits(X1, coef):
    """Gate logits ``X1 @ coef.T`` of shape (n_samples, n_experts).

    The one place the gate's logits are computed (see "The gate contract").
    """
    return X1 @ coef.T


def gate_log_proba(X1, coef):
    """Log gate probabilities (log-softmax of the logits)."""
    logits = gate_logits(X1, coef)
    out = np.empty_like(logits)
    _kernels.log_softmax_rows(logits, out)
    return out


def gate_proba(X1, coef):
    """Gate probabilities (softmax of the logits)."""
    logits = gate_logits(X1, coef)
    out = np.empty_like(logits)
    _kernels.softmax_rows(logits, out)
    return out


def gate_penalty(coef, gate_alpha):
    """``gate_alpha / 2 * ||coef[:, 1:]||^2`` (intercepts are not penalised)."""
    return softmax_penalty(coef, gate_alpha)


class GateMStep:
    """The gate's M-step: monotone softmax-regression steps on the responsibilities.

    A thin wrapper of :class:`skmoe._softmax.SoftmaxStep` with the design's
    weighted Gram matrix (fixed for the whole fit, factorised once) and a
    thinned, order-free set of rows for the Newton Hessian.

    Parameters
    ----------
    design : Design
        The data EM runs on.
    gate_alpha : float
        L2 penalty on the (non-intercept) gate coefficients.
    n_experts : int
    hessian_design : Design or None, default=None
        Canonical rows used for the Newton Hessian (``design`` itself when
        None, which must then be in canonical order).
    """

    def __init__(self, design, gate_alpha, n_experts, hessian_design=None):
        hessian_design = design if hessian_design is None else hessian_design
        stride = hessian_stride(hessian_design.n_samples, n_experts, design.n_columns)
        self.hessian_design = hessian_design
        self.hessian_stride = stride
        hX = hessian_design.X1[::stride]
        hv = hessian_design.weight[::stride] * (design.total_weight / hessian_design.total_weight)
        self._step = SoftmaxStep(design.gram(), gate_alpha, design.total_weight, hX, hv)
        self.gate_alpha = gate_alpha

    def step(self, passes, coef, grad, n_steps=1, q_current=None):
        """``n_steps`` monotone steps from ``coef`` (data gradient ``grad``).

        ``passes`` (``RowPasses`` or the Dask twin) evaluates candidates on
        all rows with the responsibilities of its last E-step.
        ``q_current``, the penalised gate objective at ``coef`` (free from the
        E-step), saves evaluating the Böhning candidate.
        """
        evaluate = passes.gate_objective(self.gate_alpha)
        return self._step.step(evaluate, coef, grad, n_steps, q_current)

    def fit(self, design, resp, coef, n_steps):
        """``n_steps`` steps towards the gate that best explains ``resp`` (rows in memory)."""
        _, grads = softmax_objective(design.X1, design.weight, resp, [coef], self.gate_alpha)
        evaluate = rows_objective(design.X1, design.weight, resp, self.gate_alpha)
        return self._step.step(evaluate, coef, grads[0], n_steps)
