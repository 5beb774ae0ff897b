"""Plain NumPy twins of the Numba kernels in ``skmoe._kernels`` (same names).

Written for clarity, not speed: each is the textbook formula with
``scipy.special.logsumexp``, so a kernel test compares the fused, compiled
row loops with an independent computation.
"""

import numpy as np
from scipy.special import expit, logsumexp, ndtr, softmax


def _mix(gate_logits, expert_loglik, weight):
    log_gate = gate_logits - logsumexp(gate_logits, axis=1, keepdims=True)
    joint = log_gate + expert_loglik
    log_norm = logsumexp(joint, axis=1)
    resp = np.exp(joint - log_norm[:, None])
    gate_resid = weight[:, None] * (resp - np.exp(log_gate))
    gate_q = weight * np.sum(np.where(resp > 0, resp * log_gate, 0.0), axis=1)
    return resp, log_norm, gate_resid, gate_q


def estep_gaussian_rows(gate_logits, means, y, inv_var, log_const, weight):
    n, K = gate_logits.shape
    m = y.shape[1]
    mu = means.reshape(n, K, m)
    loglik = log_const[None, :] - 0.5 * np.sum((y[:, None, :] - mu) ** 2 * inv_var[None], axis=2)
    return _mix(gate_logits, loglik, weight)


def estep_categorical_rows(gate_logits, logits, codes, n_classes, prob_floor, weight):
    n, K = gate_logits.shape
    lp = logits.reshape(n, K, n_classes)
    lp = lp - logsumexp(lp, axis=2, keepdims=True)
    picked = lp[np.arange(n), :, codes]
    if prob_floor > 0:
        picked = np.log((1 - n_classes * prob_floor) * np.exp(picked) + prob_floor)
    return _mix(gate_logits, picked, weight)


def softmax_rows(logits):
    return softmax(logits, axis=1)


def log_softmax_rows(logits):
    return logits - logsumexp(logits, axis=1, keepdims=True)


def gate_objective_rows(logits, resp, weight):
    log_g = log_softmax_rows(logits)
    q = weight * np.sum(np.where(resp > 0, resp * log_g, 0.0), axis=1)
    resid = weight[:, None] * (resp - np.exp(log_g))
    return q, resid


def gaussian_mixture_moments_rows(gate_proba, means, var):
    n, K = gate_proba.shape
    m = var.shape[1]
    mu = means.reshape(n, K, m)
    mean = np.einsum("nk,nkm->nm", gate_proba, mu)
    second = np.einsum("nk,nkm->nm", gate_proba, var[None] + mu**2)
    return mean, second - mean**2


def sparse_gaussian_moments_rows(gate, out, sel, var):
    """Mean and variance of the routed mixture ``sum_j gate_j N(out_j, var[sel_j])``."""
    mean = np.einsum("ns,nsm->nm", gate, out)
    second = np.einsum("ns,nsm->nm", gate, var[sel] + out**2)
    return mean, second - mean**2


def categorical_slot_loglik_rows(out, codes):
    """``log softmax(out[i, j])[codes[i]]``, shape (n, s)."""
    shifted = out - out.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    return log_p[np.arange(out.shape[0]), :, codes]


def gaussian_stats_rows(X, q, soft_weight, y):
    """Flat statistics: upper triangle of the weighted Gram, X^T y, y^2; and N_k."""
    Xq = X[:, :q]
    rows, cols = np.triu_indices(q)
    flats = []
    for k in range(soft_weight.shape[1]):
        v = soft_weight[:, k]
        gram = (Xq * v[:, None]).T @ Xq
        xy = (Xq * v[:, None]).T @ y
        yy = v @ (y * y)
        flats.append(np.concatenate([gram[rows, cols], xy.ravel(), yy]))
    return np.array(flats), soft_weight.sum(axis=0)


_MASK = (1 << 64) - 1


def _splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def hash_rows(bits, seed):
    out = np.empty(bits.shape[0], dtype=np.uint64)
    for i, row in enumerate(bits):
        h = _splitmix64(int(seed))
        for v in row:
            h = _splitmix64(h ^ int(v))
        out[i] = h
    return out


def mlp_output_rows(H, W2):
    K, o, h1 = W2.shape
    n = H.shape[0]
    H3 = H.reshape(n, K, h1 - 1)
    out = np.einsum("nkh,koh->nko", H3, W2[:, :, 1:]) + W2[None, :, :, 0]
    return out.reshape(n, K * o)


def mlp_backward_rows(H, W2, dout):
    K, o, h1 = W2.shape
    n = H.shape[0]
    H3 = H.reshape(n, K, h1 - 1)
    d3 = dout.reshape(n, K, o)
    grad_W2 = np.zeros_like(W2)
    grad_W2[:, :, 0] = d3.sum(axis=0)
    grad_W2[:, :, 1:] = np.einsum("nko,nkh->koh", d3, H3)
    dA = np.einsum("nko,koh->nkh", d3, W2[:, :, 1:])
    return grad_W2, (dA * (1.0 - H3**2)).reshape(n, K * (h1 - 1))


def adam_update(theta, grad, m, v, step, beta1, beta2, eps, correction1, correction2,
                grad_max):
    grad = np.clip(grad, -grad_max, grad_max)
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    theta = theta - step * (m / correction1) / (np.sqrt(v / correction2) + eps)
    return theta, m, v



def balance(h, H, sel, w, nz, scale, k):
    """``CV^2(importance) + CV^2(load)`` and its derivatives in ``H``, ``h`` and the
    noise logits (the NumPy code ``SparseObjective._balance`` had before its kernels)."""
    n, K = h.shape
    w = w / w.sum()
    q = softmax(H, axis=1)
    imp = w @ q
    mean_imp = 1.0 / K
    cv_imp = np.mean((imp - mean_imp) ** 2) / mean_imp**2
    a = 2.0 * (imp - mean_imp) / (K * mean_imp**2)
    grad_H = w[:, None] * q * (a - (q @ a)[:, None])
    in_top = np.zeros((n, K), dtype=bool)
    np.put_along_axis(in_top, sel[:, :k], True, axis=1)
    rows = np.arange(n)
    t_k = H[rows, sel[:, k - 1]]
    t_k1 = H[rows, sel[:, k]]
    threshold = np.where(in_top, t_k1[:, None], t_k[:, None])
    s = scale + 1e-6 if scale is not None else 1.0
    z = (h - threshold) / s
    load = w @ ndtr(z)
    mean_load = load.mean()
    grad_h = np.zeros((n, K))
    grad_n = np.zeros((n, K)) if nz is not None else None
    cv_load = 0.0
    if mean_load > 1e-12:
        second = np.mean(load**2)
        cv_load = second / mean_load**2 - 1.0
        c = 2.0 / (K * mean_load**2) * (load - second / mean_load)
        gP = w[:, None] * c * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) / s
        grad_h = gP
        sum_in = np.where(in_top, gP, 0.0).sum(axis=1)
        sum_out = gP.sum(axis=1) - sum_in
        np.add.at(grad_H, (rows, sel[:, k]), -sum_in)
        np.add.at(grad_H, (rows, sel[:, k - 1]), -sum_out)
        if nz is not None:
            grad_n = -gP * z * expit(nz)
    return cv_imp + cv_load, grad_H, grad_h, grad_n


# -- the predictive distribution (scipy's distributions, scipy's root finder) ------


def _slot_scales(gate, sel, dense, table):
    n, s = gate.shape
    return table[np.arange(s)][None].repeat(n, 0) if dense else table[sel]  # (n, s, m)


def mixture_cdf_rows(gate, out, sel, dense, std, df, y):
    """``P(Y <= y)`` by ``scipy.stats`` (normal where ``df`` is infinite, t otherwise)."""
    from scipy.stats import t as student_t

    sd = _slot_scales(gate, sel, dense, std)
    nu = _slot_scales(gate, sel, dense, df)
    z = (y[:, None, :] - out) / sd
    comp = np.where(np.isinf(nu), ndtr(z), student_t.cdf(z, np.where(np.isinf(nu), 1.0, nu)))
    return np.einsum("ns,nsm->nm", gate, comp)


def mixture_quantile_rows(gate, out, sel, dense, std, df, levels):
    """Quantiles by ``scipy.optimize.brentq`` on :func:`mixture_cdf_rows`, one root at a time."""
    from scipy.optimize import brentq

    n, s, m = out.shape
    q = np.empty((n, m, len(levels)))
    for i in range(n):
        for o in range(m):
            def F(x, i=i, o=o):
                yy = np.zeros((1, m))
                yy[0, o] = x
                return mixture_cdf_rows(gate[i:i + 1], out[i:i + 1], sel[i:i + 1] if not dense
                                        else sel, dense, std, df, yy)[0, o]
            width = 1e3 * np.max(std[:, o]) + np.max(np.abs(out[i, :, o]))
            for k, p in enumerate(levels):
                lo, hi = -width, width
                while F(lo) > p:
                    lo *= 2
                while F(hi) < p:
                    hi *= 2
                q[i, o, k] = brentq(lambda x, p=p: F(x) - p, lo, hi, xtol=1e-300, rtol=8.9e-16,
                                    maxiter=2000)
    return q


def gaussian_mixture_crps_rows(gate, out, sel, dense, std, y):
    """CRPS as ``E|Y - y| - E|Y - Y'| / 2`` with NumPy broadcasting (Grimit et al. 2006)."""
    from scipy.special import erf

    def A(mu, s2):
        s = np.sqrt(s2)
        z = mu / s
        return 2 * s * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi) + mu * erf(z / np.sqrt(2))

    v = _slot_scales(gate, sel, dense, std) ** 2  # (n, s, m)
    first = np.einsum("ns,nsm->nm", gate, A(y[:, None, :] - out, v))
    pair = A(out[:, :, None, :] - out[:, None, :, :], v[:, :, None, :] + v[:, None, :, :])
    second = np.einsum("ns,nt,nstm->nm", gate, gate, pair)
    return first - 0.5 * second


def estep_student_rows(gate_logits, means, y, inv_var, df, weight):
    """The t E-step: ``scipy.stats.t.logpdf`` summed over outputs, then the mixing step."""
    from scipy.stats import t as student_t

    n, K = gate_logits.shape
    m = y.shape[1]
    mu = means.reshape(n, K, m)
    scale = np.sqrt(1.0 / inv_var)
    loglik = student_t.logpdf(y[:, None, :], df[None], loc=mu, scale=scale[None]).sum(axis=2)
    return _mix(gate_logits, loglik, weight)
