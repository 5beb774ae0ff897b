"""Full-batch L-BFGS on the penalised mixture log-likelihood.

Minimises ``MixtureObjective`` (the negative of what EM maximises, per unit
weight) over the packed parameters with ``scipy.optimize.minimize``
(L-BFGS-B). ``tol`` is L-BFGS-B's ``ftol``: it stops when the relative
decrease of the objective in an iteration falls below ``tol``, which for a
per-sample objective of order one is a change of the mean log-likelihood of
about ``tol``, as for EM. Each iteration's line search ensures the objective
decreases.
"""

import time

import numpy as np
import scipy.optimize

from .._objective import MixtureObjective
from ._em import EMResult, estep_pass


def run_lbfgs(design, family, params, *, max_iter, tol, gate_alpha, verbose=0,
              report_shift=0.0, label="L-BFGS"):
    """Run L-BFGS from ``params``; returns an :class:`EMResult` (same contract as EM)."""
    t_start = time.perf_counter()
    objective = MixtureObjective(design, family, gate_alpha)
    like = params
    cache = {}

    def fun(theta):
        value, grad = objective.value_and_grad_packed(theta, like)
        cache[theta.tobytes()] = (objective.last_loglik, -value)
        return value, grad

    theta0 = objective.pack(params)
    fun(theta0)
    ll0, obj0 = cache[theta0.tobytes()]
    curve, objective_curve = [ll0], [obj0]

    def callback(intermediate_result):
        theta = intermediate_result.x
        if theta.tobytes() not in cache:
            fun(theta)
        ll, obj = cache[theta.tobytes()]
        curve.append(ll)
        objective_curve.append(obj)
        if verbose >= 2:
            print(f"[{label}] iteration {len(curve) - 1:4d}  "
                  f"mean log-likelihood {ll + report_shift: .8f}")

    result = scipy.optimize.minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": int(max_iter), "ftol": float(tol), "gtol": 1e-10,
                 "maxcor": 20},
    )
    final = objective.unpack(result.x, like)
    n_experts = final["gate"].shape[0]
    resp = np.empty((design.n_samples, n_experts))
    log_norm = np.empty(design.n_samples)
    stats = family.new_stats(design.n_columns)
    estep_pass(design, family, final, resp, log_norm, stats)
    ll = float(np.dot(design.weight, log_norm)) / design.total_weight
    value, _ = fun(result.x)
    # one value per iteration plus the start; the last is the returned model's
    del curve[result.nit + 1 :], objective_curve[result.nit + 1 :]
    while len(curve) < result.nit + 1:
        curve.append(ll)
        objective_curve.append(-value)
    curve[-1], objective_curve[-1] = ll, -value
    converged = bool(result.status == 0)
    if verbose >= 1:
        state = "converged" if converged else "stopped"
        print(f"[{label}] {state} after {result.nit} iterations: "
              f"mean log-likelihood {ll + report_shift:.6f}")
    return EMResult(
        params=final,
        log_likelihood=ll,
        objective=-value,
        curve=curve,
        objective_curve=objective_curve,
        n_iter=int(result.nit),
        converged=converged,
        expert_weight=stats["n"].copy(),
        collapsed=np.zeros(n_experts, dtype=bool),
        timings={"total_em": time.perf_counter() - t_start},
    )
