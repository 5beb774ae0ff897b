"""The start search: the first parameters of each restart.

Built-in experts (linear, constant, logistic) run the search of
:meth:`StartSearch.search`: several starting partitions (``skmoe._init``),
a short EM run from each on a canonical subsample, the best one run to
convergence on a larger subsample when the data is large, then handed to
the solver. Experts that do not run the search themselves (mlp with L-BFGS,
estimator experts) search with linear (logistic) proxy experts, keep the
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
from ._init import initial_resp, params_from_resp
from ._passes import estep_pass
from ._solvers._em import run_em

#: Starting partitions tried per restart, short-EM iterations for each, and
#: the rows they run on (at least this many, and this many per parameter of
#: the experts).
N_CANDIDATES = 8
SHORT_ITER = 25
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
        """
        plan = self.plan
        rng = np.random.RandomState(seed)
        K = plan.structure.n_experts
        entry = expert_entry(plan.structure.expert)
        if plan.structure.sparse and plan.init == "random":
            # one M-step on random responsibilities: near-identical experts
            # and a nearly flat gate (no EM)
            resp = initial_resp(self.design, None, K, "random", rng)
            return self.flat_start(entry, family, resp, rng)
        start = entry.start_for(plan.solver.name)
        if start == "flat":
            resp = np.full((self.design.n_samples, K), 1.0 / K)
            return self.flat_start(entry, family, resp, rng)
        if start == "search":
            return self.search(family, seed)
        return self.proxy_start(entry, family, seed, rng)

    def proxy_start(self, entry, family, seed, rng):
        """Search with the entry's proxy experts; seed ``family`` from its responsibilities."""
        K = self.plan.structure.n_experts
        proxy = self.plan.make_family(seed, proxy=True)
        found = self.search(proxy, seed)
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

    def _em(self, design, family, gate_step, params, max_iter, gate_steps, label):
        s = self.plan.settings
        return run_em(
            design, family, gate_step, params, max_iter=max_iter, tol=s.tol,
            gate_alpha=s.gate_alpha, gate_steps=gate_steps, verbose=max(s.verbose - 1, 0),
            label=label, report_shift=self.plan.report_shift,
        )

    def search(self, family, seed):
        """Best of several short EM runs on a canonical subsample.

        The candidates run on about ``CANDIDATE_ROWS`` rows; the winner is
        run to convergence on about ``SUBSAMPLE_ROWS`` rows when the data is
        larger than that, and then handed to the solver on all the data.
        """
        plan = self.plan
        rng = np.random.RandomState(seed)
        K, s = plan.structure.n_experts, plan.settings
        # max_iter caps EM's own runs; for the gradient solvers it counts
        # their iterations or epochs, not the start search's
        em_cap = s.max_iter if plan.solver.name == "em" else START_MAX_ITER
        n_features = self.design.n_columns - 1
        cand_rows = max(CANDIDATE_ROWS, CANDIDATE_ROWS_PER_PARAM * K * (n_features + 1))
        if self.data.small and self.design.n_samples <= cand_rows:
            cand, gate_cand = self.design, self.gate_step
        else:
            cand = self._subsample(cand_rows, seed)
            gate_cand = GateMStep(cand, s.gate_alpha, K)
        features = plan.target.cluster_features(cand)
        best = None
        for _ in range(N_CANDIDATES):
            resp = initial_resp(cand, features, K, plan.init, rng)
            params = params_from_resp(cand, family, gate_cand, resp)
            result = self._em(cand, family, gate_cand, params, min(SHORT_ITER, em_cap),
                              GATE_STEPS_SHORT, "start")
            if best is None or better(result.objective, best.objective):
                best = result
        if not self.data.small:
            sub = self._subsample(SUBSAMPLE_ROWS, seed)
            best = self._em(sub, family, GateMStep(sub, s.gate_alpha, K), best.params, em_cap,
                            GATE_STEPS_SUBSAMPLE, "subsample")
        return best.params
