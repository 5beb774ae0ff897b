"""Small synthetic data sets for the tests."""

import numpy as np


def gated_linear(n_samples, n_regimes=2, n_features=2, n_outputs=1, noise=0.1, seed=0,
                 gate_scale=4.0):
    """Softmax-gated piecewise-linear data with well separated experts.

    Returns ``X, y, truth`` where ``truth`` holds ``coef`` (K, m, d),
    ``intercept`` (K, m), ``var`` (K, m) and the gate ``gate_coef`` (K, d),
    ``gate_intercept`` (K,).
    """
    rng = np.random.RandomState(seed)
    K, d, m = n_regimes, n_features, n_outputs
    X = rng.uniform(-2, 2, size=(n_samples, d))
    # gate directions spread on a circle in the first two features
    angles = 2 * np.pi * np.arange(K) / K
    gate_coef = np.zeros((K, d))
    gate_coef[:, 0] = gate_scale * np.cos(angles)
    if d > 1:
        gate_coef[:, 1] = gate_scale * np.sin(angles)
    gate_intercept = np.zeros(K)
    coef = rng.uniform(-3, 3, size=(K, m, d))
    intercept = rng.uniform(-2, 2, size=(K, m))
    var = np.full((K, m), noise**2) * rng.uniform(0.5, 1.5, size=(K, m))
    logits = X @ gate_coef.T + gate_intercept
    g = np.exp(logits - logits.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    z = np.array([rng.choice(K, p=row) for row in g])
    mean = np.einsum("nmd,nd->nm", coef[z], X) + intercept[z]
    y = mean + rng.normal(size=(n_samples, m)) * np.sqrt(var[z])
    truth = dict(coef=coef, intercept=intercept, var=var, gate_coef=gate_coef,
                 gate_intercept=gate_intercept)
    return X, (y[:, 0] if m == 1 else y), truth


def random_gated_linear(n_samples, n_regimes, n_features, noise=0.3, gate_scale=3.0, seed=0,
                        truth=None):
    """Softmax-gated linear experts with random gate directions in ``n_features`` dims.

    Returns ``X, y, truth``; pass ``truth`` back to draw more data (e.g. a
    held-out set) from the same model. ``truth["log_likelihood"](X, y)`` is the
    generating model's per-sample log-likelihood.
    """
    from scipy.special import logsumexp

    rng = np.random.RandomState(seed)
    K, d = n_regimes, n_features
    if truth is None:
        prng = np.random.RandomState(seed + 10_000)
        W = prng.normal(0, gate_scale / np.sqrt(d), size=(K, d))
        A = prng.normal(size=(K, d))
        c = prng.permutation(np.linspace(-3, 3, K))
        var = (noise * prng.uniform(0.7, 1.3, size=K)) ** 2
        truth = dict(W=W, A=A, c=c, var=var)
    W, A, c, var = truth["W"], truth["A"], truth["c"], truth["var"]
    X = rng.normal(size=(n_samples, d))
    logits = X @ W.T
    g = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    u = rng.uniform(size=n_samples)
    z = np.minimum((np.cumsum(g, axis=1) < u[:, None]).sum(axis=1), K - 1)
    y = np.einsum("nd,nd->n", X, A[z]) + c[z] + rng.normal(size=n_samples) * np.sqrt(var[z])

    def log_likelihood(X, y):
        logits = X @ W.T
        log_g = logits - logsumexp(logits, axis=1, keepdims=True)
        resid = y[:, None] - (X @ A.T + c)
        return logsumexp(log_g - 0.5 * np.log(2 * np.pi * var) - 0.5 * resid**2 / var, axis=1)

    truth["log_likelihood"] = log_likelihood
    return X, y, truth


def hard_regimes(n_samples, n_regimes, n_features, noise=0.3, seed=0, truth=None):
    """Linear regimes on the cells of a linear partition (``argmax`` of random logits).

    Each row belongs to exactly one regime, a deterministic function of ``x``
    (unlike :func:`random_gated_linear`, whose regimes are drawn from a soft
    gate): the data a top-1 model can fit exactly. Returns ``X, y, truth``
    with ``truth["regime"]`` the regime of each row.
    """
    rng = np.random.RandomState(seed)
    K, d = n_regimes, n_features
    if truth is None:
        prng = np.random.RandomState(seed + 20_000)
        truth = {
            "W": prng.normal(size=(K, d)),
            "A": prng.normal(size=(K, d)),
            "c": np.linspace(-3, 3, K)[prng.permutation(K)],
        }
    X = rng.normal(size=(n_samples, d))
    z = np.argmax(X @ truth["W"].T, axis=1)
    y = np.einsum("nd,nd->n", X, truth["A"][z]) + truth["c"][z] + noise * rng.normal(size=n_samples)
    return X, y, {**truth, "regime": z}
