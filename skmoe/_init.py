"""Initialisation: responsibilities -> first parameters, and the start search.

Strategy (what the defaults do): a single
k-means start gets stuck in poor local optima once ``n_experts`` grows, so
each restart

1. draws ``n_candidates`` starting partitions (weighted k-means++ with Lloyd
   iterations on the standardised ``[X, target]`` rows for ``init="kmeans"``,
   Dirichlet responsibilities for ``init="random"``) on a canonical subsample,
2. runs a short EM from each and keeps the best,
3. runs that one to convergence on the subsample,
4. and hands it to the full-data EM, which then needs few iterations.

The subsample is selected by hashing row values and de-duplicated with
summed weights (``_data.canonical_subsample``), so row order and duplication
(integer ``sample_weight`` versus repeated rows) do not change the start.
"""

import numpy as np

from ._passes import MStepContext, RowPasses
from ._solvers._em import COLLAPSE_SHARE


def weighted_kmeans(Z, weight, n_clusters, rng, n_iter=25):
    """Weighted k-means++ (greedy) seeding followed by Lloyd iterations.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_dims)
    weight : ndarray of shape (n_rows,)
    n_clusters : int
    rng : numpy.random.RandomState
    n_iter : int

    Returns
    -------
    labels : ndarray of shape (n_rows,), int
    """
    n = Z.shape[0]
    sq_norm = np.einsum("ij,ij->i", Z, Z)
    n_trials = 2 + int(np.log(n_clusters))

    def sq_dist(centers):
        d2 = sq_norm[:, None] - 2.0 * Z @ centers.T + np.einsum("ij,ij->i", centers, centers)
        return np.maximum(d2, 0.0)

    p = weight / weight.sum()
    centers = np.empty((n_clusters, Z.shape[1]))
    centers[0] = Z[rng.choice(n, p=p)]
    closest = sq_dist(centers[:1])[:, 0]
    for c in range(1, n_clusters):
        pot = weight * closest
        total = pot.sum()
        if total <= 0:
            cand = rng.choice(n, size=n_trials, p=p)
        else:
            cand = rng.choice(n, size=n_trials, p=pot / total)
        d_cand = np.minimum(closest[:, None], sq_dist(Z[cand]))
        best = int(np.argmin(weight @ d_cand))
        centers[c] = Z[cand[best]]
        closest = d_cand[:, best]
    labels = np.argmin(sq_dist(centers), axis=1)
    for _ in range(n_iter):
        mass = np.bincount(labels, weights=weight, minlength=n_clusters)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, Z * weight[:, None])
        nonempty = mass > 0
        centers[nonempty] = sums[nonempty] / mass[nonempty, None]
        new_labels = np.argmin(sq_dist(centers), axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return labels


def initial_resp(design, cluster_features, n_experts, init, rng):
    """Starting responsibilities of shape (n_rows, n_experts)."""
    n = design.n_samples
    if init == "random":
        return rng.dirichlet(np.ones(n_experts), size=n)
    Z = np.hstack([design.X1[:, 1:], cluster_features])
    labels = weighted_kmeans(Z, design.weight, n_experts, rng)
    resp = np.zeros((n, n_experts))
    resp[np.arange(n), labels] = 1.0
    # soften slightly so that no expert starts with an empty data set
    resp = 0.98 * resp + 0.02 / n_experts
    return resp


def params_from_resp(design, family, gate_step, resp, gate_fit_steps=5, expert_fit_steps=5):
    """First M-step: expert parameters and a gate fitted to ``resp``."""
    resp = np.ascontiguousarray(resp)
    n_experts = resp.shape[1]
    experts = None
    gate = np.zeros((n_experts, design.n_columns))
    for _ in range(expert_fit_steps if family.iterative else 1):
        stats = family.new_stats(design.n_columns)
        for sl in design.chunks(n_experts * family.width + design.n_columns):
            family.accumulate(
                stats, experts, design.X1[sl], design.target[sl], resp[sl] * design.weight[sl, None]
            )
        collapsed = stats["n"] <= COLLAPSE_SHARE * design.total_weight
        context = None
        if family.iterative or getattr(family, "needs_data", False):
            context = MStepContext(
                RowPasses(design, n_experts, resp), family,
                {"gate": gate, "experts": experts}, design,
            )
        experts = family.mstep(stats, experts, collapsed, context)
    # start from the log of the experts' shares so that the intercepts are right
    share = np.maximum(stats["n"] / stats["n"].sum(), 1e-12)
    gate[:, 0] = np.log(share) - np.log(share).mean()
    gate = gate_step.fit(design, resp, gate, gate_fit_steps)
    return {"gate": gate, "experts": experts}
