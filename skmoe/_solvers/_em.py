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

import numpy as np

from .._gate import gate_penalty
from .._passes import MStepContext, objective_parts
from .._result import FitResult
from ._base import Solver

#: An expert whose share of the training weight falls below this is
#: "collapsed": its parameters are frozen (never removed) and its gate
#: probability keeps shrinking.
COLLAPSE_SHARE = 1e-8
#: With ``keep_best`` (experts whose M-step may lower the objective), EM also
#: stops when the best objective has not improved by ``tol`` for this many
#: iterations (and reports convergence, as scikit-learn's MLP does when its
#: ``n_iter_no_change`` rule stops it). 3 keeps the quality of a longer
#: patience at a fraction of the expert refits (measured: ``benchmarks/README.md``,
#: "Measurements behind constants in the code").
BEST_PATIENCE = 3


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
    FitResult
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
    return FitResult(
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




class EMSolver(Solver):
    """Expectation-maximisation (:func:`run_em`), in memory or on Dask blocks."""

    name = "em"
    routing = ("dense",)
    experts = ("linear", "constant", "logistic", "estimator")
    distributed_experts = ("linear", "constant", "logistic")

    def run(self, task, params, rng=None):
        s = self.settings
        return run_em(
            task.design, task.family, task.gate_step, params, max_iter=s.max_iter, tol=s.tol,
            gate_alpha=s.gate_alpha, gate_steps=task.gate_steps, verbose=s.verbose,
            label=task.label or "EM", report_shift=task.report_shift, keep_best=task.keep_best,
        )
