"""PyTorch (CPU) baseline for the gradient solvers: the dense MoE regressor.

The same model as ``skmoe.MixtureOfExpertsRegressor(expert="linear" | "mlp")``
with ``solver="adam"`` or ``"lbfgs"``, written the way a competent PyTorch
user would: batched experts (no per-expert Python loop in ``forward``),
``torch.optim.Adam`` on shuffled mini-batches, ``torch.optim.LBFGS`` on the
full batch. Used by ``bench_gradient.py``; importing this module needs torch.

Model, on standardised data (``X`` columns and ``y`` by their mean and
standard deviation, ``ddof=0``; the layers carry the intercepts)::

    gate       g = softmax(W_g x + b_g)                         (K logits)
    linear     mu_k = A_k . x + c_k                             (one Linear(d, K))
    mlp        h_k = tanh(W1_k x + b1_k)  (H units per expert; one Linear(d, K*H))
               mu_k = w2_k . h_k + b2_k                         ((h * w2).sum(-1), batched)
    expert k   log p_k(y | x) = -0.5 (log 2 pi + s_k + (y - mu_k)^2 exp(-s_k))

Loss on a batch of B rows (n = number of training rows)::

    -(1/B) sum_i logsumexp_k(log g_ik + log p_k(y_i | x_i))
    + (1/n) [ gate_alpha/2 ||W_g||^2 + penalty_experts ]

with ``penalty_experts = alpha/2 sum_k ||A_k||^2 exp(-s_k)`` (linear) or
``alpha/2 (||W1||^2 + ||w2||^2)`` (mlp); biases and intercepts are not
penalised. On the full batch this is the negative of skmoe's penalised
objective per unit weight.

Initialisation is PyTorch's default for ``nn.Linear`` (``torch.manual_seed``
fixed), ``w2``/``b2`` drawn like a ``Linear(H, 1)`` per expert, ``s_k = 0``
(unit variance in standardised units). There is no start search, unlike
skmoe, so the final log-likelihoods of the two sides need not agree; the
benchmark compares time per epoch / iteration.
"""

import math
import time

import numpy as np
import torch
from torch import nn

__all__ = [
    "TorchMoE",
    "standardise",
    "to_tensors",
    "fit_adam",
    "fit_lbfgs",
    "mean_log_likelihood",
]

LOG_2PI = math.log(2.0 * math.pi)


def standardise(X, y):
    """Return ``(Xs, ys, log_scale_y)``: columns of ``X`` and ``y`` standardised.

    Unit weights, so the weighted mean / standard deviation are the plain ones
    (``ddof=0``). A constant column is left centred (scale 1).
    ``log_scale_y`` converts a mean log-likelihood to the user's units:
    ``LL_user = LL_std - log_scale_y``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mx, sx = X.mean(axis=0), X.std(axis=0)
    sx[sx == 0] = 1.0
    my, sy = y.mean(), y.std()
    sy = sy if sy > 0 else 1.0
    return (X - mx) / sx, (y - my) / sy, math.log(sy)


def to_tensors(Xs, ys, dtype=torch.float64):
    return (
        torch.as_tensor(np.ascontiguousarray(Xs), dtype=dtype),
        torch.as_tensor(np.ascontiguousarray(ys), dtype=dtype),
    )


class TorchMoE(nn.Module):
    """Dense softmax-gated mixture of Gaussian experts (linear or one-hidden-layer tanh MLP)."""

    def __init__(
        self,
        n_features,
        n_experts,
        expert="linear",
        hidden=32,
        alpha=1e-4,
        gate_alpha=1e-4,
        dtype=torch.float64,
    ):
        super().__init__()
        if expert not in ("linear", "mlp"):
            raise ValueError(f"expert must be 'linear' or 'mlp', got {expert!r}")
        d, K, H = n_features, n_experts, hidden
        self.expert, self.K, self.H = expert, K, H
        self.alpha, self.gate_alpha = alpha, gate_alpha
        kw = {"dtype": dtype}
        self.gate = nn.Linear(d, K, **kw)
        if expert == "linear":
            self.mean = nn.Linear(d, K, **kw)  # row k = A_k, bias k = c_k
        else:
            self.hidden = nn.Linear(d, K * H, **kw)  # rows k*H:(k+1)*H = W1_k
            bound = 1.0 / math.sqrt(H)  # what nn.Linear(H, 1) would draw
            self.w2 = nn.Parameter(torch.empty(K, H, **kw).uniform_(-bound, bound))
            self.b2 = nn.Parameter(torch.empty(K, **kw).uniform_(-bound, bound))
        self.log_var = nn.Parameter(torch.zeros(K, **kw))

    def means(self, x):
        """(B, K) expert means."""
        if self.expert == "linear":
            return self.mean(x)
        h = torch.tanh(self.hidden(x)).view(x.shape[0], self.K, self.H)
        # batched output layer as a broadcast product; measured faster than
        # torch.einsum("bkh,kh->bk", h, w2) (0.77 vs 0.96 ms per forward +
        # backward at B = 256, float64, 1 thread: einsum's backward goes
        # through bmm and a strided copy) and within 3% of a block-diagonal
        # (K*H, K) matmul on the full batch
        return (h * self.w2).sum(dim=2) + self.b2

    def log_joint(self, x, y):
        """(B, K): log g_k(x) + log p_k(y | x)."""
        log_gate = torch.log_softmax(self.gate(x), dim=1)
        s = self.log_var
        r = y[:, None] - self.means(x)
        log_p = -0.5 * (LOG_2PI + s + r * r * torch.exp(-s))
        return log_gate + log_p

    def log_likelihood(self, x, y):
        """(B,) per-row log p(y | x) in standardised units."""
        return torch.logsumexp(self.log_joint(x, y), dim=1)

    def penalty(self):
        """gate_alpha/2 ||W_g||^2 + the experts' L2 penalty (weights only)."""
        pen = 0.5 * self.gate_alpha * self.gate.weight.square().sum()
        if self.expert == "linear":
            per_expert = self.mean.weight.square().sum(dim=1)  # (K,)
            pen = pen + 0.5 * self.alpha * (per_expert * torch.exp(-self.log_var)).sum()
        else:
            pen = pen + 0.5 * self.alpha * (
                self.hidden.weight.square().sum() + self.w2.square().sum()
            )
        return pen

    def loss(self, x, y, n_total):
        """Mean negative log-likelihood on the batch + penalty / n_total."""
        return -self.log_likelihood(x, y).mean() + self.penalty() / n_total


def make_model(n_features, n_experts, expert, hidden=32, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return TorchMoE(n_features, n_experts, expert=expert, hidden=hidden, dtype=dtype)


@torch.no_grad()
def mean_log_likelihood(model, X, y, chunk=65536):
    """Mean training log-likelihood in standardised units (chunked, no graph)."""
    total = 0.0
    for start in range(0, X.shape[0], chunk):
        total += float(
            model.log_likelihood(X[start : start + chunk], y[start : start + chunk]).sum()
        )
    return total / X.shape[0]


@torch.no_grad()
def penalised_objective(model, X, y):
    """Full-batch loss (what L-BFGS minimises), without building a graph."""
    return -mean_log_likelihood(model, X, y) + float(model.penalty()) / X.shape[0]


def fit_adam(
    model,
    X,
    y,
    epochs,
    batch_size=256,
    lr=1e-2,
    seed=0,
    trace=False,
    fused=None,
):
    """Mini-batch Adam for ``epochs`` epochs (no early stopping).

    Each epoch draws a permutation from a ``torch.Generator`` seeded ``seed``
    (once, before the first epoch), gathers ``X[perm]``, ``y[perm]`` once and
    walks contiguous slices of ``batch_size`` rows (the last one may be
    shorter). Returns a dict: ``time`` (seconds in the epoch loops only),
    ``epochs``, ``steps``, and with ``trace=True`` ``trace_ll``: the full-data
    mean log-likelihood (standardised units) at the start and after each epoch,
    computed outside the timed region. ``fused`` is passed to
    ``torch.optim.Adam`` (None: PyTorch's default implementation choice).
    """
    n = X.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=fused)
    gen = torch.Generator().manual_seed(seed)
    trace_ll = [mean_log_likelihood(model, X, y)] if trace else None
    elapsed, steps = 0.0, 0
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        Xp, yp = X[perm], y[perm]
        for start in range(0, n, batch_size):
            xb, yb = Xp[start : start + batch_size], yp[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = model.loss(xb, yb, n)
            loss.backward()
            opt.step()
            steps += 1
        elapsed += time.perf_counter() - t0
        if trace:
            trace_ll.append(mean_log_likelihood(model, X, y))
    return {"time": elapsed, "epochs": epochs, "steps": steps, "trace_ll": trace_ll}


def fit_lbfgs(model, X, y, max_iter, history_size=20):
    """Full-batch ``torch.optim.LBFGS`` (strong Wolfe line search), one ``.step``.

    One ``opt.step(closure)`` call with ``max_iter`` iterations,
    ``max_eval = 25 * max_iter`` and ``tolerance_grad = tolerance_change = 0``,
    so it runs all ``max_iter`` iterations unless the gradient or the step is
    exactly zero. (Calling ``.step`` once per iteration with ``max_iter=1``
    would re-evaluate the loss at the start of every call: one extra function
    evaluation per iteration.) Returns ``time`` (the ``.step`` call),
    ``n_iter`` and ``func_evals`` from the optimiser's state, and the loss
    before and after.
    """
    n = X.shape[0]
    opt = torch.optim.LBFGS(
        model.parameters(),
        lr=1.0,
        max_iter=max_iter,
        max_eval=25 * max_iter,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=history_size,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(X, y, n)
        loss.backward()
        return loss

    loss0 = penalised_objective(model, X, y)
    t0 = time.perf_counter()
    opt.step(closure)
    elapsed = time.perf_counter() - t0
    state = opt.state[opt._params[0]]
    return {
        "time": elapsed,
        "n_iter": int(state.get("n_iter", 0)),
        "func_evals": int(state.get("func_evals", 0)),
        "loss0": loss0,
        "loss": penalised_objective(model, X, y),
    }
