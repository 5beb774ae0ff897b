"""Mini-batch Adam on the penalised mixture log-likelihood.

Each epoch shuffles the rows (from the estimator's ``random_state``) and takes
one Adam step (Kingma and Ba 2015) per mini-batch of ``batch_size`` rows on
the mini-batch objective of :meth:`MixtureObjective.batch_grad`: the batch's
weighted mean negative log-likelihood plus the penalty divided by the total
training weight, an unbiased estimate of the objective EM and L-BFGS
optimise. Variances live in log space and are projected onto their floor
after each step.

Warm-up. With a fresh state, Adam's first steps move every parameter by
about the learning rate whatever the size of its gradient (``m / sqrt(v)``
is +-1 after one step), which would throw a converged model (an EM fit
updated by ``partial_fit``) off its optimum. The learning rate therefore
ramps up linearly over the first ``WARMUP_STEPS`` (200) steps of a fresh state
in ``partial_fit``; in ``fit``, over at most one epoch (a data set of 500
rows takes 2 steps per epoch, and a ramp of 200 steps would last 100
epochs).

Stopping, as ``MLPRegressor``: the epoch's loss is the running mean of the
mini-batch losses, computed before each step at no extra cost; when it has
not improved on the best so far by at least ``tol`` for more than
``N_ITER_NO_CHANGE`` consecutive epochs, the run has converged.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import _kernels
from .._objective import MixtureObjective
from ._base import Solver

BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8
#: Gradient entries are clipped to this magnitude (their squares stay finite).
GRAD_MAX = 1e150
#: Steps over which the learning rate of a fresh state ramps up linearly.
WARMUP_STEPS = 200
#: Epochs without an improvement of ``tol`` before stopping (as MLPRegressor).
N_ITER_NO_CHANGE = 10


@dataclass
class AdamState:
    """Optimiser state kept across epochs and ``partial_fit`` calls."""

    m: np.ndarray
    v: np.ndarray
    t: int = 0
    #: steps of the linear learning-rate ramp of this state
    warmup: int = 1

    @classmethod
    def fresh(cls, size, warmup=None):
        return cls(np.zeros(size), np.zeros(size), 0,
                   WARMUP_STEPS if warmup is None else max(int(warmup), 1))

    def to_dict(self):
        """Plain arrays and ints (what an estimator stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state, size, warmup=None):
        """The state stored by :meth:`to_dict`, or a fresh one if none fits ``size``."""
        if state is None or np.shape(state["m"]) != (size,):
            return cls.fresh(size, warmup)
        return cls(np.array(state["m"]), np.array(state["v"]), int(state["t"]),
                   int(state["warmup"]))


@dataclass
class EpochStats:
    """Sums over one epoch, each row evaluated before its batch's step.

    ``ll_sum``: ``sum_i w_i log p(y_i | x_i)``; ``weight_sum``: ``sum_i w_i``;
    ``load``: ``sum_i w_i r_ik`` per expert; ``extra``: the weighted mean of
    the batches' extra loss terms (the sparse model's load balancing).
    """

    ll_sum: float
    weight_sum: float
    load: np.ndarray
    extra: float


def adam_pass(objective, theta, like, state, design, *, batch_size, learning_rate, rng,
              lower=None, upper=None):
    """One epoch of Adam over ``design`` in shuffled mini-batches; an :class:`EpochStats`.

    Updates ``theta`` and ``state`` in place.
    """
    n = design.n_samples
    order = rng.permutation(n)
    grad = np.empty_like(theta)
    ll_sum = weight_sum = extra_sum = 0.0
    load = None
    X1, target, weight = design.X1, design.target, design.weight
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            batch = objective.batch_grad(
                theta, like, X1.take(idx, axis=0), target.take(idx, axis=0), weight.take(idx),
                grad,
            )
        if not (np.isfinite(batch.ll) and np.all(np.isfinite(grad))):
            raise FloatingPointError(
                f"Adam diverged: the loss or its gradient became non-finite at step "
                f"{state.t + 1}. Lower learning_rate (now {learning_rate})."
            )
        state.t += 1
        t = state.t
        step = learning_rate * min(1.0, t / state.warmup)
        _kernels.adam_update(
            theta, grad, state.m, state.v, step, BETA1, BETA2, EPSILON,
            1.0 - BETA1**t, 1.0 - BETA2**t, GRAD_MAX,
        )
        if lower is not None:
            np.maximum(theta, lower, out=theta)
        if upper is not None:
            np.minimum(theta, upper, out=theta)
        ll_sum += batch.ll
        weight_sum += batch.weight
        extra_sum += batch.weight * batch.extra
        load = batch.load if load is None else load + batch.load
    return EpochStats(ll_sum, weight_sum, load, extra_sum / weight_sum)


def run_adam(design, family, params, *, max_iter, tol, gate_alpha, batch_size,
             learning_rate, rng, state=None, verbose=0, report_shift=0.0, label="Adam",
             objective=None):
    """Run up to ``max_iter`` epochs of Adam from ``params``.

    ``objective`` defaults to the dense :class:`MixtureObjective`; the sparse
    model passes its own (same interface: ``pack``, ``unpack``,
    ``bounds``, ``batch_grad``, ``penalty``, ``evaluate``).

    Returns
    -------
    result : FitResult
        ``curve`` holds one value per epoch (the running mean log-likelihood
        of the epoch, see the module docstring); ``log_likelihood`` is the
        exact mean log-likelihood of the returned parameters;
        ``optimizer_state`` the Adam state (``AdamState.to_dict``) for
        continuing with ``partial_fit``.
    """
    t_start = time.perf_counter()
    if objective is None:
        objective = MixtureObjective(design, family, gate_alpha)
    like = params
    theta, lower, upper = clipped_start(objective, params)
    if state is None or state.m.shape != theta.shape:
        # fit: ramp over at most one epoch (small data sets take few steps
        # per epoch and would otherwise spend most epochs ramping up)
        steps_per_epoch = -(-design.n_samples // batch_size)
        state = AdamState.fresh(theta.shape[0], min(WARMUP_STEPS, steps_per_epoch))
    curve, objective_curve = [], []
    best_loss = np.inf
    no_improvement = 0
    converged = False
    n_iter = 0
    for epoch in range(int(max_iter)):
        stats = adam_pass(
            objective, theta, like, state, design, batch_size=batch_size,
            learning_rate=learning_rate, rng=rng, lower=lower, upper=upper,
        )
        n_iter = epoch + 1
        ll = stats.ll_sum / stats.weight_sum
        penalty = objective.penalty(objective.unpack(theta, like, copy=False))
        obj = ll - penalty / objective.total_weight
        curve.append(ll)
        objective_curve.append(obj)
        if verbose >= 1:
            print(f"[{label}] epoch {n_iter:4d}  mean log-likelihood {ll + report_shift: .8f}")
        # the stopping rule watches the whole training loss, load balancing included
        loss = -obj + stats.extra
        if loss > best_loss - tol:
            no_improvement += 1
        else:
            no_improvement = 0
        best_loss = min(best_loss, loss)
        if no_improvement > N_ITER_NO_CHANGE:
            converged = True
            break
    t_solver = time.perf_counter() - t_start
    final = objective.unpack(theta, like)
    result = objective.evaluate(design, final)
    if verbose >= 1:
        state_word = "converged" if converged else "stopped"
        print(f"[{label}] {state_word} after {n_iter} epochs: "
              f"mean log-likelihood {result.log_likelihood + report_shift:.6f}")
    result.curve = curve
    result.objective_curve = objective_curve
    result.n_iter = n_iter
    result.converged = converged
    result.timings = {"solver": t_solver, "total_solver": time.perf_counter() - t_start}
    result.optimizer_state = state.to_dict()
    return result


def clipped_start(objective, params):
    """Packed ``params`` projected onto the objective's bounds, and the bounds."""
    theta = objective.pack(params)
    lower, upper = objective.bounds(params)
    if lower is not None or upper is not None:
        theta = np.clip(theta, lower, upper)
    return theta, lower, upper


class AdamSolver(Solver):
    """Mini-batch Adam (:func:`run_adam`); also one epoch at a time for ``partial_fit``."""

    name = "adam"
    routing = ("dense", "sparse")
    experts = ("linear", "constant", "logistic", "mlp")
    incremental = True

    def run(self, task, params, rng):
        s = self.settings
        return run_adam(
            task.design, task.family, params, max_iter=s.max_iter, tol=s.tol,
            gate_alpha=s.gate_alpha, batch_size=s.batch_size, learning_rate=s.learning_rate,
            rng=rng, verbose=s.verbose, report_shift=task.report_shift,
            objective=task.objective,
        )

    def epoch(self, task, params, state, rng):
        """One pass over ``task.design`` from ``params`` and the stored ``state``.

        Returns the new parameters, the :class:`EpochStats` and the new state
        (``AdamState.to_dict``). A fresh state ramps the learning rate over
        ``WARMUP_STEPS`` steps.
        """
        objective = task.objective
        theta, lower, upper = clipped_start(objective, params)
        adam = AdamState.from_dict(state, theta.shape[0])
        stats = adam_pass(
            objective, theta, params, adam, task.design, batch_size=self.settings.batch_size,
            learning_rate=self.settings.learning_rate, rng=rng, lower=lower, upper=upper,
        )
        return objective.unpack(theta, params), stats, adam.to_dict()
