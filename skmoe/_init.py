"""Starting partitions and first parameters from responsibilities.

:func:`start_partition` draws one starting partition of a kind (weighted
k-means++ with Lloyd iterations on the standardised ``[X, target]`` rows,
random hard partitions, runs along the target, along the residuals of one
linear fit, or along a single feature, or Dirichlet responsibilities for
``init="random"``); :func:`params_from_resp` turns responsibilities into
first parameters by an M-step. Which kinds the search draws, how many and
how they are run is ``skmoe._start``'s.

The designs the search runs on are canonical (rows selected by hashing row
values, de-duplicated with summed weights, sorted: ``_data.canonical_subsample``),
so row order and duplication (integer ``sample_weight`` versus repeated
rows) do not change a partition.
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


#: Kinds of starting partition (see :func:`start_partition`).
PARTITION_KINDS = ("kmeans", "random", "feature", "target", "residual", "dirichlet")


def soften(labels, n_experts):
    """Hard labels -> responsibilities, softened so that no expert starts empty."""
    resp = np.zeros((labels.shape[0], n_experts))
    resp[np.arange(labels.shape[0]), labels] = 1.0
    return 0.98 * resp + 0.02 / n_experts


def segments(values, weight, n_parts, rng=None):
    """Labels cutting the rows into ``n_parts`` runs along ``values``.

    Runs of equal weight, or with ``rng`` cut at uniformly drawn shares of
    the weight (a regime that holds a fifth of the rows is then found as
    often as one that holds half). Ties keep the rows' order (stable sort),
    which is canonical on the designs the search runs on.
    """
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weight[order])
    mid = (cum - 0.5 * weight[order]) / cum[-1]
    if rng is None:
        cuts = np.arange(1, n_parts) / n_parts
    else:
        cuts = np.sort(rng.uniform(size=n_parts - 1))
    labels = np.empty(values.shape[0], dtype=np.int64)
    labels[order] = np.searchsorted(cuts, mid, side="right")
    return labels


def residual_direction(design, columns):
    """Residuals of one weighted least-squares fit of ``columns`` on the features.

    ``columns`` (n, m) are the target columns of the partition; returns the
    residuals projected on their first principal direction, ``(n,)``.
    """
    X1, w = design.X1, design.weight
    sw = np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(X1 * sw, columns * sw, rcond=None)
    resid = columns - X1 @ coef
    if resid.shape[1] == 1:
        return resid[:, 0]
    _, _, vt = np.linalg.svd(resid * sw, full_matrices=False)
    return resid @ vt[0]


def start_partition(kind, design, columns, n_experts, rng):
    """Starting responsibilities of one kind, shape ``(n_rows, n_experts)``.

    ``"kmeans"``: weighted k-means++ on ``[X, columns]``; ``"random"``: a
    random hard partition (flexmix's default start); ``"feature"``: runs
    along one feature drawn by ``rng``, cut at random shares of the weight
    (``segments``); ``"target"``: runs along
    the target columns (their first principal direction); ``"residual"``:
    runs along the residuals of one linear fit, which separates regimes
    lying above and below a pooled regression line; ``"dirichlet"``: soft
    random responsibilities (``init="random"``). ``columns`` are the
    codec's target columns (``partition_columns``). Row order matters only
    through ``rng``'s draws per row, and the designs here are canonical.
    """
    n, K = design.n_samples, n_experts
    if kind == "dirichlet":
        return rng.dirichlet(np.ones(K), size=n)
    if kind == "random":
        return soften(rng.randint(K, size=n), K)
    if kind == "kmeans":
        Z = np.hstack([design.X1[:, 1:], columns])
        return soften(weighted_kmeans(Z, design.weight, K, rng), K)
    if kind == "feature" and design.n_columns > 1:
        values = design.X1[:, 1 + rng.randint(design.n_columns - 1)]
    elif kind == "residual" and design.n_columns > 1:
        values = residual_direction(design, columns)
    else:  # "target", and the feature kinds without features
        values = residual_direction(_Intercept(design), columns)
    return soften(segments(values, design.weight, K, rng), K)


class _Intercept:
    """The intercept column of a design (the residuals of the mean)."""

    def __init__(self, design):
        self.X1, self.weight = design.X1[:, :1], design.weight


def params_from_resp(design, family, gate_step, resp, gate_fit_steps=5, expert_fit_steps=5,
                     gate=None):
    """First M-step: expert parameters and a gate fitted to ``resp``.

    The gate's fit starts from ``gate`` when given, else from the log of the
    experts' shares.
    """
    resp = np.ascontiguousarray(resp)
    n_experts = resp.shape[1]
    experts = None
    start_gate = gate
    gate = np.zeros((n_experts, design.n_columns)) if gate is None else gate.copy()
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
    if start_gate is None:
        share = np.maximum(stats["n"] / stats["n"].sum(), 1e-12)
        gate[:, 0] = np.log(share) - np.log(share).mean()
    gate = gate_step.fit(design, resp, gate, gate_fit_steps)
    return {"gate": gate, "experts": experts}
