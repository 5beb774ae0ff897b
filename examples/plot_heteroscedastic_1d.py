"""
Heteroscedastic regression in one dimension: experts, gate and predictive band
==============================================================================

Three regimes along one feature, each a straight line with its own noise
level. A :class:`~skmoe.MixtureOfExpertsRegressor` with three linear experts
learns the lines, where each one holds (the gate), and one noise variance per
expert, so its predictive band is narrow where the data are tight and wide
where they are noisy, and wider still where the gate hesitates between two
experts. The plots use :class:`~skmoe.inspection.ExpertsDisplay` and
:class:`~skmoe.inspection.GateDisplay`.
"""

# %%
# Data: three noisy lines
# -----------------------
# For ``x < -1`` the slope is 1 and the noise standard deviation 0.15; between
# -1 and 1.5, slope -1.5 and noise 0.6; beyond 1.5, slope 2 and noise 0.3.
# The lines meet at the boundaries, so a plain least-squares line is a poor
# fit, and its constant error bar is too wide on the left and too narrow in
# the middle.
import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import ExpertsDisplay, GateDisplay

parser = argparse.ArgumentParser(description="heteroscedastic regression in 1-D")
parser.add_argument("--out", default="heteroscedastic_1d.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments


def make_data(n, rng):
    x = rng.uniform(-4, 4, n)
    regime = np.digitize(x, [-1.0, 1.5])
    slope = np.array([1.0, -1.5, 2.0])[regime]
    knot = np.array([-1.0, -1.0, 1.5])[regime]
    level = np.array([0.0, 0.0, -3.75])[regime]
    noise = np.array([0.15, 0.6, 0.3])[regime]
    y = level + slope * (x - knot) + noise * rng.standard_normal(n)
    return x[:, None], y, regime


rng = np.random.RandomState(0)
X, y, regime = make_data(2000, rng)
X_test, y_test, regime_test = make_data(4000, rng)

# %%
# Fit
# ---
moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
order = np.argsort(moe.expert_coef_[:, 0])
print("expert  slope  intercept  noise std  load")
for k in range(3):
    print(f"{k:>6} {moe.expert_coef_[k, 0]:6.2f} {moe.expert_intercept_[k]:10.2f} "
          f"{np.sqrt(moe.expert_var_[k]):10.2f} {moe.expert_load_[k]:5.2f}")
print("true slopes -1.5, 1, 2 with noise std 0.6, 0.15, 0.3")

# %%
# The picture
# -----------
# Top: the data, each expert's line (solid where its gate probability is
# above one half, dashed elsewhere), the predictive mean and the band of
# +/- 2 predictive standard deviations. Bottom: the gate. Expert ``k`` has
# the same colour in both.
fig, (ax_fit, ax_gate) = plt.subplots(
    2, 1, figsize=(7.5, 7), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
)
ExpertsDisplay.from_estimator(moe, X, y, ax=ax_fit)
GateDisplay.from_estimator(moe, X, ax=ax_gate)
ax_fit.set_title("Three linear experts, each with its own noise level")
ax_fit.set_xlabel("")
fig.tight_layout()
fig.savefig(args.out, dpi=100)

# %%
# Is the band right?
# ------------------
# Per regime, the share of test points inside +/- 2 standard deviations and
# the band's average half-width. The mixture covers about 95% in every regime
# with a band as narrow as that regime's noise allows. The least-squares line
# with its residual standard deviation has one width everywhere: far too wide
# on the left (it covers everything), and it is also off-centre.
mean, std = moe.predict(X_test, return_std=True)
ols = LinearRegression().fit(X, y)
ols_mean = ols.predict(X_test)
ols_std = np.full(len(X_test), np.std(y - ols.predict(X)))
print("\n                    coverage of +/- 2 std  |  mean half-width 2 std")
print("                    x<-1  -1..1.5  x>1.5  |  x<-1  -1..1.5  x>1.5")
for name, m, s in [("mixture of experts", mean, std), ("least squares", ols_mean, ols_std)]:
    inside = np.abs(y_test - m) <= 2 * s
    cover = [inside[regime_test == r].mean() for r in range(3)]
    width = [2 * s[regime_test == r].mean() for r in range(3)]
    print(f"  {name:<18}" + "".join(f"{c:7.2f}" for c in cover) + "  |"
          + "".join(f"{w:7.2f}" for w in width))
print(f"held-out mean log-likelihood: mixture {moe.log_likelihood(X_test, y_test).mean():.3f}")
