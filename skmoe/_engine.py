"""The fitting engine: from validated training data to the kept run.

``fit`` (:func:`fit_runs`): scale the data (unless warm-starting), build the
design the solver runs on, then for each restart draw a start
(``skmoe._start``) and run the solver; the run with the best log-likelihood
is kept. ``partial_fit`` (:func:`incremental_pass`): on the first call
initialise from the batch as ``fit`` would, then one epoch of the
incremental solver (Adam) whose state persists in the estimator.

Everything here works on a :class:`FitPlan` (plain values and factories the
estimator builds from its hyper-parameters) and on the training data of
``skmoe._inputs``; nothing reads the estimator itself.
"""

import time
from dataclasses import dataclass

import numpy as np

from ._experts import expert_entry
from ._experts._gaussian import residual_variance
from ._gate import GateMStep
from ._objective import MixtureObjective
from ._solvers import FitTask
from ._sparse import SparseObjective
from ._start import SUBSAMPLE_ROWS, StartSearch, better


@dataclass
class FitPlan:
    """What a fit needs besides the data.

    ``make_family(seed, proxy=False)`` builds the expert family of a restart
    (``proxy=True``: the linear/logistic experts that search starts for mlp
    and estimator experts); ``sparse`` holds ``(noisy_gating,
    load_balancing)`` for a sparse model, else None.
    """

    structure: object
    target: object
    settings: object
    solver: object
    make_family: object
    n_init: int = 1
    init: str = "kmeans"
    sparse: tuple = None

    @property
    def report_shift(self):
        """Added to standardised log-likelihoods in progress lines (the user's units)."""
        return self.target.log_likelihood_shift()

    def objective(self, family, total_weight, rng):
        """The gradient solvers' objective: None (dense ``MixtureObjective``) or the sparse one."""
        if self.sparse is None:
            return None
        noisy, load_balancing = self.sparse
        return SparseObjective(family, self.structure.top_k, noisy, load_balancing,
                               self.settings.gate_alpha, total_weight, rng)


def with_noise(params):
    """Parameters with the noise weights of noisy gating (zeros when new)."""
    if "noise" in params:
        return params
    return {**params, "noise": np.zeros_like(params["gate"])}


def learn_prior_scale(plan, design):
    """Give a Gaussian codec the residual variance its experts' variance prior scales with."""
    if plan.target.head == "gaussian":
        plan.target.residual_var = residual_variance(design, plan.target.n_outputs,
                                                     plan.settings.alpha)


def _task(plan, data, design, family, gate_step, rng):
    task = FitTask(design, family, gate_step, report_shift=plan.report_shift,
                   gate_steps=data.gate_steps,
                   keep_best=expert_entry(plan.structure.expert).keep_best)
    task.objective = plan.objective(family, design.total_weight, rng)
    return task


def fit_runs(plan, data, rng, warm_params=None, x_scaler=None):
    """Run the solver from each restart's start; ``(best FitResult, timings, x_scaler)``.

    ``warm_params`` (with the fitted ``x_scaler``): one run from them, no
    rescaling. ``rng`` draws the restarts' seeds.
    """
    warm = warm_params is not None
    K = plan.structure.n_experts
    t0 = time.perf_counter()
    if not warm:
        x_scaler = data.fit_scaling(plan.target)
    design = data.design(x_scaler, plan.target)
    if not warm:
        learn_prior_scale(plan, design)
    hessian = data.hessian_design(x_scaler, plan.target, 2 * K)
    gate_step = GateMStep(design, plan.settings.gate_alpha, K, hessian)
    search = StartSearch(plan, data, x_scaler, design, gate_step)
    timings = {"init": time.perf_counter() - t0}
    seeds = rng.randint(np.iinfo(np.int32).max, size=1 if warm else plan.n_init)
    best = None
    for seed in seeds:
        t0 = time.perf_counter()
        family = plan.make_family(int(seed))
        # in the small case the search sees the canonical rows, so repeated
        # rows and integer weights take the same path
        params, trajectory = (warm_params, None) if warm else search.initial_params(
            family, int(seed))
        timings["init"] += time.perf_counter() - t0
        run_rng = np.random.RandomState(int(seed))
        if plan.structure.sparse:
            params = with_noise(params)
        result = plan.solver.run(_task(plan, data, design, family, gate_step, run_rng), params,
                                 run_rng)
        if trajectory is not None:
            result = result.joined(trajectory)
        if best is None or better(result.log_likelihood, best.log_likelihood):
            best = result
    timings.update(best.timings)
    return best, timings, x_scaler


@dataclass
class IncrementalState:
    """What ``partial_fit`` carries from one call to the next (plain values)."""

    params: dict
    x_scaler: object
    optimizer_state: dict
    seen_weight: float


def first_incremental_state(plan, data, rng):
    """``partial_fit``'s first call: scale, then the start search on the batch."""
    x_scaler = data.fit_scaling(plan.target)
    sub = data.canonical_rows(x_scaler, plan.target, SUBSAMPLE_ROWS, 0)
    sub.small = True
    start = sub.design(x_scaler, plan.target)
    learn_prior_scale(plan, start)
    gate = GateMStep(start, plan.settings.gate_alpha, plan.structure.n_experts)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    family = plan.make_family(seed)
    params, _ = StartSearch(plan, sub, x_scaler, start, gate).initial_params(family, seed)
    return IncrementalState(params, x_scaler, None, 0.0)


def incremental_pass(plan, data, state, rng):
    """One epoch of the incremental solver over ``data`` from ``state``.

    Returns the new :class:`IncrementalState`, the epoch's mean
    log-likelihood and penalised objective (standardised units) and the
    expert load.
    """
    family = plan.make_family(0)
    design = data.design(state.x_scaler, plan.target)
    seen = state.seen_weight + design.total_weight
    params = state.params
    if plan.structure.sparse:
        params = with_noise(params)
        objective = plan.objective(family, seen, rng)
    else:
        objective = MixtureObjective(None, family, plan.settings.gate_alpha, seen)
    task = FitTask(design, family, objective=objective)
    params, stats, optimizer = plan.solver.epoch(task, params, state.optimizer_state, rng)
    ll = stats.ll_sum / stats.weight_sum
    obj = ll - objective.penalty(params) / objective.total_weight
    new_state = IncrementalState(params, state.x_scaler, optimizer, seen)
    return new_state, ll, obj, stats.load
