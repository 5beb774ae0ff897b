"""
Choosing the number of experts with BIC
=======================================

How many experts does a data set need? Like
:class:`~sklearn.mixture.GaussianMixture`, both estimators have
:meth:`~skmoe.MixtureOfExpertsRegressor.bic` and
:meth:`~skmoe.MixtureOfExpertsRegressor.aic`: minus twice the log-likelihood
plus a price per free parameter (``log(n)`` for BIC, 2 for AIC). Here the data
come from four regimes; we fit one to eight experts and compare BIC and AIC
with the log-likelihood on held-out data.
"""

# %%
# Data: four regimes on two features
# ----------------------------------
import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import GateDisplay

parser = argparse.ArgumentParser(description="choosing the number of experts with BIC")
parser.add_argument("--out", default="choose_k_bic.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

rng = np.random.RandomState(0)
n = 4000
X = rng.uniform(-3, 3, size=(n, 2))
quadrant = 2 * (X[:, 0] > 0) + (X[:, 1] > 0)
slopes = np.array([[1.0, -1.0], [-2.0, 0.5], [0.5, 2.0], [-1.0, -1.5]])
intercepts = np.array([2.0, -1.0, 0.0, 1.0])
y = (X * slopes[quadrant]).sum(axis=1) + intercepts[quadrant] + rng.normal(0, 0.3, n)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

# %%
# One to eight experts
# --------------------
# The regions of a softmax gate that is linear in ``x`` are convex cells, and
# the four quadrants are such cells, so four experts can represent the data
# exactly. Fewer cannot; more only add parameters (and split a regime between
# two experts). BIC weighs the fit against the number of parameters.
ks = np.arange(1, 9)
bic, aic, held_out, models = [], [], [], {}
for k in ks:
    moe = MixtureOfExpertsRegressor(n_experts=k, random_state=0).fit(X_train, y_train)
    models[k] = moe
    bic.append(moe.bic(X_train, y_train))
    aic.append(moe.aic(X_train, y_train))
    held_out.append(moe.log_likelihood(X_test, y_test).mean())
    print(f"K={k}: BIC {bic[-1]:8.0f}  AIC {aic[-1]:8.0f}  "
          f"held-out mean log-likelihood {held_out[-1]:7.3f}")
best_bic, best_aic = ks[np.argmin(bic)], ks[np.argmin(aic)]
best_held_out = ks[np.argmax(held_out)]
print(f"lowest BIC: K={best_bic}; lowest AIC: K={best_aic}; "
      f"best held-out log-likelihood: K={best_held_out}")

# %%
# The curves, and the gate of the chosen model
# --------------------------------------------
# Left: BIC and AIC (lower is better); right axis: held-out log-likelihood
# (higher is better). Right: the gate of the model BIC chose, over the two
# features, with the test points.
fig, (ax, ax_gate) = plt.subplots(1, 2, figsize=(11.5, 4.6))
ax.plot(ks, bic, "o-", color="C0", label="BIC (training data)")
ax.plot(ks, aic, "s--", color="C1", label="AIC (training data)")
ax.axvline(best_bic, color="C0", lw=6, alpha=0.15)
ax.set_xlabel("n_experts")
ax.set_ylabel("information criterion (lower is better)")
ax_right = ax.twinx()
ax_right.plot(ks, held_out, "^-", color="C2", label="held-out log-likelihood")
ax_right.set_ylabel("held-out mean log-likelihood (higher is better)", color="C2")
lines = ax.get_legend_handles_labels()
more = ax_right.get_legend_handles_labels()
ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize="small")
ax.set_title("Choosing n_experts")

GateDisplay.from_estimator(models[best_bic], X, feature=(0, 1), ax=ax_gate, legend=False)
ax_gate.scatter(*X_test[:600].T, s=3, color="k", alpha=0.4)
ax_gate.set_title(f"Gate of the model with the lowest BIC (K={best_bic})")
fig.tight_layout()
fig.savefig(args.out, dpi=100)

# %%
# BIC, AIC and the held-out log-likelihood agree: the fit improves sharply up
# to four experts and not at all after, while BIC keeps charging for the
# extra parameters. (AIC's price per parameter is smaller, so its curve is
# flatter beyond the optimum and it is more tempted by too many experts.)
# The user guide's section on choosing the number of experts gives the exact
# parameter counts, and shows the same choice made by cross-validation with
# :class:`~sklearn.model_selection.GridSearchCV`.
