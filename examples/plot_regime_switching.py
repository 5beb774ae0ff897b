"""
Regime-switching regression: recovering the parameters
======================================================

Data drawn from a known mixture of experts: three regimes chosen by a softmax
gate on two of three features, each a linear regression with its own noise.
We fit :class:`~skmoe.MixtureOfExpertsRegressor` with three experts and
compare every fitted parameter (gate, slopes, intercepts, noise levels) with
the truth; then we fit on growing samples to see the error shrink like
``1 / sqrt(n)``, and look at the EM training curves with
:class:`~skmoe.inspection.LogLikelihoodCurveDisplay`.
"""

# %%
# The generating model
# --------------------
import argparse
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import LogLikelihoodCurveDisplay

parser = argparse.ArgumentParser(description="regime-switching regression")
parser.add_argument("--out", default="regime_switching.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments
out = Path(args.out)

gate_coef = np.array([[-3.0, 0.0, 0.0], [1.5, 2.5, 0.0], [1.5, -2.5, 0.0]])  # centred
gate_intercept = np.array([0.5, -0.25, -0.25])
coef = np.array([[1.0, -2.0, 0.5], [-1.5, 1.0, 2.0], [0.5, 0.5, -1.0]])
intercept = np.array([-2.0, 0.0, 2.0])
noise = np.array([0.3, 0.5, 0.2])


def sample(n, rng):
    X = rng.standard_normal((n, 3))
    logits = X @ gate_coef.T + gate_intercept
    g = np.exp(logits - logits.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    regime = (rng.uniform(size=(n, 1)) > np.cumsum(g, axis=1)).sum(axis=1).clip(max=2)
    y = (X * coef[regime]).sum(axis=1) + intercept[regime]
    return X, y + noise[regime] * rng.standard_normal(n)


def parameters(gc, gi, c, i, s):
    """All parameters of one model, one row per expert."""
    return np.column_stack([gc, gi, c, i, s])


truth = parameters(gate_coef, gate_intercept, coef, intercept, noise)


def fitted_parameters(moe):
    """Fitted parameters, experts reordered to match the true regimes."""
    est = parameters(moe.gate_coef_, moe.gate_intercept_, moe.expert_coef_,
                     moe.expert_intercept_, np.sqrt(moe.expert_var_))
    # experts come out in arbitrary order: match them on the expert slopes
    cost = ((coef[:, None, :] - moe.expert_coef_[None, :, :]) ** 2).sum(axis=2)
    _, match = linear_sum_assignment(cost)
    return est[match]


# %%
# One fit on 8,000 rows
# ---------------------
rng = np.random.RandomState(0)
X, y = sample(8000, rng)
moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
est = fitted_parameters(moe)
names = ["gate x0", "gate x1", "gate x2", "gate b", "x0", "x1", "x2", "b", "noise"]
print(f"{'regime':>6} " + " ".join(f"{n:>7}" for n in names))
for r in range(3):
    print(f"{r:>6} " + " ".join(f"{v:7.2f}" for v in est[r]) + "   fitted")
    print(f"{'':>6} " + " ".join(f"{v:7.2f}" for v in truth[r]) + "   true")
print(f"EM iterations: {moe.n_iter_}, converged: {moe.converged_}")

# %%
# Every parameter is recovered to within a few hundredths. The fitted gate
# is reported centred (its rows sum to zero over the experts), like the true
# one, since adding the same vector to every row does not change a softmax.
#
# Error against sample size
# -------------------------
# The same fit on 500 to 8,000 rows, three data sets each; the error of each
# group of parameters (root mean square over experts and coefficients). The
# gate is the least precise: a steep softmax is pinned down only by the few
# rows near the boundaries between regimes.
sizes = [500, 1000, 2000, 4000, 8000]
groups = {"gate": slice(0, 4), "expert slopes and intercepts": slice(4, 8),
          "noise std": slice(8, 9)}
errors = {g: np.zeros((len(sizes), 3)) for g in groups}
for i, n in enumerate(sizes):
    for rep in range(3):
        Xn, yn = sample(n, np.random.RandomState(100 + rep))
        fit = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(Xn, yn)
        diff = fitted_parameters(fit) - truth
        for g, cols in groups.items():
            errors[g][i, rep] = np.sqrt(np.mean(diff[:, cols] ** 2))

# %%
# The training curves
# -------------------
# ``log_likelihood_curve_`` holds the mean training log-likelihood at the
# start and after each EM iteration. From the default start search, EM
# starts close to the optimum and needs a few iterations; from one random
# start without the search (``max_iter`` also caps the short EM runs of the
# search, so ``max_iter=1`` then ``warm_start`` gives a rough start) it has
# a long way to climb, and every step goes up.
rough = MixtureOfExpertsRegressor(n_experts=3, init="random", max_iter=1, random_state=3)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 on purpose
    rough.fit(X, y)
rough.set_params(max_iter=300, warm_start=True).fit(X, y)
print(f"rough start: {rough.n_iter_} iterations to {rough.log_likelihood_:.4f}; "
      f"default: {moe.n_iter_} to {moe.log_likelihood_:.4f}")

# %%
# The figure
# ----------
fig, (ax_err, ax_curve) = plt.subplots(1, 2, figsize=(11, 4.3))
for g, err in errors.items():
    ax_err.loglog(sizes, np.median(err, axis=1), "o-", label=g)
ref = np.median(errors["expert slopes and intercepts"][0]) * np.sqrt(sizes[0] / np.array(sizes))
ax_err.loglog(sizes, ref, "k:", label="∝ 1/√n")
ax_err.xaxis.set_minor_locator(plt.NullLocator())
ax_err.set_xticks(sizes, [f"{n:,}" for n in sizes])
ax_err.set_xlabel("training rows")
ax_err.set_ylabel("RMS error (median of 3 data sets)")
ax_err.set_title("Parameter error shrinks like 1/√n")
ax_err.legend(fontsize="small")
ax_err.grid(alpha=0.3, which="both")

LogLikelihoodCurveDisplay.from_estimator(moe, name="default start search", ax=ax_curve)
LogLikelihoodCurveDisplay.from_estimator(rough, name="rough random start", ax=ax_curve)
ax_curve.set_title("EM training curves (log_likelihood_curve_)")
fig.tight_layout()
fig.savefig(out, dpi=100)
