"""Synthetic softmax-gated multinomial-logistic data for the classifier benchmarks.

The generating model is exactly the dense Mixture-of-Experts classifier
fitted by EM (``expert="logistic"``)::

    g(x)      = softmax(W x + b)                          (K gate logits)
    p(y | x)  = sum_k g_k(x) softmax(B_k x + d_k)[y]      (C classes)

``X`` is standard normal. Rows are generated in chunks and each row's class
logits are computed for its own expert only, so the largest temporaries are
``chunk x K`` and ``chunk x C`` (never ``n x K x d`` or ``n x K x C``).
"""

import numpy as np
from _data import DEFAULT_CHUNK
from scipy.special import logsumexp

__all__ = ["DEFAULT_CHUNK", "make_moe_classification", "true_log_likelihood_classification"]


def _draw_params(rng, n_features, n_experts, n_classes, gate_scale, expert_scale):
    d, K, C = n_features, n_experts, n_classes
    # Gate: as in _data.make_moe_regression: per-feature weights
    # N(0, gate_scale^2 / d), centred across experts, zero intercepts.
    gate_coef = rng.normal(0.0, gate_scale / np.sqrt(d), size=(K, d))
    gate_coef -= gate_coef.mean(axis=0, keepdims=True)
    gate_intercept = np.zeros(K)
    # Experts: per-feature weights N(0, expert_scale^2 / d) (a class logit has
    # standard deviation ~expert_scale), intercepts N(0, 1); both centred over
    # classes (softmax is invariant to a common shift).
    expert_coef = rng.normal(0.0, expert_scale / np.sqrt(d), size=(K, C, d))
    expert_coef -= expert_coef.mean(axis=1, keepdims=True)
    expert_intercept = rng.normal(0.0, 1.0, size=(K, C))
    expert_intercept -= expert_intercept.mean(axis=1, keepdims=True)
    return {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": expert_coef,
        "expert_intercept": expert_intercept,
    }


def _sample_rows(prob_unnorm, rng):
    """One categorical draw per row from unnormalised probabilities (m, J)."""
    cum = np.cumsum(prob_unnorm, axis=1)
    u = rng.random(cum.shape[0]) * cum[:, -1]
    z = (cum < u[:, None]).sum(axis=1)
    np.minimum(z, cum.shape[1] - 1, out=z)
    return z


def make_moe_classification(
    n_samples,
    n_features=10,
    n_experts=4,
    n_classes=3,
    gate_scale=3.0,
    expert_scale=2.0,
    random_state=0,
    chunk=None,
    params=None,
):
    """Draw ``(X, y, params)`` from a softmax-gated mixture of logistic experts.

    Parameters
    ----------
    n_samples, n_features, n_experts, n_classes : int
    gate_scale : float
        Gate weights are drawn ``N(0, gate_scale**2 / n_features)`` per feature,
        so a gate logit has standard deviation about ``gate_scale``.
    expert_scale : float
        Expert weights are drawn ``N(0, expert_scale**2 / n_features)`` per
        feature and class (then centred over classes), so a class logit has
        standard deviation about ``expert_scale``.
    random_state : int
        Seed. The parameters and the samples come from two independent
        streams spawned from it.
    chunk : int or None
        Rows generated at a time (default 65536). The output for a given seed
        may depend on ``chunk``.
    params : dict or None
        Reuse these true parameters (e.g. for a held-out set from the same
        model): only the samples are drawn, from ``random_state``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    y : ndarray of shape (n_samples,), int64 class codes ``0 .. n_classes - 1``
    params : dict
        ``gate_coef`` (K, d), ``gate_intercept`` (K,), ``expert_coef``
        (K, C, d), ``expert_intercept`` (K, C).
    """
    n = int(n_samples)
    param_seq, sample_seq = np.random.SeedSequence(random_state).spawn(2)
    if params is None:
        params = _draw_params(
            np.random.default_rng(param_seq),
            n_features,
            n_experts,
            n_classes,
            gate_scale,
            expert_scale,
        )
    else:
        params = {k: np.asarray(v, dtype=np.float64).copy() for k, v in params.items()}
    W = params["gate_coef"]
    b = params["gate_intercept"]
    A = params["expert_coef"]
    c = params["expert_intercept"]
    K, d = W.shape
    rng = np.random.default_rng(sample_seq)
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)

    X = np.empty((n, d))
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        Xc = rng.standard_normal((m, d))
        logits = Xc @ W.T + b  # (m, K)
        logits -= logits.max(axis=1, keepdims=True)
        z = _sample_rows(np.exp(logits), rng)
        u = rng.random(m)
        yc = np.empty(m, dtype=np.int64)
        for k in range(K):
            rows = np.flatnonzero(z == k)
            if rows.size == 0:
                continue
            cl = Xc[rows] @ A[k].T + c[k]  # (m_k, C), this expert's rows only
            cl -= cl.max(axis=1, keepdims=True)
            cum = np.cumsum(np.exp(cl), axis=1)
            yk = (cum < (u[rows] * cum[:, -1])[:, None]).sum(axis=1)
            yc[rows] = np.minimum(yk, cum.shape[1] - 1)
        X[start:stop] = Xc
        y[start:stop] = yc
    return X, y, params


def true_log_likelihood_classification(X, y, params, chunk=None):
    """Per-sample ``log p(y | x)`` under the model with parameters ``params``.

    ``params`` uses the keys returned by :func:`make_moe_classification` (the
    NumPy EM baseline returns the same keys, so this also scores its fits).
    Computed in log space with :func:`scipy.special.logsumexp`, in chunks,
    one expert at a time (temporaries ``chunk x C``).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64, copy=False)
    W = np.asarray(params["gate_coef"], dtype=np.float64)
    b = np.asarray(params["gate_intercept"], dtype=np.float64)
    A = np.asarray(params["expert_coef"], dtype=np.float64)
    c = np.asarray(params["expert_intercept"], dtype=np.float64)
    K = W.shape[0]
    n = X.shape[0]
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)
    out = np.empty(n)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xc = X[start:stop]
        yc = y[start:stop]
        rows = np.arange(stop - start)
        logits = Xc @ W.T + b
        L = logits - logsumexp(logits, axis=1, keepdims=True)  # log gate (m, K)
        for k in range(K):
            cl = Xc @ A[k].T + c[k]  # (m, C)
            L[:, k] += cl[rows, yc] - logsumexp(cl, axis=1)
        out[start:stop] = logsumexp(L, axis=1)
    return out
