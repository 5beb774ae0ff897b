"""The start search: the first parameters of each restart.

Built-in experts (linear, constant, logistic) run the search of
:meth:`StartSearch.search`: a budget of starts of several kinds
(``skmoe._init.start_partition``), screened by short EM runs on a canonical
subsample, the better half continued, the best run to convergence (on the
data when it is small, on a larger subsample otherwise), then
split-and-merge moves there (``skmoe._moves``), then the solver on all the
data. Degenerate states rank below all others.

Experts that do not run the search themselves (mlp with L-BFGS, estimator
experts) search with linear (logistic) proxy experts, keep the
gate, and seed their experts from its responsibilities on the data. mlp
experts fitted by Adam, and sparse models with ``init="random"``, start
flat instead (a near-uniform gate, experts fitted to all the data or to
random responsibilities): the usual deep-learning start, from which the
experts specialise together. Which start each expert uses, and why, is
measured in ``benchmarks/README.md`` ("Measurements behind constants").

Every subsample is canonical (``skmoe._data.canonical_subsample``): row
order, and duplicated rows versus integer weights, do not change the start.
"""

import numpy as np

from ._experts import expert_entry
from ._gate import GateMStep
from ._init import params_from_resp, start_partition
from ._moves import Trajectory, degenerate, n_trials, split_and_merge
from ._passes import estep_pass
from ._solvers._em import run_em

#: The start budget: ``START_BUDGET`` row-expert-iterations of screening
#: (``SCREEN_ITER`` EM iterations per start, each row costing as if
#: ``OVERHEAD_ROWS`` more were there, the per-iteration overhead), at least
#: the codec's ``MIN_STARTS`` and at most ``MAX_STARTS`` starts: a 133-row
#: problem tries ``MAX_STARTS``, large data the minimum. The best
#: ``KEEP_SHARE`` of the screened starts continue to ``SHORT_ITER``
#: iterations; the best of those is run to convergence.
START_BUDGET = 2.5e6
OVERHEAD_ROWS = 2_000
MAX_STARTS = 24
SCREEN_ITER = 8
KEEP_SHARE = 0.5
SHORT_ITER = 25
#: The kinds of start (``skmoe._init.start_partition``) in the order they
#: are drawn, cycled: k-means every other start, and with at most the
#: codec's ``FEW_FEATURES`` features, more partitions along single features.
START_KINDS = ("kmeans", "random", "kmeans", "residual", "kmeans", "target", "kmeans",
               "feature")
START_KINDS_FEW = ("kmeans", "feature", "random", "residual", "target", "feature")
#: The short runs of the start search run on at least this many rows, and
#: this many per parameter of the experts.
CANDIDATE_ROWS = 5_000
CANDIDATE_ROWS_PER_PARAM = 40
#: Böhning gate steps per M-step of the short runs, of the subsample run
#: (and of EM on small data, which is such a subsample), and of EM on large
#: or distributed data.
GATE_STEPS_SHORT = 1
GATE_STEPS_SUBSAMPLE = 2
GATE_STEPS_FULL = 1
#: EM iterations of the search's subsample run for the gradient solvers
#: (for EM, ``max_iter`` caps it).
START_MAX_ITER = 200
#: Up to this many (weighted, de-duplicated) rows, EM runs on the canonical
#: de-duplicated data directly; above it, starts are searched on a hashed
#: subsample of about this size and the full data is only used at the end.
SUBSAMPLE_ROWS = 20_000
#: Runs whose objectives differ by less than this (relative) are ties, broken
#: by order, so that round-off cannot pick a relabelled twin.
TIE_RTOL = 1e-9


def better(value, best):
    """``value`` beats ``best`` by more than a round-off tie."""
    return value > best + TIE_RTOL * max(abs(best), 1.0)


def n_starts(rows, n_experts, min_starts):
    """Starts screened on ``rows`` rows (see ``START_BUDGET``)."""
    budget = int(START_BUDGET / ((rows + OVERHEAD_ROWS) * n_experts * SCREEN_ITER))
    return int(np.clip(budget, min_starts, max(MAX_STARTS, min_starts)))


def start_kinds(init, count, n_features, few_features):
    """The kinds of the ``count`` starts: all ``"dirichlet"`` for ``init="random"``."""
    if init == "random":
        return ["dirichlet"] * count
    kinds = START_KINDS_FEW if n_features <= few_features else START_KINDS
    return [kinds[i % len(kinds)] for i in range(count)]


class Start:
    """A run of the search: its last result, whether it counts, its trajectory."""

    def __init__(self, result, design, family, trajectory):
        self.trajectory = trajectory
        self.update(result, design, family)

    def update(self, result, design, family):
        self.result = result
        self.ok = not degenerate(family, result.params, result.expert_weight,
                                 design.total_weight, design.n_columns)
        if self.trajectory is not None:
            self.trajectory.extend(result)

    def beats(self, other):
        """Non-degenerate first, then the objective (ties keep the earlier start)."""
        if self.ok != other.ok:
            return self.ok
        return better(self.result.objective, other.result.objective)


def ranked(starts):
    """``starts`` best first (stable: a tie keeps the order in which they were drawn)."""
    order = []
    for start in starts:
        at = len(order)
        while at > 0 and start.beats(order[at - 1]):
            at -= 1
        order.insert(at, start)
    return order


class StartSearch:
    """Starting parameters of the restarts of one fit.

    Parameters
    ----------
    plan : skmoe._engine.FitPlan
        Structure, target codec, solver settings, family factories.
    data : training data (``skmoe._inputs.MemoryTrainingData`` or the Dask twin)
        Draws the canonical subsamples.
    x_scaler : Scaler
    design : Design or DaskDesign
        The rows the solver runs on.
    gate_step : GateMStep
        The gate's M-step on ``design``.
    """

    def __init__(self, plan, data, x_scaler, design, gate_step):
        self.plan = plan
        self.data = data
        self.x_scaler = x_scaler
        self.design = design
        self.gate_step = gate_step

    def initial_params(self, family, seed):
        """Starting parameters of the restart seeded ``seed`` for ``family``.

        How a restart starts is the expert entry's (``skmoe._experts``
        registry): ``"search"``, ``"proxy"`` or ``"flat"`` for the solver.
        Returns ``(params, trajectory)``: the :class:`~skmoe._moves.Trajectory`
        of the search when it ran on the solver's own rows (small data,
        EM), else None.
        """
        plan = self.plan
        rng = np.random.RandomState(seed)
        K = plan.structure.n_experts
        entry = expert_entry(plan.structure.expert)
        if plan.structure.sparse and plan.init == "random":
            # one M-step on random responsibilities: near-identical experts
            # and a nearly flat gate (no EM)
            resp = start_partition("dirichlet", self.design, None, K, rng)
            return self.flat_start(entry, family, resp, rng), None
        start = entry.start_for(plan.solver.name)
        if start == "flat":
            resp = np.full((self.design.n_samples, K), 1.0 / K)
            return self.flat_start(entry, family, resp, rng), None
        if start == "search":
            return self.search(family, seed, plan.solver.name == "em")
        return self.proxy_start(entry, family, seed, rng), None

    def proxy_start(self, entry, family, seed, rng):
        """Search with the entry's proxy experts; seed ``family`` from its responsibilities."""
        K = self.plan.structure.n_experts
        proxy = self.plan.make_family(seed, proxy=True)
        found, _ = self.search(proxy, seed)
        resp = np.empty((self.design.n_samples, K))
        estep_pass(self.design, proxy, found, resp, np.empty(self.design.n_samples))
        experts = family.init_params(self.design, resp, rng, ridge=entry.proxy_init_ridge)
        return {"gate": found["gate"], "experts": experts}

    def flat_start(self, entry, family, resp, rng):
        """Experts from the responsibilities ``resp``, the gate (nearly) flat.

        Entries with a ``flat_init_ridge`` (mlp): each expert fitted to its
        weighted rows by ``init_params``, gate weights ``N(0, 0.01^2)``;
        others: one M-step (``params_from_resp``).
        """
        if entry.flat_init_ridge is None:
            return params_from_resp(self.design, family, self.gate_step, resp)
        experts = family.init_params(self.design, resp, rng, ridge=entry.flat_init_ridge)
        gate = rng.normal(scale=0.01, size=(self.plan.structure.n_experts, self.design.n_columns))
        return {"gate": gate - gate.mean(axis=0), "experts": experts}

    def _subsample(self, max_rows, seed):
        min_rows = 2 * self.plan.structure.n_experts
        return self.data.canonical_design(self.x_scaler, self.plan.target, max_rows, seed,
                                          min_rows)

    def _em(self, design, family, gate_step, params, max_iter, gate_steps, label,
            data_steps=True):
        s = self.plan.settings
        return run_em(
            design, family, gate_step, params, max_iter=max_iter, tol=s.tol,
            gate_alpha=s.gate_alpha, gate_steps=gate_steps, verbose=max(s.verbose - 1, 0),
            label=label, report_shift=self.plan.report_shift, expert_data_steps=data_steps,
        )

    def search(self, family, seed, join=False):
        """Screen many starts, continue the best, converge the winner, then move.

        The starts (:func:`start_kinds`, their number by :func:`n_starts`)
        run ``SCREEN_ITER`` EM iterations on about ``CANDIDATE_ROWS`` rows;
        the best ``KEEP_SHARE`` continue to ``SHORT_ITER``; the winner is
        run to convergence on the data when it is small (on about
        ``SUBSAMPLE_ROWS`` rows otherwise), and split-and-merge moves
        (``skmoe._moves``) are tried there before the solver takes over.
        Returns ``(params, trajectory)``; the trajectory (with ``join``, on
        small data) holds the winner's iterations on the solver's rows.
        """
        plan = self.plan
        rng = np.random.RandomState(seed)
        K, s, codec = plan.structure.n_experts, plan.settings, plan.target
        # max_iter caps EM's own runs; for the gradient solvers it counts
        # their iterations or epochs, not the start search's
        em_cap = s.max_iter if plan.solver.name == "em" else START_MAX_ITER
        n_features = self.design.n_columns - 1
        cand_rows = max(CANDIDATE_ROWS, CANDIDATE_ROWS_PER_PARAM * K * (n_features + 1))
        on_design = self.data.small and self.design.n_samples <= cand_rows
        if on_design:
            cand, gate_cand = self.design, self.gate_step
        else:
            cand = self._subsample(cand_rows, seed)
            gate_cand = GateMStep(cand, s.gate_alpha, K)
        columns = codec.cluster_features(cand)
        count = n_starts(cand.n_samples, K, codec.MIN_STARTS)
        starts = []
        for kind in start_kinds(plan.init, count, n_features, codec.FEW_FEATURES):
            params = params_from_resp(cand, family, gate_cand,
                                      start_partition(kind, cand, columns, K, rng))
            result = self._em(cand, family, gate_cand, params, min(SCREEN_ITER, em_cap),
                              GATE_STEPS_SHORT, "start", data_steps=False)
            starts.append(Start(result, cand, family, Trajectory() if on_design else None))
        kept = ranked(starts)[: max(1, int(np.ceil(KEEP_SHARE * len(starts))))]
        for start in kept:
            if not start.result.converged and em_cap > SCREEN_ITER:
                start.update(self._em(cand, family, gate_cand, start.result.params,
                                      min(SHORT_ITER, em_cap) - SCREEN_ITER, GATE_STEPS_SHORT,
                                      "start", data_steps=False), cand, family)
        best = ranked(kept)[0]
        if self.data.small:
            design, gate = self.design, self.gate_step
            trajectory = best.trajectory if on_design else Trajectory()
        else:
            design = self._subsample(SUBSAMPLE_ROWS, seed)
            gate, trajectory = GateMStep(design, s.gate_alpha, K), None

        def run(params, max_iter):
            return self._em(design, family, gate, params,
                            em_cap if max_iter is None else min(max_iter, em_cap),
                            GATE_STEPS_SUBSAMPLE, "subsample")

        result = run(best.result.params, None)
        if trajectory is not None:
            trajectory.extend(result)
        trials = n_trials(design.n_samples, K, codec.MIN_TRIALS)
        if not (self.data.small or codec.MOVES_ON_SUBSAMPLE):
            trials = 0
        result, _ = split_and_merge(run, design, family, gate, result,
                                    codec.cluster_features(design), s.tol, trials, rng, trajectory)
        return result.params, (trajectory if join else None)
