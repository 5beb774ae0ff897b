"""Numba kernels: every compiled function of skmoe, and nothing else.

One file on purpose: Numba's on-disk cache (``cache=True``) does not see a
change to a jitted callee defined in another file (a stale caller would be
loaded), and compiling one body twice under ``cache=True`` (say, a serial
and a parallel decoration of the same function) collides in the cache. How
the kernels are compiled (cache, its fallback, OpenMP's wait policy) is in
``skmoe/_jit.py``; which twin a call uses, in ``skmoe/_threads.py``
(``threaded``).

Contents, by section:

* mixing (the E-step): ``_mix_row``, ``mix_rows``; Gaussian
  ``_gaussian_loglik_row``, ``estep_gaussian_rows(_parallel)``; categorical
  ``_categorical_loglik_row``, ``estep_categorical_rows(_parallel)``; Student-t
  ``_student_loglik_row``, ``estep_student_rows(_parallel)``;
* sufficient statistics of Gaussian experts: ``gaussian_stats_length``,
  ``gaussian_stats_rows(_parallel)`` (fixed blocks of ``STATS_BLOCK`` rows);
* softmax: ``softmax_rows``, ``log_softmax_rows``,
  ``gate_objective_rows(_parallel)``;
* the predictive mixture: ``_mixture_moments_row``,
  ``gaussian_mixture_moments_rows`` (dense), ``sparse_gaussian_moments_rows``;
* row hashing for canonical subsamples: ``hash_rows``;
* the predictive distribution: ``mixture_quantile_rows(_parallel)``,
  ``mixture_cdf_rows``, ``gaussian_mixture_crps_rows`` and their special
  functions (``_ndtri_lower``, ``_betacf``, ``_t_lower``, ``_t_log_pdf``);
* mlp experts: ``mlp_output_rows(_parallel)``, ``mlp_backward_rows(_parallel)``;
* Adam: ``adam_update``;
* sparse routing: ``_topk_row``, ``topk_rows``, ``gather_rows``,
  ``sparse_linear_rows(_parallel)``, ``sparse_linear_backward_rows``,
  ``group_by_expert``, ``gaussian_slot_loglik_rows``,
  ``categorical_slot_loglik_rows``, ``route_rows(_parallel)``;
* load balancing of sparse training: ``balance_stats_rows``,
  ``balance_grad_rows``.

Conventions (see ``STYLE.md``):

* Pure functions on arrays. Inputs are C-contiguous ``float64`` (``int64`` for
  indices and labels) and are validated before the call; outputs are allocated
  by the caller. No raises, no objects, no random numbers inside a kernel.
* Row bodies (``_*_row``) hold the arithmetic; the ``*_rows`` driver runs them
  serially and ``*_rows_parallel`` over ``numba.prange``. Every row writes only
  its own outputs, so both drivers give bit-identical results whatever the
  number of threads.
* Everything is computed in log space with max-shifted log-sum-exp.

The E-step row body turns the expert log-likelihoods of a row, written in
place into the responsibility array, into responsibilities, and produces the
per-sample mixture log-likelihood and the weighted gate residual
``w_i * (r_ik - g_ik)`` whose product with the design matrix is the gradient
of the gate's expected complete-data log-likelihood.
"""

import math

import numba
import numpy as np

from ._jit import jit as _jit

# --------------------------------------------------------------------------
# Mixing: gate log-softmax + expert log-likelihoods -> responsibilities
# --------------------------------------------------------------------------


@_jit()
def _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i):
    """Turn row ``i`` of expert log-likelihoods into responsibilities.

    On entry ``resp[i, k]`` holds ``log p_k(y_i | x_i)``; on exit it holds
    ``r_ik``, ``log_norm[i] = log p(y_i | x_i)`` and
    ``gate_resid[i, k] = weight[i] * (r_ik - g_ik)`` and the row's term of the
    gate's expected complete-data log-likelihood,
    ``gate_q[i] = weight[i] * sum_k r_ik log g_ik``. Two exponentials per
    expert: ``gate_resid`` doubles as scratch for the unnormalised gate. The
    joint ``logit_k + log p_k`` is shifted by its own maximum (the gate's
    normaliser cancels in the responsibilities), which saves a pass.
    """
    n_experts = gate_logits.shape[1]
    gmax = -np.inf
    top = -np.inf
    for k in range(n_experts):
        g = gate_logits[i, k]
        a = g + resp[i, k]
        resp[i, k] = a
        gmax = max(gmax, g)
        top = max(top, a)
    gsum = 0.0
    for k in range(n_experts):
        e = np.exp(gate_logits[i, k] - gmax)
        gate_resid[i, k] = e
        gsum += e
    log_gnorm = gmax + np.log(gsum)
    inv_gsum = 1.0 / gsum
    w = weight[i]
    q = 0.0
    if top == -np.inf:
        # no expert gives the sample positive density: fall back to the gate
        log_norm[i] = -np.inf
        for k in range(n_experts):
            g = gate_resid[i, k] * inv_gsum
            resp[i, k] = g
            gate_resid[i, k] = 0.0
            if g > 0.0:
                q += g * (gate_logits[i, k] - log_gnorm)
        gate_q[i] = w * q
        return
    acc = 0.0
    for k in range(n_experts):
        e = np.exp(resp[i, k] - top)
        resp[i, k] = e
        acc += e
    log_norm[i] = top + np.log(acc) - log_gnorm
    inv_acc = 1.0 / acc
    for k in range(n_experts):
        r = resp[i, k] * inv_acc
        resp[i, k] = r
        gate_resid[i, k] = w * (r - gate_resid[i, k] * inv_gsum)
        # r = 0 where the gate masks an expert (logit -inf): the max keeps
        # 0 * log g at 0 without a branch, which lets the loop vectorise
        q += r * max(gate_logits[i, k] - log_gnorm, -1e300)
    gate_q[i] = w * q


@_jit()
def _gaussian_loglik_row(means, y, inv_var, log_const, out, i):
    """``out[i, k] = log N(y_i; means[i, k, :], diag(1 / inv_var[k]))``.

    ``means`` is laid out ``(n, n_experts * n_outputs)``, expert-major.
    ``log_const[k] = -0.5 * sum_j log(2 pi var_kj)``.
    """
    n_experts = inv_var.shape[0]
    n_outputs = inv_var.shape[1]
    for k in range(n_experts):
        acc = 0.0
        base = k * n_outputs
        for j in range(n_outputs):
            d = y[i, j] - means[i, base + j]
            acc += d * d * inv_var[k, j]
        out[i, k] = log_const[k] - 0.5 * acc


@_jit()
def estep_gaussian_rows(
    gate_logits, means, y, inv_var, log_const, weight, resp, log_norm, gate_resid, gate_q
):
    """Fused E-step for Gaussian experts (serial driver).

    Parameters
    ----------
    gate_logits : ndarray of shape (n_samples, n_experts)
        Gate logits ``W_g x + b_g``.
    means : ndarray of shape (n_samples, n_experts * n_outputs)
        Expert means, expert-major.
    y : ndarray of shape (n_samples, n_outputs)
        Targets.
    inv_var : ndarray of shape (n_experts, n_outputs)
        Inverse expert variances.
    log_const : ndarray of shape (n_experts,)
        ``-0.5 * sum_j log(2 pi var_kj)``.
    weight : ndarray of shape (n_samples,)
        Sample weights.
    resp : ndarray of shape (n_samples, n_experts)
        Output: responsibilities.
    log_norm : ndarray of shape (n_samples,)
        Output: per-sample mixture log-likelihood.
    gate_resid : ndarray of shape (n_samples, n_experts)
        Output: ``weight * (resp - gate_proba)``.
    gate_q : ndarray of shape (n_samples,)
        Output: ``weight * sum_k resp * log gate_proba``.
    """
    for i in range(gate_logits.shape[0]):
        _gaussian_loglik_row(means, y, inv_var, log_const, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


@_jit(parallel=True)
def estep_gaussian_rows_parallel(
    gate_logits, means, y, inv_var, log_const, weight, resp, log_norm, gate_resid, gate_q
):
    """Threaded twin of :func:`estep_gaussian_rows` (bit-identical)."""
    for i in numba.prange(gate_logits.shape[0]):
        _gaussian_loglik_row(means, y, inv_var, log_const, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


@_jit()
def _categorical_loglik_row(logits, codes, n_classes, prob_floor, out, i):
    """``out[i, k] = log softmax(logits[i, k*C:(k+1)*C])[codes[i]]``.

    With ``prob_floor > 0`` the class probability is mixed with the uniform
    distribution, ``(1 - C * floor) * p + floor``, so that no class ever has
    zero probability (used for estimator experts).
    """
    n_experts = out.shape[1]
    c = codes[i]
    for k in range(n_experts):
        base = k * n_classes
        m = -np.inf
        for j in range(n_classes):
            if logits[i, base + j] > m:
                m = logits[i, base + j]
        s = 0.0
        for j in range(n_classes):
            s += np.exp(logits[i, base + j] - m)
        lp = logits[i, base + c] - m - np.log(s)
        if prob_floor > 0.0:
            lp = np.log((1.0 - n_classes * prob_floor) * np.exp(lp) + prob_floor)
        out[i, k] = lp


@_jit()
def estep_categorical_rows(
    gate_logits, logits, codes, n_classes, prob_floor, weight, resp, log_norm, gate_resid, gate_q
):
    """Fused E-step for categorical (softmax) experts (serial driver).

    Parameters
    ----------
    gate_logits : ndarray of shape (n_samples, n_experts)
    logits : ndarray of shape (n_samples, n_experts * n_classes)
        Expert class logits, expert-major.
    codes : ndarray of shape (n_samples,), int64
        Encoded class of each sample, in ``[0, n_classes)``.
    n_classes : int
    prob_floor : float
        Probability floor (0 for exact log-softmax).
    weight, resp, log_norm, gate_resid, gate_q
        As in :func:`estep_gaussian_rows`.
    """
    for i in range(gate_logits.shape[0]):
        _categorical_loglik_row(logits, codes, n_classes, prob_floor, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


@_jit(parallel=True)
def estep_categorical_rows_parallel(
    gate_logits, logits, codes, n_classes, prob_floor, weight, resp, log_norm, gate_resid, gate_q
):
    """Threaded twin of :func:`estep_categorical_rows` (bit-identical)."""
    for i in numba.prange(gate_logits.shape[0]):
        _categorical_loglik_row(logits, codes, n_classes, prob_floor, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


# --------------------------------------------------------------------------
# Sufficient statistics of Gaussian experts
# --------------------------------------------------------------------------

#: Rows per block of the statistics kernels. Partial sums are formed per
#: block and added in block order by both drivers, so the result does not
#: depend on the number of threads.
STATS_BLOCK = 2048


def gaussian_stats_length(q, n_outputs):
    """Length of the flat statistics vector of :func:`gaussian_stats_rows`."""
    return q * (q + 1) // 2 + q * n_outputs + n_outputs


@_jit()
def _gaussian_stats_block(X, q, soft_weight, y, start, stop, flat, nk):
    """Add ``sum_i v_ik phi(x_i, y_i)`` for rows ``start:stop`` into ``flat[k]``.

    ``phi`` stacks the upper triangle of ``x x^T`` (row-major), ``x y^T`` and
    ``y**2``; it is formed once per row and added to every expert's vector,
    a contiguous axpy the compiler vectorises.
    """
    n_experts = soft_weight.shape[1]
    n_outputs = y.shape[1]
    length = flat.shape[1]
    phi = np.empty(length)
    for i in range(start, stop):
        pos = 0
        for a in range(q):
            xa = X[i, a]
            for b in range(a, q):
                phi[pos] = xa * X[i, b]
                pos += 1
        for a in range(q):
            xa = X[i, a]
            for j in range(n_outputs):
                phi[pos] = xa * y[i, j]
                pos += 1
        for j in range(n_outputs):
            phi[pos] = y[i, j] * y[i, j]
            pos += 1
        for k in range(n_experts):
            v = soft_weight[i, k]
            if v == 0.0:
                continue
            nk[k] += v
            for t in range(length):
                flat[k, t] += v * phi[t]


@_jit()
def _sum_blocks(part_flat, part_nk, flat, nk):
    for b in range(part_nk.shape[0]):
        flat += part_flat[b]
        nk += part_nk[b]


@_jit()
def gaussian_stats_rows(X, q, soft_weight, y, flat, nk):
    """Add the weighted sufficient statistics of Gaussian experts (serial driver).

    For each expert ``k`` with soft weights ``v_i = soft_weight[i, k]``,
    ``flat[k] += sum_i v_i phi_i`` where ``phi_i`` stacks the upper triangle
    of ``x_i x_i^T`` (row-major, over the first ``q`` columns of ``X``), then
    ``x_i y_i^T`` (row-major) and ``y_i**2``; ``nk[k] += sum_i v_i``.
    Partial sums are formed per block of :data:`STATS_BLOCK` rows and added
    in block order, as in the threaded driver.

    Parameters
    ----------
    X : ndarray of shape (n_samples, p)
    q : int
        Leading columns of ``X`` used (``p`` for linear, 1 for constant experts).
    soft_weight : ndarray of shape (n_samples, n_experts)
    y : ndarray of shape (n_samples, n_outputs)
    flat : ndarray of shape (n_experts, gaussian_stats_length(q, n_outputs))
    nk : ndarray of shape (n_experts,)
    """
    n = X.shape[0]
    n_blocks = (n + STATS_BLOCK - 1) // STATS_BLOCK
    K = soft_weight.shape[1]
    part_flat = np.zeros((n_blocks, K, flat.shape[1]))
    part_nk = np.zeros((n_blocks, K))
    for b in range(n_blocks):
        _gaussian_stats_block(
            X, q, soft_weight, y, b * STATS_BLOCK, min((b + 1) * STATS_BLOCK, n),
            part_flat[b], part_nk[b],
        )
    _sum_blocks(part_flat, part_nk, flat, nk)


@_jit(parallel=True)
def gaussian_stats_rows_parallel(X, q, soft_weight, y, flat, nk):
    """Threaded twin of :func:`gaussian_stats_rows` (bit-identical)."""
    n = X.shape[0]
    n_blocks = (n + STATS_BLOCK - 1) // STATS_BLOCK
    K = soft_weight.shape[1]
    part_flat = np.zeros((n_blocks, K, flat.shape[1]))
    part_nk = np.zeros((n_blocks, K))
    for b in numba.prange(n_blocks):
        _gaussian_stats_block(
            X, q, soft_weight, y, b * STATS_BLOCK, min((b + 1) * STATS_BLOCK, n),
            part_flat[b], part_nk[b],
        )
    _sum_blocks(part_flat, part_nk, flat, nk)


# --------------------------------------------------------------------------
# Gate: softmax rows and the residual needed by extra gate M-step passes
# --------------------------------------------------------------------------


@_jit()
def _softmax_row(logits, out, i):
    n = logits.shape[1]
    m = -np.inf
    for k in range(n):
        if logits[i, k] > m:
            m = logits[i, k]
    s = 0.0
    for k in range(n):
        e = np.exp(logits[i, k] - m)
        out[i, k] = e
        s += e
    inv = 1.0 / s
    for k in range(n):
        out[i, k] *= inv


@_jit()
def softmax_rows(logits, out):
    """Row-wise softmax of ``logits`` (n, K) into ``out`` (max-shifted)."""
    for i in range(logits.shape[0]):
        _softmax_row(logits, out, i)


@_jit()
def _log_softmax_row(logits, out, i):
    n = logits.shape[1]
    m = -np.inf
    for k in range(n):
        if logits[i, k] > m:
            m = logits[i, k]
    s = 0.0
    for k in range(n):
        s += np.exp(logits[i, k] - m)
    lse = m + np.log(s)
    for k in range(n):
        out[i, k] = logits[i, k] - lse


@_jit()
def log_softmax_rows(logits, out):
    """Row-wise log-softmax of ``logits`` (n, K) into ``out``."""
    for i in range(logits.shape[0]):
        _log_softmax_row(logits, out, i)


@_jit()
def _gate_objective_row(logits, resp, weight, q_out, resid_out, i):
    n = logits.shape[1]
    m = -np.inf
    for k in range(n):
        if logits[i, k] > m:
            m = logits[i, k]
    s = 0.0
    for k in range(n):
        e = np.exp(logits[i, k] - m)
        resid_out[i, k] = e  # scratch: unnormalised gate
        s += e
    lse = m + np.log(s)
    inv = 1.0 / s
    w = weight[i]
    q = 0.0
    for k in range(n):
        if resp[i, k] > 0.0:
            q += resp[i, k] * (logits[i, k] - lse)
        resid_out[i, k] = w * (resp[i, k] - resid_out[i, k] * inv)
    q_out[i] = w * q


@_jit()
def gate_objective_rows(logits, resp, weight, q_out, resid_out):
    """Per-row gate objective and gradient residual for stored responsibilities.

    ``q_out[i] = weight[i] * sum_k resp[i, k] * log_softmax(logits[i])[k]``
    and ``resid_out[i, k] = weight[i] * (resp[i, k] - softmax(logits[i])[k])``.
    """
    for i in range(logits.shape[0]):
        _gate_objective_row(logits, resp, weight, q_out, resid_out, i)


@_jit(parallel=True)
def gate_objective_rows_parallel(logits, resp, weight, q_out, resid_out):
    """Threaded twin of :func:`gate_objective_rows`."""
    for i in numba.prange(logits.shape[0]):
        _gate_objective_row(logits, resp, weight, q_out, resid_out, i)


@_jit()
def _student_loglik_row(means, y, inv_var, df, log_const, out, i):
    """``out[i, k] = sum_j log t_df[k, j](y_ij; means[i, k, j], 1 / inv_var[k, j])``.

    ``log_const[k, j] = lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi s2)/2``;
    the outputs are independent univariate t's (one latent scale each).
    """
    n_experts = inv_var.shape[0]
    n_outputs = inv_var.shape[1]
    for k in range(n_experts):
        acc = 0.0
        base = k * n_outputs
        for j in range(n_outputs):
            d = y[i, j] - means[i, base + j]
            nu = df[k, j]
            acc += log_const[k, j] - 0.5 * (nu + 1.0) * math.log1p(d * d * inv_var[k, j] / nu)
        out[i, k] = acc


@_jit()
def estep_student_rows(
    gate_logits, means, y, inv_var, df, log_const, weight, resp, log_norm, gate_resid, gate_q
):
    """Fused E-step for Student-t experts (serial driver); as :func:`estep_gaussian_rows`.

    ``df`` ``(n_experts, n_outputs)`` degrees of freedom, ``log_const``
    ``(n_experts, n_outputs)`` (see ``_student_loglik_row``).
    """
    for i in range(gate_logits.shape[0]):
        _student_loglik_row(means, y, inv_var, df, log_const, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


@_jit(parallel=True)
def estep_student_rows_parallel(
    gate_logits, means, y, inv_var, df, log_const, weight, resp, log_norm, gate_resid, gate_q
):
    """Threaded twin of :func:`estep_student_rows` (bit-identical)."""
    for i in numba.prange(gate_logits.shape[0]):
        _student_loglik_row(means, y, inv_var, df, log_const, resp, i)
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


# --------------------------------------------------------------------------
# Predictive mixture for Gaussian experts
# --------------------------------------------------------------------------


@_jit()
def _mixture_moments_row(gate, out, sel, dense, var, mean_out, var_out, i):
    """Mean and variance of ``sum_j gate[i, j] N(out[i, j], var[e_j])`` for row ``i``.

    ``e_j = j`` when ``dense``, else ``sel[i, j]`` (the routed experts).
    Two-pass form of the law of total variance: no cancellation when the
    means are large compared with the spread.
    """
    s, m = out.shape[1], out.shape[2]
    for o in range(m):
        mu = 0.0
        for j in range(s):
            mu += gate[i, j] * out[i, j, o]
        mean_out[i, o] = mu
        v = 0.0
        for j in range(s):
            if gate[i, j] == 0.0:
                continue  # an infinite variance (t, nu <= 2) counts only where it is used
            d = out[i, j, o] - mu
            e = j if dense else sel[i, j]
            v += gate[i, j] * (var[e, o] + d * d)
        var_out[i, o] = v


@_jit()
def gaussian_mixture_moments_rows(gate_proba, means, var, mean_out, var_out):
    """Mean and variance of a Gaussian mixture per row and output.

    Parameters
    ----------
    gate_proba : ndarray of shape (n_samples, n_experts)
    means : ndarray of shape (n_samples, n_experts * n_outputs)
    var : ndarray of shape (n_experts, n_outputs)
    mean_out, var_out : ndarray of shape (n_samples, n_outputs)
        Outputs: ``sum_k g_k mu_k`` and ``sum_k g_k (var_k + (mu_k - m)^2)``.
    """
    n, n_experts = gate_proba.shape
    out = means.reshape(n, n_experts, var.shape[1])
    no_sel = np.zeros((1, 1), dtype=np.int64)
    for i in range(n):
        _mixture_moments_row(gate_proba, out, no_sel, True, var, mean_out, var_out, i)


# --------------------------------------------------------------------------
# Row hashing for order-free, duplication-consistent subsampling
# --------------------------------------------------------------------------


@_jit()
def _splitmix64(z):
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@_jit()
def hash_rows(bits, seed, out):
    """64-bit hash of each row of ``bits`` (the uint64 view of float64 data).

    A row's hash depends only on its values and ``seed``: identical rows get
    identical hashes wherever they stand, so a hash threshold selects a
    subsample that is independent of row order and treats ``w`` copies of a
    row like one row of weight ``w``.
    """
    for i in range(bits.shape[0]):
        h = _splitmix64(seed)
        for j in range(bits.shape[1]):
            h = _splitmix64(h ^ bits[i, j])
        out[i] = h


# -- one-hidden-layer experts (gradient solvers) ------------------------------
#
# The hidden pre-activations of all experts come from one BLAS product
# ``X1 @ W1.reshape(K * h, p).T``; these kernels do the small per-expert
# output layer (``h -> o`` per expert, too small and too many for BLAS) and
# its backward pass. ``H`` holds ``tanh`` activations, ``(n, K * h)``
# expert-major; ``W2`` is ``(K, o, h + 1)`` with the output bias in column 0.


@_jit()
def _mlp_output_row(H, W2, out, i):
    K, o, h1 = W2.shape
    h = h1 - 1
    for k in range(K):
        base = k * h
        for j in range(o):
            acc = W2[k, j, 0]
            for u in range(h):
                acc += W2[k, j, u + 1] * H[i, base + u]
            out[i, k * o + j] = acc


@_jit()
def mlp_output_rows(H, W2, out):
    """Expert outputs ``out[i, k*o + j] = W2[k, j, 0] + W2[k, j, 1:] . H[i, k*h:(k+1)*h]``."""
    for i in range(H.shape[0]):
        _mlp_output_row(H, W2, out, i)


@_jit(parallel=True)
def mlp_output_rows_parallel(H, W2, out):
    """Threaded twin of :func:`mlp_output_rows` (rows are independent)."""
    for i in numba.prange(H.shape[0]):
        _mlp_output_row(H, W2, out, i)


@_jit()
def _mlp_backward_expert(H, W2, dout, grad_W2, dZ, k):
    n = H.shape[0]
    o, h1 = W2.shape[1], W2.shape[2]
    h = h1 - 1
    base = k * h
    for i in range(n):
        for u in range(h):
            dZ[i, base + u] = 0.0
        for j in range(o):
            g = dout[i, k * o + j]
            if g == 0.0:
                continue
            grad_W2[k, j, 0] += g
            for u in range(h):
                grad_W2[k, j, u + 1] += g * H[i, base + u]
                dZ[i, base + u] += g * W2[k, j, u + 1]
        for u in range(h):
            a = H[i, base + u]
            dZ[i, base + u] *= 1.0 - a * a


@_jit()
def mlp_backward_rows(H, W2, dout, grad_W2, dZ):
    """Backward pass of the output layer and ``tanh``.

    Given ``dout`` ``(n, K * o)``, the derivative of the objective with
    respect to the expert outputs, adds the output-layer gradient into
    ``grad_W2`` ``(K, o, h + 1)`` and writes the derivative with respect to
    the hidden pre-activations into ``dZ`` ``(n, K * h)``.
    """
    for k in range(W2.shape[0]):
        _mlp_backward_expert(H, W2, dout, grad_W2, dZ, k)


@_jit(parallel=True)
def mlp_backward_rows_parallel(H, W2, dout, grad_W2, dZ):
    """Threaded over experts: each expert's sums run over rows in order, so the
    result does not depend on the number of threads."""
    for k in numba.prange(W2.shape[0]):
        _mlp_backward_expert(H, W2, dout, grad_W2, dZ, k)


# -- Adam -------------------------------------------------------------------


@_jit()
def adam_update(theta, grad, m, v, step, beta1, beta2, eps, correction1, correction2, grad_max):
    """One Adam step in place (Kingma and Ba 2015).

    ``m``/``v`` are the moving averages of the gradient and its square;
    ``step`` the learning rate of this step; ``correction1/2`` the bias
    corrections ``1 - beta^t``. Gradient entries are clipped to
    ``[-grad_max, grad_max]`` first: beyond about 1e154 the square overflows,
    ``v`` becomes ``inf`` for good and the parameter would never move again
    (huge gradients arise from penalties acting on tiny total weights). Adam's
    step hardly depends on the gradient's scale, so the clip changes nothing
    else.
    """
    for j in range(theta.shape[0]):
        g = min(max(grad[j], -grad_max), grad_max)
        m[j] = beta1 * m[j] + (1.0 - beta1) * g
        v[j] = beta2 * v[j] + (1.0 - beta2) * g * g
        theta[j] -= step * (m[j] / correction1) / (np.sqrt(v[j] / correction2) + eps)


# -- sparse top-k routing -------------------------------------------------------
#
# A sparse model evaluates, per row, only the experts in ``sel[i, :s]``: the
# ``s`` largest gate logits (``s = k`` at prediction, ``k + 1`` in training).
# Per-slot arrays are laid out ``(n, s, ...)``: slot ``j`` of row ``i`` is
# expert ``sel[i, j]``.


@_jit()
def _topk_row(logits, k, sel, i):
    """Indices of the ``k`` largest logits of row ``i``, largest first.

    Insertion into a sorted buffer of length ``k``; a later expert displaces
    an earlier one only when strictly larger, so ties go to the lower index.
    The current ``k``-th value is kept in a register: most experts are
    rejected by one comparison.
    """
    n_experts = logits.shape[1]
    filled = 0
    kth = -np.inf
    for j in range(n_experts):
        v = logits[i, j]
        if filled == k:
            if not v > kth:
                continue
            pos = k - 1
        else:
            pos = filled
            filled += 1
        while pos > 0 and v > logits[i, sel[i, pos - 1]]:
            sel[i, pos] = sel[i, pos - 1]
            pos -= 1
        sel[i, pos] = j
        if filled == k:
            kth = logits[i, sel[i, k - 1]]


@_jit()
def topk_rows(logits, k, sel):
    """``sel[i, :k]``: the experts with the ``k`` largest ``logits[i]``, largest first."""
    for i in range(logits.shape[0]):
        _topk_row(logits, k, sel, i)


@_jit()
def _gather_row(values, sel, out, i):
    for j in range(sel.shape[1]):
        out[i, j] = values[i, sel[i, j]]


@_jit()
def gather_rows(values, sel, out):
    """``out[i, j] = values[i, sel[i, j]]``."""
    for i in range(sel.shape[0]):
        _gather_row(values, sel, out, i)


@_jit()
def _sparse_linear_row(X1, coef, sel, out, i):
    n_out, q = coef.shape[1], coef.shape[2]
    for j in range(sel.shape[1]):
        e = sel[i, j]
        for o in range(n_out):
            acc = 0.0
            for c in range(q):
                acc += coef[e, o, c] * X1[i, c]
            out[i, j, o] = acc


@_jit()
def sparse_linear_rows(X1, coef, sel, out):
    """Outputs of the selected linear experts only.

    ``out[i, j, o] = coef[sel[i, j], o, :q] . X1[i, :q]`` with ``coef`` of
    shape ``(n_experts, n_out, q)``: ``k`` experts per row, whatever the
    number of experts.
    """
    for i in range(sel.shape[0]):
        _sparse_linear_row(X1, coef, sel, out, i)


@_jit(parallel=True)
def sparse_linear_rows_parallel(X1, coef, sel, out):
    """Threaded twin of :func:`sparse_linear_rows`."""
    for i in numba.prange(sel.shape[0]):
        _sparse_linear_row(X1, coef, sel, out, i)


@_jit()
def sparse_linear_backward_rows(X1, sel, dout, grad_coef):
    """Add ``dout[i, j, :] outer X1[i, :q]`` into ``grad_coef[sel[i, j]]`` (rows in order)."""
    n_out, q = grad_coef.shape[1], grad_coef.shape[2]
    for i in range(sel.shape[0]):
        for j in range(sel.shape[1]):
            e = sel[i, j]
            for o in range(n_out):
                g = dout[i, j, o]
                for c in range(q):
                    grad_coef[e, o, c] += g * X1[i, c]


@_jit()
def group_by_expert(sel, n_experts, order, offsets):
    """Counting sort of the (row, slot) pairs by expert.

    ``order[offsets[e]:offsets[e + 1]]`` lists the flat positions
    ``i * s + j`` with ``sel[i, j] == e``, in row order.
    """
    n, s = sel.shape
    for e in range(n_experts + 1):
        offsets[e] = 0
    for i in range(n):
        for j in range(s):
            offsets[sel[i, j] + 1] += 1
    for e in range(n_experts):
        offsets[e + 1] += offsets[e]
    fill = offsets[:n_experts].copy()
    for i in range(n):
        for j in range(s):
            e = sel[i, j]
            order[fill[e]] = i * s + j
            fill[e] += 1


@_jit()
def gaussian_slot_loglik_rows(out, y, sel, inv_var, log_const, loglik):
    """``loglik[i, j] = log N(y_i; out[i, j], diag(1 / inv_var[sel[i, j]]))``."""
    m = y.shape[1]
    for i in range(sel.shape[0]):
        for j in range(sel.shape[1]):
            e = sel[i, j]
            acc = 0.0
            for o in range(m):
                d = y[i, o] - out[i, j, o]
                acc += d * d * inv_var[e, o]
            loglik[i, j] = log_const[e] - 0.5 * acc


@_jit()
def categorical_slot_loglik_rows(out, codes, loglik):
    """``loglik[i, j] = log softmax(out[i, j])[codes[i]]`` (``out`` C-contiguous)."""
    n, s, n_classes = out.shape
    logits = out.reshape(n, s * n_classes)
    for i in range(n):
        _categorical_loglik_row(logits, codes, n_classes, 0.0, loglik, i)


@_jit()
def mix_rows(gate_logits, weight, resp, log_norm, gate_resid, gate_q):
    """The E-step's mixing step alone (see ``_mix_row``), on any ``(n, s)`` layout."""
    for i in range(gate_logits.shape[0]):
        _mix_row(gate_logits, weight, resp, log_norm, gate_resid, gate_q, i)


@_jit()
def sparse_gaussian_moments_rows(gate, out, sel, var, mean_out, var_out):
    """Mean and variance of the routed mixture ``sum_j gate[i, j] N(out[i, j], var[sel[i, j]])``.

    Two-pass form of the law of total variance, as the dense kernel.
    """
    for i in range(out.shape[0]):
        _mixture_moments_row(gate, out, sel, False, var, mean_out, var_out, i)


@_jit()
def _route_row(logits, k, sel, gate, i):
    # k = 1 and 2 (the common cases) keep the leaders in registers; otherwise
    # the top-k selection of _topk_row, then the softmax over the selected
    n_experts = logits.shape[1]
    if k == 1:
        best = logits[i, 0]
        arg = 0
        for j in range(1, n_experts):
            v = logits[i, j]
            if v > best:
                best = v
                arg = j
        sel[i, 0] = arg
        gate[i, 0] = 1.0
        return
    if k == 2 and n_experts >= 2:
        a, b = logits[i, 0], logits[i, 1]
        ia, ib = 0, 1
        if b > a:
            a, b, ia, ib = b, a, 1, 0
        for j in range(2, n_experts):
            # branch-free updates (selects): random logits make branches
            # unpredictable
            v = logits[i, j]
            above_a = v > a
            above_b = v > b
            b = a if above_a else (v if above_b else b)
            ib = ia if above_a else (j if above_b else ib)
            a = v if above_a else a
            ia = j if above_a else ia
        sel[i, 0] = ia
        sel[i, 1] = ib
        e = np.exp(b - a)
        gate[i, 0] = 1.0 / (1.0 + e)
        gate[i, 1] = e / (1.0 + e)
        return
    _topk_row(logits, k, sel, i)
    for j in range(k):
        gate[i, j] = logits[i, sel[i, j]]
    top = gate[i, 0]
    acc = 0.0
    for j in range(k):
        e = np.exp(gate[i, j] - top)
        gate[i, j] = e
        acc += e
    inv = 1.0 / acc
    for j in range(k):
        gate[i, j] *= inv


@_jit()
def route_rows(logits, k, sel, gate):
    """Top-k routing: ``sel[i]`` as :func:`topk_rows`, ``gate[i]`` the softmax over them."""
    for i in range(logits.shape[0]):
        _route_row(logits, k, sel, gate, i)


@_jit(parallel=True)
def route_rows_parallel(logits, k, sel, gate):
    """Threaded twin of :func:`route_rows`."""
    for i in numba.prange(logits.shape[0]):
        _route_row(logits, k, sel, gate, i)


# -- load balancing of sparse training (Shazeer et al. 2017) -----------------------


@_jit()
def balance_stats_rows(h, H, sel, w, s, k, q, z, importance, load):
    """First pass of the load-balancing loss over one mini-batch.

    ``h`` and ``H`` ``(n, K)`` are the clean and the (noisy) routing logits,
    ``sel`` ``(n, >= k + 1)`` the indices of ``H``'s largest entries in
    decreasing order, ``w`` ``(n,)`` the normalised row weights and ``s``
    ``(n, K)`` the noise scales (ones without noise). Writes ``q`` = softmax
    of ``H`` and ``z = (h - threshold) / s``, where the threshold of an
    expert in the top ``k`` is the ``(k + 1)``-th largest of ``H`` and that
    of the others the ``k``-th; adds ``w q`` into ``importance`` and
    ``w Phi(z)`` (the probability of being in the top ``k`` under fresh
    noise) into ``load``. Serial: the sums do not depend on threads.
    """
    n, K = H.shape
    inv_sqrt2 = 1.0 / np.sqrt(2.0)
    for i in range(n):
        _softmax_row(H, q, i)
        t_k = H[i, sel[i, k - 1]]
        t_k1 = H[i, sel[i, k]]
        for e in range(K):
            importance[e] += w[i] * q[i, e]
            threshold = t_k
            for j in range(k):
                if sel[i, j] == e:
                    threshold = t_k1
                    break
            zz = (h[i, e] - threshold) / s[i, e]
            z[i, e] = zz
            load[e] += w[i] * 0.5 * math.erfc(-zz * inv_sqrt2)


@_jit()
def balance_grad_rows(q, z, sel, w, s, a, c, k, use_load, grad_H, grad_h):
    """Second pass: derivatives of ``CV^2(importance) + CV^2(load)``.

    ``a`` ``(K,)`` is the derivative of ``CV^2(importance)`` with respect to
    the importances and ``c`` that of ``CV^2(load)`` with respect to the
    loads (unused unless ``use_load``). Writes ``grad_H`` (through the
    softmax and the thresholds) and ``grad_h`` (through ``Phi(z)``), both
    ``(n, K)``.
    """
    n, K = q.shape
    inv_sqrt_2pi = 1.0 / np.sqrt(2.0 * np.pi)
    for i in range(n):
        qa = 0.0
        for e in range(K):
            qa += q[i, e] * a[e]
        for e in range(K):
            grad_H[i, e] = w[i] * q[i, e] * (a[e] - qa)
            grad_h[i, e] = 0.0
        if not use_load:
            continue
        sum_in = 0.0
        sum_all = 0.0
        for e in range(K):
            zz = z[i, e]
            gp = w[i] * c[e] * np.exp(-0.5 * zz * zz) * inv_sqrt_2pi / s[i, e]
            grad_h[i, e] = gp
            sum_all += gp
            for j in range(k):
                if sel[i, j] == e:
                    sum_in += gp
                    break
        # each threshold is an entry of H: -gp flows back to it
        grad_H[i, sel[i, k]] -= sum_in
        grad_H[i, sel[i, k - 1]] -= sum_all - sum_in


# --------------------------------------------------------------------------
# The predictive distribution: CDF, quantiles and CRPS of the mixture
# --------------------------------------------------------------------------
#
# A row's predictive distribution (per output ``o``) is the mixture
# ``sum_j gate[i, j] D_e((y - out[i, j, o]) / std[e, o]) / std[e, o]`` over its
# ``s`` slots, ``e = j`` when ``dense`` else ``sel[i, j]``, where ``D_e`` is
# the standard normal (``df[e, o] = inf``) or Student's t with ``df[e, o]``
# degrees of freedom (``tconst[e, o]`` its log normalising constant, see
# ``_t_log_pdf``). Tail probabilities are summed in the tail they belong to
# (``upper``: ``P(Y > y)``), so levels near 0 and near 1 keep their relative
# accuracy.

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_EPS = 2.220446049250313e-16
#: The quantile search returns its last Halley step unevaluated once the log
#: tail gap is this small (cubic convergence; measured in tests/test_predictive.py).
FINAL_HALLEY_GAP = 1e-5
#: ... provided the step changes the log tail's slope by at most this share
FINAL_HALLEY_BEND = 1e-2


@_jit()
def _ndtri_rough(p):
    """Acklam's rational approximation of the normal quantile, ``0 < p <= 0.5``.

    Relative error below 1.2e-9: enough for starts and (padded) brackets.
    """
    if p >= 0.5:
        return 0.0
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                   - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
                 + 4.374664141464968e+00) * q + 2.938163982698783e+00) / (
            (((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
              + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0)
    q = p - 0.5
    r = q * q
    return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
               - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
             - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q / (
        ((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
           - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
         - 1.328068155288572e+01) * r + 1.0)


@_jit()
def _ndtri_lower(p):
    """Standard normal quantile for ``0 < p <= 0.5``.

    ``_ndtri_rough`` polished by one Halley step on ``erfc``, which brings it
    to machine precision.
    """
    if p >= 0.5:
        return 0.0
    x = _ndtri_rough(p)
    e = 0.5 * math.erfc(-x * _SQRT1_2) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@_jit()
def _betacf(a, b, x):
    """Continued fraction of the regularised incomplete beta function.

    ``I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * cf`` with
    ``cf = 1 / (1 + d_1 / (1 + d_2 / (1 + ...)))``,
    ``d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))`` and
    ``d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))``, evaluated by the
    modified Lentz method; it converges fast for ``x < (a + 1) / (a + b + 2)``.
    """
    tiny = 1e-300
    f = tiny
    c = f
    d = 0.0
    for j in range(1, 2000):
        if j == 1:
            coef = 1.0
        else:
            m = (j - 1) // 2
            if (j - 1) % 2 == 1:
                coef = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
            else:
                coef = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 + coef * d
        if abs(d) < tiny:
            d = tiny
        c = 1.0 + coef / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return f


@_jit()
def _t_lower(z, nu, tconst):
    """``P(T <= z)`` for Student's t with ``nu`` degrees of freedom, ``z <= 0``.

    ``0.5 I_x(nu/2, 1/2)`` with ``x = nu / (nu + z^2)``; ``log B(nu/2, 1/2)
    = -tconst - log(nu)/2``. Both ``x`` and ``1 - x`` are formed without
    cancellation.
    """
    if z == 0.0:
        return 0.5
    a = 0.5 * nu
    b = 0.5
    log_den = math.log(nu + z * z)
    log_x = math.log(nu) - log_den
    log_1mx = 2.0 * math.log(-z) - log_den
    log_front = a * log_x + b * log_1mx + tconst + 0.5 * math.log(nu)
    x = math.exp(log_x)
    if x < (a + 1.0) / (a + b + 2.0):
        inc = math.exp(log_front) * _betacf(a, b, x) / a
    else:
        inc = 1.0 - math.exp(log_front) * _betacf(b, a, math.exp(log_1mx)) / b
    return 0.5 * inc


@_jit()
def _t_log_pdf(z, nu, tconst):
    """Standard Student's t log density.

    ``tconst = lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2``.
    """
    return tconst - 0.5 * (nu + 1.0) * math.log1p(z * z / nu)


@_jit()
def _mixture_tail(x, upper, gate, out, sel, dense, std, df, tconst, i, o, wmin, zfar):
    """``(P(Y <= x), density, its slope)`` of row ``i``, output ``o`` (``P(Y > x)`` if ``upper``).

    Slots of weight at most ``wmin`` are skipped, and so are the erfc/exp of
    normal slots more than ``zfar`` standard deviations away (their tail
    counts 0 or their whole weight, their density 0): the quantile search
    passes bounds whose neglected mass is below ``1e-16`` of its level, the
    CDF and the CRPS ``wmin = 0`` and ``zfar = inf``.
    """
    tail = 0.0
    dens = 0.0
    slope = 0.0
    for j in range(gate.shape[1]):
        w = gate[i, j]
        if w <= wmin:
            continue
        e = j if dense else sel[i, j]
        sd = std[e, o]
        z = (x - out[i, j, o]) / sd
        nu = df[e, o]
        zt = -z if upper else z
        if math.isinf(nu):
            if zt < -zfar:
                continue
            if zt > zfar:
                tail += w
                continue
            tail += w * 0.5 * math.erfc(-zt * _SQRT1_2)
            f = w * math.exp(-0.5 * z * z) * _INV_SQRT_2PI / sd
            dens += f
            slope -= f * z / sd
        else:
            tail += w * (_t_lower(zt, nu, tconst[e, o]) if zt <= 0.0
                         else 1.0 - _t_lower(-zt, nu, tconst[e, o]))
            f = w * math.exp(_t_log_pdf(z, nu, tconst[e, o])) / sd
            dens += f
            slope -= f * (nu + 1.0) * z / ((nu + z * z) * sd)
    return tail, dens, slope


@_jit()
def _tail_gap(x, upper, log_t, gate, out, sel, dense, std, df, tconst, i, o, wmin, zfar):
    """``(g, g', g'')`` with ``g = log F(x) - log t`` (or ``log t - log S(x)``), increasing."""
    tail, dens, slope = _mixture_tail(x, upper, gate, out, sel, dense, std, df, tconst, i, o,
                                      wmin, zfar)
    if tail <= 0.0:
        return (np.inf if upper else -np.inf), 0.0, 0.0
    g = log_t - math.log(tail) if upper else math.log(tail) - log_t
    g1 = dens / tail
    g2 = slope / tail + g1 * g1 if upper else slope / tail - g1 * g1
    return g, g1, g2


@_jit()
def _single_slot_bound(t, upper, lo, hi, start, gate, out, sel, dense, std, i, o):
    """Tighten the bracket of a normal mixture's quantile with single-slot bounds.

    One slot alone: ``F >= w_j F_j``, so ``F`` reaches ``t`` at or before the
    point where ``w_j F_j`` does (``S`` likewise above the median). The
    tightest of these bounds ends the bracket and starts the search: sharp
    when one slot dominates the tail. Returns ``(lo, hi, start)``.
    """
    bound = np.inf if not upper else -np.inf
    bound_pad = 0.0
    for j in range(gate.shape[1]):
        w = gate[i, j]
        if w <= t:
            continue
        e = j if dense else sel[i, j]
        r = t / w
        z = _ndtri_rough(r) if r <= 0.5 else -_ndtri_rough(1.0 - r)
        b = out[i, j, o] - std[e, o] * z if upper else out[i, j, o] + std[e, o] * z
        if (b > bound) if upper else (b < bound):
            bound = b
            # the rough quantile's error is at most 1.2e-9 |z| scales
            bound_pad = 4e-9 * (abs(z) + 1.0) * std[e, o] + 1e-12 * abs(b)
    if not math.isinf(bound):
        if upper:
            lo = max(lo, bound - bound_pad)
        else:
            hi = min(hi, bound + bound_pad)
        start = bound
    return lo, hi, start


@_jit()
def _widen_bracket(lo, hi, spread, upper, log_t, gate, out, sel, dense, std, df, tconst, i, o,
                   wmin, zfar):
    """Widen ``[lo, hi]`` (doubling steps) until the log tail gap changes sign across it.

    For t slots, whose normal quantiles need not bracket the root.
    """
    step = spread
    while _tail_gap(lo, upper, log_t, gate, out, sel, dense, std, df, tconst, i, o, wmin,
                    zfar)[0] > 0.0:
        hi = lo
        lo -= step
        step *= 2.0
    step = spread
    while _tail_gap(hi, upper, log_t, gate, out, sel, dense, std, df, tconst, i, o, wmin,
                    zfar)[0] < 0.0:
        lo = hi
        hi += step
        step *= 2.0
    return lo, hi


@_jit()
def _mixture_quantile(p, lo_bound, gate, out, sel, dense, std, df, tconst, i, o):
    """The ``p``-quantile of row ``i``, output ``o``: safeguarded Halley on the log tail.

    The root of ``g`` (``_tail_gap``) lies between the smallest and the
    largest of the slots' own ``p``-quantiles (exactly, for normal slots;
    t slots start from the normal ones and the bracket is widened until it
    holds), and above ``lo_bound`` (the quantile of a lower level, or
    ``-inf``). Halley steps on ``g`` are taken when they stay inside the
    bracket and at least halve ``|g|`` (Newton steps when Halley's
    denominator is not positive), bisection otherwise. Stops when
    ``|g| <= 1e-14`` (a relative error of ``1e-14`` in the tail
    probability) or the bracket is within 4 ulp.
    """
    upper = p > 0.5
    t = 1.0 - p if upper else p
    log_t = math.log(t)
    wmin = 1e-18 * t
    zfar = math.sqrt(2.0 * (37.0 - log_t))  # normal tail mass beyond: < 1e-16 t
    z0 = _ndtri_rough(t)
    zs = -z0 if upper else z0
    lo = np.inf
    hi = -np.inf
    start = 0.0
    wsum = 0.0
    spread = 0.0
    student = False
    for j in range(gate.shape[1]):
        w = gate[i, j]
        if w <= wmin:
            continue
        e = j if dense else sel[i, j]
        qj = out[i, j, o] + std[e, o] * zs
        lo = min(lo, qj)
        hi = max(hi, qj)
        start += w * qj
        wsum += w
        spread = max(spread, std[e, o])
        student = student or not math.isinf(df[e, o])
    start /= wsum
    # the normal slots' quantiles bracket the root up to the rough ndtri's
    # relative error (1.2e-9 of z)
    pad = 4e-9 * (abs(z0) + 1.0) * spread + 1e-12 * (abs(lo) + abs(hi))
    lo -= pad
    hi += pad
    if not student:
        lo, hi, start = _single_slot_bound(t, upper, lo, hi, start, gate, out, sel, dense, std,
                                           i, o)
    if student:
        lo, hi = _widen_bracket(lo, hi, spread, upper, log_t, gate, out, sel, dense, std, df,
                                tconst, i, o, wmin, zfar)
    if lo_bound > lo:
        lo = min(lo_bound, hi)
    x = min(max(start, lo), hi)
    if x == lo or x == hi:
        x = 0.5 * (lo + hi)
    g_prev = np.inf
    for _ in range(2000):
        g, g1, g2 = _tail_gap(x, upper, log_t, gate, out, sel, dense, std, df, tconst, i, o,
                              wmin, zfar)
        if g == 0.0 or abs(g) <= 1e-14:
            return x
        if g < 0.0:
            lo = x
        else:
            hi = x
        if hi - lo <= 4.0 * _EPS * max(abs(lo), abs(hi)):
            return x
        nxt = 0.5 * (lo + hi)
        if g1 > 0.0 and abs(g) <= 0.5 * abs(g_prev):
            den = 2.0 * g1 * g1 - g * g2
            step = 2.0 * g * g1 / den if den > 0.0 else g / g1
            if lo < x - step < hi:
                if (den > 0.0 and abs(g) <= FINAL_HALLEY_GAP
                        and abs(g2 * step) <= FINAL_HALLEY_BEND * g1):
                    # Halley's error is about (bend^2 / 4) |g| when the
                    # density's relative change over the step ("bend") is
                    # small: below 1e-10 in the tail probability here
                    return x - step
                nxt = x - step
            elif lo < x - g / g1 < hi:
                nxt = x - g / g1
        g_prev = g
        x = nxt
    return x


@_jit()
def _mixture_quantile_row(gate, out, sel, dense, std, df, tconst, levels, q_out, i):
    # a quantile bounds that of the next level from below when the levels rise
    for o in range(out.shape[2]):
        below = -np.inf
        for k in range(levels.shape[0]):
            if k > 0 and levels[k] < levels[k - 1]:
                below = -np.inf
            below = _mixture_quantile(levels[k], below, gate, out, sel, dense, std, df,
                                      tconst, i, o)
            q_out[i, o, k] = below


@_jit()
def mixture_quantile_rows(gate, out, sel, dense, std, df, tconst, levels, q_out):
    """Quantiles ``q_out[i, o, k]`` of the predictive mixture at ``levels[k]``.

    Each by ``_mixture_quantile``; where the levels rise, each quantile is a
    lower bound of the next (callers sort them: fewer steps, monotone results).

    ``gate`` ``(n, s)``, ``out`` ``(n, s, m)`` slot means, ``sel`` ``(n, s)``
    (unused when ``dense``), ``std``, ``df``, ``tconst`` ``(K, m)``, ``levels``
    in ``(0, 1)``.
    """
    for i in range(gate.shape[0]):
        _mixture_quantile_row(gate, out, sel, dense, std, df, tconst, levels, q_out, i)


@_jit(parallel=True)
def mixture_quantile_rows_parallel(gate, out, sel, dense, std, df, tconst, levels, q_out):
    """Threaded twin of :func:`mixture_quantile_rows`."""
    for i in numba.prange(gate.shape[0]):
        _mixture_quantile_row(gate, out, sel, dense, std, df, tconst, levels, q_out, i)


@_jit()
def mixture_cdf_rows(gate, out, sel, dense, std, df, tconst, y, cdf_out):
    """``cdf_out[i, o] = P(Y_o <= y[i, o])`` under row ``i``'s predictive mixture."""
    for i in range(gate.shape[0]):
        for o in range(out.shape[2]):
            tail = _mixture_tail(y[i, o], False, gate, out, sel, dense, std, df, tconst,
                                 i, o, 0.0, np.inf)[0]
            cdf_out[i, o] = min(tail, 1.0)


@_jit()
def _crps_a(mu, s2):
    """``E|Z|`` for ``Z ~ N(mu, s2)``: ``2 s phi(mu/s) + mu erf(mu / (s sqrt 2))``."""
    s = math.sqrt(s2)
    z = mu / s
    return 2.0 * s * math.exp(-0.5 * z * z) * _INV_SQRT_2PI + mu * math.erf(z * _SQRT1_2)


@_jit()
def gaussian_mixture_crps_rows(gate, out, sel, dense, std, y, crps_out):
    """CRPS of each row's Gaussian predictive mixture at ``y[i, o]`` (Grimit et al. 2006).

    ``CRPS = sum_j w_j A(y - mu_j, s_j^2) - 1/2 sum_jk w_j w_k A(mu_j - mu_k, s_j^2 + s_k^2)``
    with ``A(mu, s2) = E|N(mu, s2)|`` (``_crps_a``): ``E|Y - y| - E|Y - Y'|/2``.
    """
    s = gate.shape[1]
    for i in range(gate.shape[0]):
        for o in range(out.shape[2]):
            first = 0.0
            second = 0.0
            for j in range(s):
                wj = gate[i, j]
                if wj <= 0.0:
                    continue
                ej = j if dense else sel[i, j]
                vj = std[ej, o] * std[ej, o]
                first += wj * _crps_a(y[i, o] - out[i, j, o], vj)
                second += wj * wj * 2.0 * std[ej, o] * _INV_SQRT_2PI * math.sqrt(2.0)
                for k in range(j + 1, s):
                    wk = gate[i, k]
                    if wk <= 0.0:
                        continue
                    ek = k if dense else sel[i, k]
                    vk = std[ek, o] * std[ek, o]
                    second += 2.0 * wj * wk * _crps_a(out[i, j, o] - out[i, k, o], vj + vk)
            crps_out[i, o] = first - 0.5 * second


# Gauss-Kronrod 7-15 nodes on [-1, 1] (the positive half; 0 last) and weights
_GK_NODES = np.array([0.991455371120812639, 0.949107912342758525, 0.864864423359769073,
                      0.741531185599394440, 0.586087235467691130, 0.405845151377397167,
                      0.207784955007898468, 0.0])
_GK_K = np.array([0.022935322010529225, 0.063092092629978553, 0.104790010322250184,
                  0.140653259715525919, 0.169004726639267903, 0.190350578064785410,
                  0.204432940075298892, 0.209482141084727828])
_GK_G = np.array([0.129484966168869693, 0.279705391489276668, 0.381830050505118945,
                  0.417959183673469388])


@_jit()
def _crps_integrand(t, kind, anchor, c, gate, out, sel, dense, std, df, tconst, i, o):
    """Integrand of the CRPS pieces: ``F^2`` (kind 0), ``S^2`` (1), tails in ``t`` (2, 3).

    Kind 2 is ``int_{-inf}^{anchor} F^2`` with ``z = anchor - c t / (1 - t)``,
    kind 3 ``int_{anchor}^{inf} S^2`` with ``z = anchor + c t / (1 - t)``.
    """
    if kind <= 1:
        tail = _mixture_tail(t, kind == 1, gate, out, sel, dense, std, df, tconst, i, o, 0.0,
                             np.inf)[0]
        return tail * tail
    jac = c / ((1.0 - t) * (1.0 - t))
    step = c * t / (1.0 - t)
    z = anchor - step if kind == 2 else anchor + step
    tail = _mixture_tail(z, kind == 3, gate, out, sel, dense, std, df, tconst, i, o, 0.0,
                         np.inf)[0]
    return tail * tail * jac


@_jit()
def _gk15(a, b, kind, anchor, c, gate, out, sel, dense, std, df, tconst, i, o):
    """``(Kronrod 15-point value, |Kronrod - Gauss 7|)`` of the integrand on ``[a, b]``."""
    mid = 0.5 * (a + b)
    half = 0.5 * (b - a)
    f0 = _crps_integrand(mid, kind, anchor, c, gate, out, sel, dense, std, df, tconst, i, o)
    k = _GK_K[7] * f0
    g = _GK_G[3] * f0
    for j in range(7):
        dx = half * _GK_NODES[j]
        fs = (_crps_integrand(mid - dx, kind, anchor, c, gate, out, sel, dense, std, df, tconst,
                              i, o)
              + _crps_integrand(mid + dx, kind, anchor, c, gate, out, sel, dense, std, df, tconst,
                                i, o))
        k += _GK_K[j] * fs
        if j % 2 == 1:
            g += _GK_G[j // 2] * fs
    return k * half, abs(k - g) * half


@_jit()
def _adaptive_piece(a, b, kind, anchor, c, gate, out, sel, dense, std, df, tconst, i, o, rtol):
    """Adaptive Gauss-Kronrod on one piece: intervals are split until each error <= rtol * value."""
    los = np.empty(256)
    his = np.empty(256)
    los[0] = a
    his[0] = b
    top = 1
    total = 0.0
    while top > 0:
        top -= 1
        lo, hi = los[top], his[top]
        val, err = _gk15(lo, hi, kind, anchor, c, gate, out, sel, dense, std, df, tconst, i, o)
        if err <= rtol * abs(val) or err < 1e-300 or top >= 254 or hi - lo <= 1e-12 * (
                abs(lo) + abs(hi)):
            total += val
            continue
        mid = 0.5 * (lo + hi)
        los[top], his[top] = lo, mid
        los[top + 1], his[top + 1] = mid, hi
        top += 2
    return total


@_jit()
def mixture_crps_rows(gate, out, sel, dense, std, df, tconst, y, rtol, crps_out):
    """CRPS ``int (F(z) - 1{z >= y})^2 dz`` of any predictive mixture, by quadrature.

    The line is cut at ``y`` and at every active slot's location; the finite
    pieces and the two tails (mapped to ``[0, 1)``, scale ``c`` = the largest
    slot scale) are integrated by adaptive Gauss-Kronrod 7-15 to a relative
    error ``rtol`` each (all integrands are non-negative, so the sum keeps
    it). Infinite when a slot with positive weight has ``df <= 1`` (no mean).
    """
    s = gate.shape[1]
    points = np.empty(s + 1)
    for i in range(gate.shape[0]):
        for o in range(out.shape[2]):
            heavy = False
            c = 0.0
            n_pts = 0
            for j in range(s):
                if gate[i, j] <= 0.0:
                    continue
                e = j if dense else sel[i, j]
                if df[e, o] <= 1.0:
                    heavy = True
                c = max(c, std[e, o])
                points[n_pts] = out[i, j, o]
                n_pts += 1
            if heavy:
                crps_out[i, o] = np.inf
                continue
            yy = y[i, o]
            points[n_pts] = yy
            n_pts += 1
            pts = np.sort(points[:n_pts])
            total = _adaptive_piece(0.0, 1.0, 2, pts[0], c, gate, out, sel, dense, std, df,
                                    tconst, i, o, rtol)
            total += _adaptive_piece(0.0, 1.0, 3, pts[n_pts - 1], c, gate, out, sel, dense, std,
                                     df, tconst, i, o, rtol)
            for j in range(n_pts - 1):
                a, b = pts[j], pts[j + 1]
                if b > a:
                    kind = 0 if b <= yy else 1
                    total += _adaptive_piece(a, b, kind, 0.0, c, gate, out, sel, dense, std, df,
                                             tconst, i, o, rtol)
            crps_out[i, o] = total
