"""Full-batch L-BFGS on the penalised mixture log-likelihood.

Minimises ``MixtureObjective`` (the negative of what EM maximises, per unit
weight) over the packed parameters with ``scipy.optimize.minimize``
(L-BFGS-B). It stops when the objective (a per-sample mean, so of order
one) has decreased by less than ``tol`` in each of ``PATIENCE`` (10)
consecutive iterations, as Adam's epochs: a few small steps are not enough,
because L-BFGS crawls while its curvature estimate settles (L-BFGS-B's own
relative ``ftol`` test, or a patience of 3, stopped short of the optimum:
``benchmarks/README.md``, "Measurements behind constants in the code"). Each
iteration's line search ensures the objective decreases. Variances are
optimised in log space with their floor as a bound (L-BFGS-B's box
constraints).
"""

import time

import numpy as np
import scipy.optimize

from .._objective import MixtureObjective
from .._passes import evaluate
from .._result import FitResult
from ._base import Solver

#: Consecutive iterations with an objective decrease below ``tol`` that stop
#: the run.
PATIENCE = 10


def _start_and_bounds(objective, params):
    """Packed start projected onto the bounds, and scipy ``Bounds`` (or None)."""
    theta0 = objective.pack(params)
    lower, upper = objective.bounds(params)
    if lower is None and upper is None:
        return theta0, None
    n = theta0.shape[0]
    lower = np.full(n, -np.inf) if lower is None else lower
    upper = np.full(n, np.inf) if upper is None else upper
    return np.clip(theta0, lower, upper), scipy.optimize.Bounds(lower, upper)


def run_lbfgs(design, family, params, *, max_iter, tol, gate_alpha, verbose=0,
              report_shift=0.0, label="L-BFGS"):
    """Run L-BFGS from ``params``; a :class:`~skmoe._result.FitResult`."""
    t_start = time.perf_counter()
    objective = MixtureObjective(design, family, gate_alpha)
    like = params
    cache = {}

    def fun(theta):
        value, grad, mean_ll = objective.value_and_grad_packed(theta, like)
        cache[theta.tobytes()] = (mean_ll, -value)
        return value, grad

    theta0, bounds = _start_and_bounds(objective, params)
    fun(theta0)
    ll0, obj0 = cache[theta0.tobytes()]
    curve, objective_curve = [ll0], [obj0]

    small_steps = [0]
    final_theta = [theta0]

    def callback(intermediate_result):
        theta = intermediate_result.x
        if theta.tobytes() not in cache:
            fun(theta)
        ll, obj = cache[theta.tobytes()]
        small_steps[0] = small_steps[0] + 1 if obj - objective_curve[-1] < tol else 0
        curve.append(ll)
        objective_curve.append(obj)
        final_theta[0] = theta.copy()
        if verbose >= 2:
            print(f"[{label}] iteration {len(curve) - 1:4d}  "
                  f"mean log-likelihood {ll + report_shift: .8f}")
        if small_steps[0] >= PATIENCE:
            raise StopIteration

    result = scipy.optimize.minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": int(max_iter), "ftol": 1e-3 * float(tol), "gtol": 1e-10,
                 "maxcor": 20},
    )
    t_solver = time.perf_counter() - t_start
    steps = len(curve) - 1
    # the last accepted iterate (scipy's result.x after a StopIteration from
    # the callback is that same point)
    theta = final_theta[0] if steps > 0 else theta0
    # a run whose start is already stationary (no accepted step: the start
    # search converged it) still made one iteration's evaluations; n_iter_ >= 1
    # as scikit-learn's estimators report it
    n_iter = max(steps, 1)
    final = objective.unpack(theta, like)
    n_experts = final["gate"].shape[0]
    evaluated = evaluate(design, family, final, gate_alpha)
    ll = evaluated.log_likelihood
    value = -evaluated.objective
    curve[-1], objective_curve[-1] = ll, -value
    converged = bool(small_steps[0] >= PATIENCE or result.status == 0)
    if verbose >= 1:
        state = "converged" if converged else "stopped"
        print(f"[{label}] {state} after {n_iter} iterations: "
              f"mean log-likelihood {ll + report_shift:.6f}")
    return FitResult(
        params=final,
        log_likelihood=ll,
        objective=-value,
        curve=curve,
        objective_curve=objective_curve,
        n_iter=n_iter,
        converged=converged,
        expert_weight=evaluated.expert_weight,
        collapsed=np.zeros(n_experts, dtype=bool),
        timings={"solver": t_solver, "n_evals": int(result.nfev),
                 "total_solver": time.perf_counter() - t_start},
    )


class LBFGSSolver(Solver):
    """Full-batch L-BFGS-B (:func:`run_lbfgs`) on the dense objective."""

    name = "lbfgs"
    routing = ("dense",)
    experts = ("linear", "constant", "logistic", "mlp")

    def run(self, task, params, rng=None):
        s = self.settings
        return run_lbfgs(
            task.design, task.family, params, max_iter=s.max_iter, tol=s.tol,
            gate_alpha=s.gate_alpha, verbose=s.verbose, report_shift=task.report_shift,
        )
