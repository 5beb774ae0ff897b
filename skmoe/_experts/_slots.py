"""Per-slot outputs of linear mean functions in the sparse model.

A sparse model evaluates, for row ``i``, only the experts ``sel[i, j]``
(``j < s``). Their outputs ``out`` of shape ``(n, s, o)`` are means
(Gaussian head) or class logits (categorical head); the heads
(``_heads``) turn them into log-likelihoods and derivatives with respect to
the outputs, and the functions here compute them and back-propagate those
derivatives to the coefficients of linear (and constant) experts.
"""

import numpy as np

from .. import _kernels
from .._threads import threaded


def linear_slot_outputs(coef, X1, sel):
    """Outputs of the selected linear experts, ``(n, s, n_out)`` (Numba, no grouping)."""
    n, s = sel.shape
    out = np.empty((n, s, coef.shape[1]))
    big = threaded(n * s)
    kernel = _kernels.sparse_linear_rows_parallel if big else _kernels.sparse_linear_rows
    kernel(X1, np.ascontiguousarray(coef), sel, out)
    return out


def linear_slot_backward(coef_shape, X1, sel, dout):
    grad = np.zeros(coef_shape)
    _kernels.sparse_linear_backward_rows(X1, sel, np.ascontiguousarray(dout), grad)
    return grad
