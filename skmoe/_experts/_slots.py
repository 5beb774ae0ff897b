"""Per-slot likelihoods of the sparse model, shared by the expert families.

A sparse model evaluates, for row ``i``, only the experts ``sel[i, j]``
(``j < s``). Their outputs ``out`` of shape ``(n, s, o)`` are means
(Gaussian experts) or class logits (categorical experts); the functions here
turn them into log-likelihoods and, given the soft weights ``v[i, j] = w_i
r_ij``, into the derivative of ``sum_ij v_ij log p_sel[i,j](y_i | x_i)`` with
respect to the outputs (and to the Gaussian log-variances).
"""

import numpy as np

from .. import _kernels
from .._threads import threaded

_LOG_2PI = float(np.log(2.0 * np.pi))


def gaussian_slot_loglik(out, y, sel, var):
    n, s = sel.shape
    log_const = -0.5 * np.sum(np.log(var) + _LOG_2PI, axis=1)
    loglik = np.empty((n, s))
    _kernels.gaussian_slot_loglik_rows(out, y, sel, 1.0 / var, log_const, loglik)
    return loglik


def gaussian_slot_dout(out, y, sel, var, soft):
    """``d/d out`` (n, s, m) and ``d/d log var`` (K, m) of ``sum v log N``."""
    n_experts, m = var.shape
    diff = y[:, None, :] - out
    scaled = diff / var[sel]
    dout = scaled * soft[:, :, None]
    # 0.5 * sum_ij v_ij (diff^2 / var - 1), per expert
    per_slot = 0.5 * (dout * diff - soft[:, :, None])  # (n, s, m)
    flat_sel = sel.ravel()
    grad_log_var = np.empty((n_experts, m))
    for o in range(m):
        grad_log_var[:, o] = np.bincount(
            flat_sel, weights=per_slot[:, :, o].ravel(), minlength=n_experts
        )
    return dout, grad_log_var


def categorical_slot_loglik(out, codes):
    n, s, _ = out.shape
    loglik = np.empty((n, s))
    _kernels.categorical_slot_loglik_rows(np.ascontiguousarray(out), codes, loglik)
    return loglik


def categorical_slot_dout(out, codes, soft):
    n, s, C = out.shape
    prob = np.empty((n * s, C))
    _kernels.softmax_rows(np.ascontiguousarray(out).reshape(n * s, C), prob)
    dout = -prob.reshape(n, s, C)
    dout[np.arange(n), :, codes] += 1.0
    dout *= soft[:, :, None]
    return dout


def linear_slot_outputs(coef, X1, sel):
    """Outputs of the selected linear experts, ``(n, s, n_out)`` (Numba, no grouping)."""
    n, s = sel.shape
    out = np.empty((n, s, coef.shape[1]))
    big = threaded(n * s >= (1 << 14))
    kernel = _kernels.sparse_linear_rows_parallel if big else _kernels.sparse_linear_rows
    kernel(X1, np.ascontiguousarray(coef), sel, out)
    return out


def linear_slot_backward(coef_shape, X1, sel, dout):
    grad = np.zeros(coef_shape)
    _kernels.sparse_linear_backward_rows(X1, sel, np.ascontiguousarray(dout), grad)
    return grad
