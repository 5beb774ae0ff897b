"""
Quickstart: a mixture of linear experts
=======================================

A mixture of experts models data whose input-output relation changes from one
region of the input space to another. A softmax *gate* ``g(x)`` says which
expert is in charge where, and each *expert* is a linear regression with its
own Gaussian noise.

``p(y | x) = sum_k g_k(x) N(y; a_k . x + c_k, s_k^2)``

This script

1. generates a table of 12,000 rows and 4 features from three softmax-gated
   linear regimes (NumPy only, no download),
2. fits :class:`skmoe.MixtureOfExpertsRegressor` with three experts by EM,
3. prints what was learned next to the true parameters, the held-out R^2
   (against a plain :class:`~sklearn.linear_model.LinearRegression`) and the
   held-out mean log-likelihood,
4. and, when matplotlib is installed, saves ``quickstart.png``: a
   one-feature model with each expert's line, the mixture mean with a
   +/- 2 std band, and the gate probabilities.

Run it with ``python examples/quickstart.py [--out PATH]``.
"""

# %%
# Imports and command line
# ------------------------
import argparse
import os
import sys
import time

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

from skmoe import MixtureOfExpertsRegressor

parser = argparse.ArgumentParser(description="skmoe quickstart: a mixture of linear experts")
parser.add_argument(
    "--out", default="quickstart.png", help="where to save the plot (default: %(default)s)"
)
# parse_known_args: sphinx-gallery runs the script with its own argv
args, _ = parser.parse_known_args()
t_start = time.perf_counter()

# %%
# A synthetic table with three regimes
# ------------------------------------
# Four standard-normal features. The gate logits depend on ``x0`` and ``x1``
# only, so the regimes are three wedges of the ``(x0, x1)`` plane; inside each
# regime ``y`` is a different linear function of all four features plus
# Gaussian noise of a different size.
rng = np.random.RandomState(42)
n_samples, n_features, n_regimes = 12_000, 4, 3

true_gate_coef = np.array(
    [
        [-4.0, 0.0, 0.0, 0.0],
        [2.0, 3.5, 0.0, 0.0],
        [2.0, -3.5, 0.0, 0.0],
    ]
)
true_gate_intercept = np.zeros(n_regimes)
true_coef = np.array(
    [
        [1.0, -2.0, 0.5, 0.0],
        [-1.5, 1.0, 0.0, 2.0],
        [0.5, 0.5, -1.0, -1.0],
    ]
)
true_intercept = np.array([-3.0, 0.0, 3.0])
true_std = np.array([0.3, 0.5, 0.2])

X = rng.standard_normal((n_samples, n_features))
logits = X @ true_gate_coef.T + true_gate_intercept
gate = np.exp(logits - logits.max(axis=1, keepdims=True))
gate /= gate.sum(axis=1, keepdims=True)
# draw each row's regime from the gate, then y from that regime's expert
regime = (rng.uniform(size=(n_samples, 1)) > np.cumsum(gate, axis=1)).sum(axis=1)
regime = np.minimum(regime, n_regimes - 1)
y = (
    np.einsum("ij,ij->i", X, true_coef[regime])
    + true_intercept[regime]
    + true_std[regime] * rng.standard_normal(n_samples)
)

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
print(f"data: {X_train.shape[0]} training rows, {X_test.shape[0]} test rows, "
      f"{n_features} features, {n_regimes} regimes "
      f"(shares {np.round(np.bincount(regime) / n_samples, 2).tolist()})")

# %%
# Fit the mixture of experts
# --------------------------
# Expectation-maximisation from the default start search; ``random_state``
# makes the fit reproducible.
t0 = time.perf_counter()
moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X_train, y_train)
fit_seconds = time.perf_counter() - t0
print(f"fit: {moe.n_iter_} EM iterations, converged_={moe.converged_}, "
      f"{fit_seconds:.2f} s (includes Numba compilation on a first run)")

# %%
# What the model learned
# ----------------------
# Experts come out in no particular order; match each to the true regime whose
# coefficients are closest, only to print them side by side.
fitted = np.column_stack([moe.expert_coef_, moe.expert_intercept_])
truth = np.column_stack([true_coef, true_intercept])
match = [int(np.argmin(((truth - row) ** 2).sum(axis=1))) for row in fitted]

names = [f"x{j}" for j in range(n_features)]
header = f"{'expert':>6} {'load':>5} | " + " ".join(f"{n:>6}" for n in names)
header += f" {'icpt':>6} {'std':>5} | true regime"
print("\nexperts (fitted, and true values of the matched regime):")
print(header)
print("-" * len(header))
for k in range(moe.n_experts):
    r = match[k]
    coefs = " ".join(f"{c:6.2f}" for c in moe.expert_coef_[k])
    print(f"{k:>6} {moe.expert_load_[k]:5.2f} | {coefs} "
          f"{moe.expert_intercept_[k]:6.2f} {np.sqrt(moe.expert_var_[k]):5.2f} | {r}")
    coefs = " ".join(f"{c:6.2f}" for c in true_coef[r])
    print(f"{'true':>6} {'':5} | {coefs} {true_intercept[r]:6.2f} {true_std[r]:5.2f} |")

# %%
# The gate is identified only up to adding the same vector to every row (the
# softmax does not change); skmoe reports the centred version, whose columns
# sum to zero, like the true gate of this example.
print("\ngate coefficients (rows: experts):")
print(f"{'expert':>6} | " + " ".join(f"{n:>6}" for n in names) + f" {'icpt':>6}")
for k in range(moe.n_experts):
    coefs = " ".join(f"{c:6.2f}" for c in moe.gate_coef_[k])
    print(f"{k:>6} | {coefs} {moe.gate_intercept_[k]:6.2f}")

# %%
# Held-out scores
# ---------------
# ``score`` is R^2 as for any scikit-learn regressor; ``log_likelihood`` gives
# ``log p(y_i | x_i)`` per row, which also rewards a well-calibrated spread.
# For the baseline, the log-likelihood is that of a single Gaussian around its
# prediction, with the training residual variance.
baseline = LinearRegression().fit(X_train, y_train)
s2 = np.mean((y_train - baseline.predict(X_train)) ** 2)
baseline_ll = -0.5 * (np.log(2 * np.pi * s2) + (y_test - baseline.predict(X_test)) ** 2 / s2)
print("\nheld-out                      R^2   mean log-likelihood")
print(f"  MixtureOfExpertsRegressor  {moe.score(X_test, y_test):6.3f}  "
      f"{moe.log_likelihood(X_test, y_test).mean():8.3f}")
print(f"  LinearRegression           {baseline.score(X_test, y_test):6.3f}  "
      f"{baseline_ll.mean():8.3f}")

# %%
# A picture in one dimension
# --------------------------
# With one feature the whole model fits in a plot: three regimes along ``x``,
# a small second model fitted just for the picture. The band is the mixture's
# predictive mean +/- 2 standard deviations; it widens where the gate is
# unsure which expert applies.
rng1 = np.random.RandomState(1)
x1 = rng1.uniform(-3, 3, size=(1500, 1))
g_logits = np.column_stack([-4.0 * x1[:, 0] - 4.0, np.zeros(len(x1)), 4.0 * x1[:, 0] - 4.0])
g1 = np.exp(g_logits - g_logits.max(axis=1, keepdims=True))
g1 /= g1.sum(axis=1, keepdims=True)
r1 = np.minimum((rng1.uniform(size=(len(x1), 1)) > np.cumsum(g1, axis=1)).sum(axis=1), 2)
slopes, intercepts, stds = np.array([-2.0, 0.5, 2.0]), np.array([-1.0, 1.0, -2.0]), 0.3
y1 = slopes[r1] * x1[:, 0] + intercepts[r1] + stds * rng1.standard_normal(len(x1))
moe1 = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(x1, y1)

try:
    import matplotlib
except ImportError:
    matplotlib = None

if matplotlib is None:
    print('\nplot skipped: matplotlib is not installed (pip install ".[plot]" to get it)')
else:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(-3, 3, 400)[:, None]
    mean, std = moe1.predict(grid, return_std=True)
    experts = moe1.predict_experts(grid)
    proba = moe1.gate_proba(grid)
    order = np.argsort(moe1.expert_coef_[:, 0])  # colour experts by slope
    colors = ["tab:blue", "tab:orange", "tab:green"]

    fig, (ax_top, ax_bottom) = plt.subplots(
        2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    ax_top.scatter(x1[:, 0], y1, s=4, c="0.6", alpha=0.5, label="data")
    ax_top.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, color="k", alpha=0.12,
                        label="± 2 std")
    ax_top.plot(grid[:, 0], mean, "k-", lw=2, label="mixture mean")
    for color, k in zip(colors, order, strict=False):
        ax_top.plot(grid[:, 0], experts[:, k], "--", color=color, lw=1.5,
                    label=f"expert {k}: y = {moe1.expert_coef_[k, 0]:.2f} x "
                          f"{moe1.expert_intercept_[k]:+.2f}")
        ax_bottom.plot(grid[:, 0], proba[:, k], color=color, lw=2, label=f"g_{k}(x)")
    ax_top.set_ylim(y1.min() - 1, y1.max() + 1)
    ax_top.set_ylabel("y")
    ax_top.legend(loc="upper center", fontsize=8, ncol=2)
    ax_top.set_title("MixtureOfExpertsRegressor(n_experts=3) on one feature")
    ax_bottom.set_xlabel("x")
    ax_bottom.set_ylabel("gate probability")
    ax_bottom.set_ylim(-0.05, 1.05)
    ax_bottom.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    if args.out != os.devnull:  # the docs build sends the copy to the null device
        print(f"\nplot saved to {args.out}")

print(f"total time: {time.perf_counter() - t_start:.1f} s")
sys.stdout.flush()
