"""Split-and-merge moves after convergence, and which states count.

EM converges to the optimum its start leads to. After the search's winner
has converged, :func:`split_and_merge` tries moves in the spirit of SMEM
(Ueda, Nakano, Ghahramani and Hinton 2000): merge the two experts whose
responsibilities overlap most (cosine of their responsibility columns),
which frees a slot, and split the expert that explains its rows worst
(lowest responsibility-weighted mean log-likelihood of its own rows) into
two halves, along its residuals or by 2-means on its rows. The moved
responsibilities get one M-step and ``MOVE_ITER`` EM iterations; a trial
still rising fast enough to catch up is run to convergence. A move is kept
only if the penalised objective then exceeds the current one by more than
``tol * |objective|`` and the new state is not degenerate; ties are
rejected, so row order and ``n_jobs`` cannot change the outcome. The moves
repeat until no trial helps. EM is monotone within each run and a move is
accepted only uphill, so the objective of the kept state never decreases.

**Degenerate states** (:func:`degenerate`): the Gaussian likelihood is
unbounded as an expert's variance shrinks onto a few rows (bounded here
only by the variance floor). A state in which an expert that is not
collapsed has weighted count below ``2q`` (``q`` its inputs, ``d + 1`` for
linear experts), or a variance within ``TIGHT_FACTOR`` of the floor on
fewer than ``max(10q, 1% of the weight)`` rows, does not count as an
optimum: the search ranks it below every other state and the moves never
move into it. A tight expert on many rows (a regime of exactly repeated
targets) is a real optimum and stays allowed.
"""

import numpy as np

from ._init import params_from_resp, segments, weighted_kmeans
from ._passes import estep_pass
from ._solvers._em import COLLAPSE_SHARE

#: EM iterations of a trial move before it is judged.
MOVE_ITER = 15
#: A trial below the current objective after ``MOVE_ITER`` iterations is run
#: to convergence when its gain over its last ``PROMISE_ITER`` iterations,
#: times ``PROMISE_FACTOR``, would close the gap.
PROMISE_ITER = 5
PROMISE_FACTOR = 10.0
#: Trials per round of moves: ``MOVE_BUDGET`` row-expert-iterations, at
#: least the codec's ``MIN_TRIALS`` and at most ``MAX_TRIALS``; at most
#: ``MAX_MOVES`` accepted moves per fit.
MOVE_BUDGET = 2e6
MAX_TRIALS = 6
MAX_MOVES = 10
#: A variance within this factor of the floor is "tight".
TIGHT_FACTOR = 10.0
#: An expert with fewer rows than this share of the weight (and fewer than
#: ``10q``) may not be tight.
TIGHT_SHARE = 0.01


def degenerate(family, params, counts, total_weight, n_columns):
    """Whether a state has an expert that makes it a degenerate optimum."""
    q = family._q(n_columns)
    live = counts > COLLAPSE_SHARE * total_weight
    bad = live & (counts < 2 * q)
    var = params["experts"].get("var") if isinstance(params["experts"], dict) else None
    if var is not None:
        tight = np.any(var <= TIGHT_FACTOR * family.head.var_floor, axis=1)
        bad |= live & tight & (counts < max(10 * q, TIGHT_SHARE * total_weight))
    return bool(bad.any())


class Trajectory:
    """The values a fit reports: full-data EM iterations and accepted moves.

    ``curve``/``objective_curve`` join the runs made on the data the model
    is fitted to (each run's first value repeats the last one and is
    dropped); ``moves`` holds the positions in the curves of the states
    reached by accepted moves.
    """

    def __init__(self):
        self.curve, self.objective_curve, self.moves = [], [], []

    def extend(self, result):
        skip = 1 if self.curve else 0
        self.curve += list(result.curve[skip:])
        self.objective_curve += list(result.objective_curve[skip:])

    def move(self, result):
        self.curve.append(result.curve[-1])
        self.objective_curve.append(result.objective_curve[-1])
        self.moves.append(len(self.curve) - 1)


def own_loglik(family, params, design):
    """Each expert's log-likelihood of each row and the values its split runs along.

    Both ``(n_samples, n_experts)``: the second is the residual of the first
    output for Gaussian experts (a split into rows above and below the
    expert's line), the log-likelihood itself for categorical ones.
    """
    experts, X1 = params["experts"], design.X1
    if "var" in experts:
        var = experts["var"]
        K, m = var.shape
        resid = design.target.reshape(-1, 1, m) - family.means(experts, X1).reshape(-1, K, m)
        own = -0.5 * np.sum(np.log(2 * np.pi * var) + resid**2 / var, axis=2)
        return own, resid[:, :, 0]
    log_proba = family.log_proba(experts, X1)
    own = log_proba[np.arange(design.n_samples), :, design.target]
    return own, own


def trial_moves(resp, own, weight, n_trials):
    """``(merge_i, merge_j, split_k, halves)`` of the trials, most promising first.

    Merges ranked by the cosine of the weighted responsibility columns
    (largest first), splits by the expert's mean log-likelihood of its rows
    (smallest first); trials in the order of the sum of the two ranks.
    ``split_k`` is None when the merged expert itself is split again (the
    only move with two experts).
    """
    K = resp.shape[1]
    wr = resp * np.sqrt(weight)[:, None]
    norm = np.sqrt(np.einsum("ij,ij->j", wr, wr))
    # an expert without responsibility overlaps with none (0 / tiny, never 0 / 0)
    cos = (wr.T @ wr) / np.maximum(np.outer(norm, norm), np.finfo(float).tiny)
    pairs = sorted(((-cos[i, j], i, j) for i in range(K) for j in range(i + 1, K)))
    mass = weight @ resp + 1e-300
    fit = np.einsum("i,ik,ik->k", weight, resp, own) / mass
    splits = list(np.argsort(fit, kind="stable"))
    trials = []
    for rank_m, (_, i, j) in enumerate(pairs):
        others = [k for k in splits if k not in (i, j)] or [None]
        for rank_s, k in enumerate(others):
            trials.append((rank_m + rank_s, len(trials), i, j, k))
    trials.sort()
    kinds = ("residual", "kmeans")
    return [(i, j, k, kinds[n % 2]) for n, (_, _, i, j, k) in enumerate(trials[:n_trials])]


def halves(kind, design, columns, rows, along, rng):
    """Share of each row's responsibility given to the first half, ``(n,)`` in [0, 1]."""
    w = design.weight * rows
    if kind == "residual":
        labels = segments(along, w + 1e-300, 2)
    else:
        Z = np.hstack([design.X1[:, 1:], columns])
        labels = weighted_kmeans(Z, w + 1e-300, 2, rng)
    return 0.98 * (labels == 0) + 0.01


def moved_resp(resp, move, design, columns, along, rng):
    """Responsibilities after merging ``i`` and ``j`` and splitting ``k`` into ``k`` and ``j``."""
    i, j, k, kind = move
    new = resp.copy()
    new[:, i] = resp[:, i] + resp[:, j]
    target = i if k is None else k
    rows = new[:, target]
    share = halves(kind, design, columns, rows, along[:, target], rng)
    new[:, target] = rows * share
    new[:, j] = rows * (1.0 - share)
    return new


def moved_gate(gate, move, mass):
    """The gate's weights after ``move`` (the start of its refit).

    The merged expert gets the mass-weighted mean of the two slopes and the
    log of the sum of their exponentiated intercepts (about the sum of their
    shares); both halves of the split expert start from its weights with
    half its share each.
    """
    i, j, k, _ = move
    new = gate.copy()
    new[i, 1:] = (mass[i] * gate[i, 1:] + mass[j] * gate[j, 1:]) / (mass[i] + mass[j])
    new[i, 0] = np.logaddexp(gate[i, 0], gate[j, 0])
    target = i if k is None else k
    new[target, 0] -= np.log(2.0)
    new[j] = new[target]
    return new


def split_and_merge(run, design, family, gate_step, current, columns, tol, n_trials, rng,
                    trajectory=None):
    """Accept uphill split-and-merge moves from the converged ``current`` until none helps.

    ``run(params, max_iter)`` runs EM on ``design`` (``max_iter=None``: to
    convergence); returns the final :class:`FitResult` and the number of
    accepted moves. Accepted states are added to ``trajectory``.
    """
    K = current.params["gate"].shape[0]
    if K < 2 or n_trials < 1:
        return current, 0
    n, p = design.n_samples, design.n_columns
    resp, log_norm = np.empty((n, K)), np.empty(n)
    accepted = 0
    while accepted < MAX_MOVES:
        estep_pass(design, family, current.params, resp, log_norm)
        own, along = own_loglik(family, current.params, design)
        threshold = current.objective + tol * abs(current.objective)
        mass = design.weight @ resp + 1e-300
        found = None
        for move in trial_moves(resp, own, design.weight, n_trials):
            start = params_from_resp(
                design, family, gate_step, moved_resp(resp, move, design, columns, along, rng),
                gate=moved_gate(current.params["gate"], move, mass))
            trial = run(start, MOVE_ITER)
            curve = trial.objective_curve
            if (trial.objective <= threshold and not trial.converged
                    and len(curve) > PROMISE_ITER
                    and trial.objective + PROMISE_FACTOR * (curve[-1] - curve[-1 - PROMISE_ITER])
                    > threshold):
                trial = run(trial.params, None)
            if trial.objective > threshold and not degenerate(
                    family, trial.params, trial.expert_weight, design.total_weight, p):
                found = trial
                break
        if found is None:
            break
        current = found
        accepted += 1
        if trajectory is not None:
            trajectory.move(current)
    return current, accepted


def n_trials(rows, n_experts, min_trials):
    """Trials per round of moves on ``rows`` rows (see ``MOVE_BUDGET``)."""
    budget = int(MOVE_BUDGET / (rows * n_experts * MOVE_ITER))
    return int(np.clip(budget, min_trials, MAX_TRIALS))
