"""Expectation-maximisation for any expert family (Jordan and Jacobs 1994).

One EM iteration is one pass over the data in row chunks (the E-step: gate
logits and expert outputs by BLAS, the fused Numba kernel for
responsibilities and log-likelihoods, then the additive sufficient
statistics) followed by the M-step on those statistics: the experts' exact
update and one Böhning step for the gate (extra gate steps re-use the stored
responsibilities). Each step maximises, or at least does not lower, the
expected complete-data penalised log-likelihood, so the penalised objective
never decreases (generalised EM).

Parameters are a dict ``{"gate": (n_experts, p) array, "experts": family
parameters}`` in standardised units.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .._data import Design
from .._gate import gate_logits, gate_penalty
from .._softmax import rows_objective

#: An expert whose share of the training weight falls below this is
#: "collapsed": its parameters are frozen (never removed) and its gate
#: probability keeps shrinking.
COLLAPSE_SHARE = 1e-8
#: With ``keep_best`` (experts whose M-step may lower the objective), EM also
#: stops when the best objective has not improved by ``tol`` for this many
#: iterations (and reports convergence, as scikit-learn's MLP does when its
#: ``n_iter_no_change`` rule stops it). Measured with boosting experts
#: (``benchmarks/README.md``): after the first few iterations the objective
#: only jitters (on regime data the best of 23 iterations beat the best of
#: the first 5 by 0.0002 nats per sample for K = 4, 0.006 for K = 2; on
#: diabetes the start was never beaten), so 3 keeps the quality and stops
#: 7 of 10 discarded refits of every expert, the dominant cost.
BEST_PATIENCE = 3


@dataclass
class EMResult:
    """What a run of EM hands back to the estimator."""

    params: dict
    log_likelihood: float
    objective: float
    curve: list
    objective_curve: list
    n_iter: int
    converged: bool
    expert_weight: np.ndarray
    collapsed: np.ndarray
    timings: dict = field(default_factory=dict)


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


def run_em(
    design,
    family,
    gate_step,
    params,
    *,
    max_iter,
    tol,
    gate_alpha,
    gate_steps=1,
    verbose=0,
    label="EM",
    report_shift=0.0,
    expert_data_steps=True,
    keep_best=False,
):
    """Run EM from ``params`` until the mean log-likelihood changes by < ``tol``.

    Parameters
    ----------
    design : Design
    family : ExpertFamily
    gate_step : GateMStep
    params : dict
        Starting parameters (not modified).
    max_iter : int
        Maximum number of M-steps.
    tol : float
        Convergence tolerance on the weighted mean log-likelihood.
    gate_alpha : float
    gate_steps : int, default=1
        Monotone gate steps per M-step (see ``GateMStep``).
    verbose : int
    label : str
        Prefix of progress lines.
    report_shift : float
        Added to log-likelihoods in progress lines (the user's units).
    expert_data_steps : bool, default=True
        Give iterative expert M-steps access to the data (Newton candidates
        evaluated on all rows). False keeps them to the one-pass step from
        the sufficient statistics: cheaper, still monotone, slower to
        converge (used by the short runs of the start search).
    keep_best : bool, default=False
        Return the iterate with the best penalised objective instead of the
        last (for experts whose M-step is not guaranteed to be monotone, such
        as arbitrary scikit-learn estimators). The curves are still recorded
        in full, and the run also stops when the best objective has not
        improved by ``tol`` for ``BEST_PATIENCE`` iterations.

    Returns
    -------
    EMResult
        ``curve[t]`` is the mean log-likelihood after ``t`` M-steps
        (``curve[0]`` that of ``params``); the returned parameters are those
        whose log-likelihood is ``curve[-1]``.
    """
    n_experts = params["gate"].shape[0]
    passes = design.passes(n_experts)
    curve, objective_curve = [], []
    collapsed_ever = np.zeros(n_experts, dtype=bool)
    timings = {"estep": 0.0, "expert_mstep": 0.0, "gate_mstep": 0.0}
    converged = False
    n_iter = 0
    previous = None
    best = None
    best_seen, stale = -np.inf, 0
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        stats = family.new_stats(design.n_columns)
        grad, gate_q, ll_sum = passes.estep(family, params, stats)
        ll, obj = objective_parts(design, family, params, ll_sum, gate_alpha)
        timings["estep"] += time.perf_counter() - t0
        curve.append(ll)
        objective_curve.append(obj)
        if keep_best and (best is None or obj > best[0]):
            best = (obj, ll, params, stats["n"].copy())
        if verbose >= 2:
            print(
                f"[{label}] iteration {n_iter:4d}  "
                f"mean log-likelihood {ll + report_shift: .8f}"
            )
        if previous is not None and abs(ll - previous) < tol:
            converged = True
            break
        if keep_best:
            # non-monotone M-steps can jitter forever above tol: stop when the
            # best objective has not improved by tol for BEST_PATIENCE iterations
            if obj > best_seen + tol:
                best_seen, stale = obj, 0
            else:
                stale += 1
                if stale >= BEST_PATIENCE:
                    converged = True
                    break
        if n_iter >= max_iter:
            break
        t0 = time.perf_counter()
        collapsed = stats["n"] <= COLLAPSE_SHARE * design.total_weight
        collapsed_ever |= collapsed
        context = None
        if expert_data_steps:
            context = MStepContext(passes, family, params, gate_step.hessian_design)
        experts = family.mstep(stats, params["experts"], collapsed, context)
        t1 = time.perf_counter()
        gate_q -= gate_penalty(params["gate"], gate_alpha)
        gate = gate_step.step(passes, params["gate"], grad, gate_steps, q_current=gate_q)
        t2 = time.perf_counter()
        timings["expert_mstep"] += t1 - t0
        timings["gate_mstep"] += t2 - t1
        params = {"gate": gate, "experts": experts}
        n_iter += 1
        previous = ll
    timings["total_em"] = time.perf_counter() - t_start
    if verbose >= 1:
        state = "converged" if converged else "stopped"
        print(
            f"[{label}] {state} after {n_iter} iterations: "
            f"mean log-likelihood {curve[-1] + report_shift:.6f}"
        )
    final_collapsed = stats["n"] <= COLLAPSE_SHARE * design.total_weight
    final_ll, final_obj, final_weight = curve[-1], objective_curve[-1], stats["n"].copy()
    if keep_best and best is not None and best[0] > final_obj:
        final_obj, final_ll, params, final_weight = best
    return EMResult(
        params=params,
        log_likelihood=final_ll,
        objective=final_obj,
        curve=curve,
        objective_curve=objective_curve,
        n_iter=n_iter,
        converged=converged,
        expert_weight=final_weight,
        collapsed=final_collapsed | collapsed_ever,
        timings=timings,
    )


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
    return EMResult(
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
