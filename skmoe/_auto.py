"""``n_experts="auto"``: the number of experts chosen by BIC along a path of grown models.

The path starts from one expert (the weighted ridge fit) and grows one
expert at a time: the model with ``K`` experts starts from the converged
model with ``K - 1`` by splitting one of its experts in two (the
``GROW_SPLITS`` experts that explain their rows worst, each split along its
residuals and by 2-means: ``skmoe._moves.halves``), each trial run
``MOVE_ITER`` EM iterations, the best (non-degenerate first, then the
penalised objective) run to convergence. Each model on the path is scored
by

    BIC(K) = -2 * sum_i w_i log p(y_i | x_i) + p(K) * log(sum_i w_i)

at its penalised (MAP) fit, with ``p(K)`` the free parameters counted as for
:meth:`bic` (weights count as repeated rows). The path stops after
``AUTO_PATIENCE`` models in a row that do not lower the best BIC, at
``AUTO_MAX_EXPERTS`` experts, at a degenerate model, or when an expert
would have fewer than ``2(d + 1)`` rows on average; the ``K`` of the lowest
BIC is then fitted as an ``int`` ``n_experts`` would be (the full start
search at that ``K``). Above ``SUBSAMPLE_ROWS`` rows the path runs on the
canonical subsample of the start search and its BIC is that of the
subsample (scaled to the whole weight, the subsample's in-sample gain of
each extra expert would be counted 50 times at 1e6 rows: on 1e6 rows from 8
regimes that chose 10 experts).
mlp and estimator experts choose ``K`` with their linear (logistic)
stand-ins, as their start search does.
"""

import numpy as np

from ._criteria import free_params
from ._experts import expert_entry
from ._gate import GateMStep
from ._init import params_from_resp
from ._moves import MOVE_ITER, degenerate, halves, own_loglik
from ._passes import estep_pass
from ._solvers._em import run_em
from ._start import GATE_STEPS_SUBSAMPLE, SUBSAMPLE_ROWS, better

#: The largest model the path tries, and how many models in a row may fail
#: to lower the best BIC before it stops.
AUTO_MAX_EXPERTS = 10
AUTO_PATIENCE = 2
#: Experts (worst explained first) whose split is tried at each step.
GROW_SPLITS = 2
GROW_KINDS = ("residual", "kmeans")


def max_experts(total_weight, n_distinct, n_columns):
    """The largest ``K`` of the path: ``AUTO_MAX_EXPERTS``, ``2(d + 1)`` rows per expert."""
    by_rows = int(total_weight // (2 * n_columns))
    return int(max(1, min(AUTO_MAX_EXPERTS, by_rows, n_distinct)))


def grown(design, family, new_family, gate_step, previous, columns, rng):
    """Starts (for ``new_family``) of the trials that split an expert of ``previous``."""
    K = previous["gate"].shape[0]
    n = design.n_samples
    resp, log_norm = np.empty((n, K)), np.empty(n)
    estep_pass(design, family, previous, resp, log_norm)
    own, along = own_loglik(family, previous, design)
    mass = design.weight @ resp + 1e-300
    fit = np.einsum("i,ik,ik->k", design.weight, resp, own) / mass
    for k in np.argsort(fit, kind="stable")[:GROW_SPLITS]:
        for kind in GROW_KINDS:
            share = halves(kind, design, columns, resp[:, k], along[:, k], rng)
            new_resp = np.hstack([resp, (resp[:, k] * (1.0 - share))[:, None]])
            new_resp[:, k] *= share
            gate = np.vstack([previous["gate"], previous["gate"][k]])
            gate[[k, K], 0] -= np.log(2.0)
            gate -= gate.mean(axis=0)
            yield params_from_resp(design, new_family, gate_step, new_resp, gate=gate)


def _beats(a, b):
    """``(ok, result)`` pairs: non-degenerate first, then the objective (ties keep ``b``)."""
    if a[0] != b[0]:
        return a[0]
    return better(a[1].objective, b[1].objective)


def auto_structure(make_plan, data, rng):
    """``(structure, path)`` of ``n_experts="auto"`` (one seed drawn from ``rng``)."""
    seed = int(rng.randint(np.iinfo(np.int32).max))
    K, path = choose_n_experts(make_plan, data, seed)
    return make_plan(K).structure, path


def choose_n_experts(make_plan, data, seed):
    """``(K, path)``: the number of experts of the lowest BIC and the path of candidates.

    ``make_plan(K)`` is the estimator's ``FitPlan`` for ``K`` experts;
    ``path`` holds the arrays ``n_experts``, ``bic`` and ``log_likelihood``
    (mean per unit weight, the user's units) of the models tried.
    """
    from ._engine import learn_prior_scale

    rng = np.random.RandomState(seed)
    plan = make_plan(1)
    target, settings = plan.target, plan.settings
    x_scaler = data.fit_scaling(target)
    if data.small:
        design = data.design(x_scaler, target)
    else:
        design = data.canonical_design(x_scaler, target, SUBSAMPLE_ROWS, 0, 2)
    learn_prior_scale(plan, design)
    proxy = expert_entry(plan.structure.expert).start_for("em") != "search"
    # BIC of the rows the path is fitted to: the data, or the canonical
    # subsample of large data (scaling the subsample's log-likelihood to all
    # rows would multiply its in-sample optimism, and choose too many experts)
    weight = design.total_weight
    d = design.n_columns - 1
    shift = target.log_likelihood_shift()
    columns = target.cluster_features(design)

    def run(family, gate_step, params, max_iter):
        return run_em(design, family, gate_step, params, max_iter=max_iter, tol=settings.tol,
                      gate_alpha=settings.gate_alpha, gate_steps=GATE_STEPS_SUBSAMPLE,
                      verbose=max(settings.verbose - 1, 0), label="auto",
                      report_shift=shift)

    def score(K, family, result):
        """BIC in the user's units."""
        n_params = free_params(K, d, family)
        ll = result.log_likelihood + shift
        return -2.0 * weight * ll + n_params * np.log(weight)

    family = make_plan(1).make_family(seed, proxy=proxy)
    gate_step = GateMStep(design, settings.gate_alpha, 1)
    start = params_from_resp(design, family, gate_step, np.ones((design.n_samples, 1)))
    current = run(family, gate_step, start, settings.max_iter)
    path = [(1, score(1, family, current), current.log_likelihood)]
    best_K, best_bic, stale = 1, path[0][1], 0
    K_max = max_experts(weight, design.n_samples, design.n_columns)
    for K in range(2, K_max + 1):
        new_family = make_plan(K).make_family(seed, proxy=proxy)
        new_gate = GateMStep(design, settings.gate_alpha, K)
        best = None
        for params in grown(design, family, new_family, new_gate, current.params, columns, rng):
            trial = run(new_family, new_gate, params, MOVE_ITER)
            ok = not degenerate(new_family, trial.params, trial.expert_weight, weight,
                                design.n_columns)
            if best is None or _beats((ok, trial), best):
                best = (ok, trial)
        ok, trial = best
        if not ok:
            break
        current = run(new_family, new_gate, trial.params, settings.max_iter)
        if degenerate(new_family, current.params, current.expert_weight, weight,
                      design.n_columns):
            break
        family = new_family
        bic = score(K, family, current)
        path.append((K, bic, current.log_likelihood))
        if bic < best_bic:
            best_K, best_bic, stale = K, bic, 0
        else:
            stale += 1
            if stale >= AUTO_PATIENCE:
                break
    ks, bics, lls = zip(*path, strict=True)
    return best_K, {"n_experts": np.asarray(ks, dtype=np.intp), "bic": np.asarray(bics),
                    "log_likelihood": np.asarray(lls) + shift}
