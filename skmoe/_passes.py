"""The training data as the solvers see it, and every pass over its rows.

:class:`Design` holds the standardised rows in memory; :class:`RowPasses`
is every access to them within one EM iteration (the E-step, and the
evaluation of softmax-step candidates with the stored responsibilities);
``skmoe._dask`` has twins of both (``DaskDesign``, ``DaskPasses``) with the
same methods, so the solvers are written once. :func:`estep_pass` is the
E-step over a design's row chunks, :func:`evaluate` the exact
log-likelihood and objective of parameters on a design.
"""

from dataclasses import dataclass

import numpy as np

from ._data import _CHUNK_VALUES, chunk_rows, iter_chunks
from ._gate import gate_logits, gate_penalty
from ._result import FitResult
from ._softmax import rows_objective


class Design:
    """Standardised training data as the solvers see it.

    Parameters
    ----------
    X1 : ndarray of shape (n_samples, n_features + 1)
        Design matrix, intercept in column 0.
    target : ndarray
        Family-specific target: standardised ``(n_samples, n_outputs)``
        float64 for Gaussian experts, ``(n_samples,)`` int64 class codes for
        categorical experts.
    weight : ndarray of shape (n_samples,)
        Positive sample weights.
    chunk_values : int, default=2**19
        Size of a data pass's chunk temporaries, in float64 values (smaller
        in Dask worker tasks, see ``skmoe._dask._design.TASK_CHUNK_VALUES``).
    """

    def __init__(self, X1, target, weight, chunk_values=_CHUNK_VALUES):
        self.X1 = X1
        self.target = target
        self.weight = weight
        self.n_samples, self.n_columns = X1.shape
        self.total_weight = float(weight.sum())
        self.chunk_values = chunk_values
        self._gram = None

    def passes(self, n_experts):
        """The data passes of an EM run over these rows (:class:`RowPasses`)."""
        return RowPasses(self, n_experts)

    def chunks(self, width):
        rows = chunk_rows(self.n_samples, width, self.chunk_values)
        return iter_chunks(self.n_samples, rows)

    def onehot(self, n_classes):
        """One-hot ``(n_samples, n_classes)`` of integer targets, cached."""
        if getattr(self, "_onehot", None) is None or self._onehot.shape[1] != n_classes:
            onehot = np.zeros((self.n_samples, n_classes))
            onehot[np.arange(self.n_samples), self.target] = 1.0
            self._onehot = onehot
        return self._onehot

    def gram(self):
        """``X1^T diag(w) X1``, computed once and cached."""
        if self._gram is None:
            p = self.n_columns
            gram = np.zeros((p, p))
            for sl in self.chunks(p):
                Xc = self.X1[sl]
                gram += (Xc * self.weight[sl, None]).T @ Xc
            self._gram = 0.5 * (gram + gram.T)
        return self._gram


class RowPasses:
    """The data passes of one EM run over a :class:`~skmoe._data.Design` in memory.

    Every access to the rows in an EM iteration goes through this object:
    the E-step (which stores the responsibilities and per-sample
    log-likelihoods) and the evaluation of softmax-step candidates on all
    rows with the stored responsibilities (the gate's, and the logistic
    experts'). ``skmoe._dask.DaskPasses`` implements the same methods as
    map-reduces over the chunks of a Dask array, so ``run_em`` and the
    M-steps are written once.

    Parameters
    ----------
    design : Design
    n_experts : int
    resp : ndarray of shape (n_samples, n_experts) or None
        Responsibilities to start from (default: filled by :meth:`estep`).
    """

    def __init__(self, design, n_experts, resp=None):
        self.design = design
        self.resp = np.empty((design.n_samples, n_experts)) if resp is None else resp
        self.log_norm = np.empty(design.n_samples)

    def estep(self, family, params, stats):
        """E-step over all rows (see :func:`estep_pass`).

        Returns the gate's data gradient, its expected complete-data
        log-likelihood ``gate_q`` and ``sum_i w_i log p(y_i | x_i)``.
        """
        grad, gate_q = estep_pass(self.design, family, params, self.resp, self.log_norm, stats)
        return grad, gate_q, float(np.sum(self.design.weight * self.log_norm))

    def gate_objective(self, alpha):
        """``evaluate(candidates, need_grad)`` of the gate's softmax regression."""
        d = self.design
        return rows_objective(d.X1, d.weight, self.resp, alpha)

    def expert_objective(self, family, k, alpha):
        """``evaluate(candidates, need_grad)`` of logistic expert ``k``'s regression."""
        d = self.design
        return rows_objective(
            family.inputs(d.X1), d.weight * self.resp[:, k], d.onehot(family.n_classes), alpha
        )


class MStepContext:
    """Data access for M-steps that need more than the sufficient statistics.

    Iterative expert M-steps (logistic experts) evaluate candidate steps on
    all rows with the stored responsibilities (``passes``), and form Newton
    Hessians on a thinned, order-free set of rows (``hessian_rows``).
    ``design`` and ``resp`` are the rows in memory (estimator experts).
    """

    def __init__(self, passes, family, params, hessian_design):
        self.passes = passes
        self._family = family
        self._params = params
        self._hessian_design = hessian_design

    @property
    def design(self):
        return self.passes.design

    @property
    def resp(self):
        return self.passes.resp

    def hessian_rows(self, stride_fn, n_classes, q):
        """Thinned rows with their responsibilities (``X1``, ``weight``, ``resp``)."""
        hd = self._hessian_design
        stride = stride_fn(hd.n_samples, n_classes, q)
        if hd is self.passes.design:
            return _Rows(hd.X1[::stride], hd.weight[::stride], self.resp[::stride])
        rows = slice(None, None, stride)
        thin = Design(hd.X1[rows].copy(), hd.target[rows].copy(), hd.weight[rows].copy())
        resp = np.empty((thin.n_samples, self._params["gate"].shape[0]))
        estep_pass(thin, self._family, self._params, resp, np.empty(thin.n_samples))
        return _Rows(thin.X1, thin.weight, resp)


@dataclass
class _Rows:
    X1: np.ndarray
    weight: np.ndarray
    resp: np.ndarray


def estep_pass(design, family, params, resp, log_norm, stats=None):
    """E-step over all rows of ``design``.

    Fills ``resp`` (n_samples, n_experts) and ``log_norm`` (n_samples,) in
    place, adds the experts' sufficient statistics into ``stats`` when given,
    and returns the gradient of the gate's expected complete-data
    log-likelihood (without penalty), shape (n_experts, p), and that
    log-likelihood itself, ``sum_i w_i sum_k r_ik log g_ik``.
    """
    coef = params["gate"]
    n_experts, p = coef.shape
    grad = np.zeros_like(coef)
    gate_q = 0.0
    width = n_experts * family.width + p
    weight = design.weight
    for sl in design.chunks(width):
        Xc = design.X1[sl]
        target_c = design.target[sl]
        logits = gate_logits(Xc, coef)
        resid = np.empty_like(logits)
        q_rows = np.empty(logits.shape[0])
        resp_c = resp[sl]
        family.estep_chunk(
            params["experts"], Xc, target_c, weight[sl], logits, resp_c, log_norm[sl], resid,
            q_rows,
        )
        grad += resid.T @ Xc
        gate_q += q_rows.sum()
        if stats is not None:
            family.accumulate(stats, params["experts"], Xc, target_c, resp_c * weight[sl, None])
    return grad, gate_q


def objective_parts(design, family, params, ll_sum, gate_alpha):
    """Weighted mean log-likelihood and penalised objective (per unit weight).

    ``ll_sum`` is ``sum_i w_i log p(y_i | x_i)``.
    """
    total = design.total_weight
    ll = ll_sum / total
    penalty = gate_penalty(params["gate"], gate_alpha) + family.penalty(params["experts"])
    return ll, ll - penalty / total


def evaluate(design, family, params, gate_alpha):
    """Exact log-likelihood, objective and expert weights of ``params`` on ``design``."""
    n_experts = params["gate"].shape[0]
    resp = np.empty((design.n_samples, n_experts))
    log_norm = np.empty(design.n_samples)
    estep_pass(design, family, params, resp, log_norm)
    weight = design.weight @ resp
    ll = float(np.dot(design.weight, log_norm)) / design.total_weight
    penalty = gate_penalty(params["gate"], gate_alpha) + family.penalty(params["experts"])
    obj = ll - penalty / design.total_weight
    return FitResult(
        params=params,
        log_likelihood=ll,
        objective=obj,
        curve=[ll],
        objective_curve=[obj],
        n_iter=0,
        converged=True,
        expert_weight=weight,
        collapsed=np.zeros(n_experts, dtype=bool),
    )
