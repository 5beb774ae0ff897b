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
