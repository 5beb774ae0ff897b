"""
Is the predictive distribution calibrated? PIT histogram and interval coverage
==============================================================================

A predictive distribution is calibrated when its probabilities match the
frequencies on new data: the targets fall below the predicted 30% quantile
30% of the time, inside the central 90% interval 90% of the time, and so on.
:class:`~skmoe.inspection.PredictiveCalibrationDisplay` checks both on
held-out data:

* the histogram of the probability integral transform (PIT) ``F(y | x)``
  (``predict_cdf``), flat at 1 when calibrated;
* the share of the targets inside the central interval ``predict_interval``
  against its nominal coverage, on the diagonal when calibrated.

Here the data are heteroscedastic (the noise grows along ``x``) and bimodal
for ``x > 1`` (two branches). The mixture's own quantile intervals are
compared with the Gaussian interval ``mean +/- z std`` built from
``predict(X, return_std=True)``, which has the right mean and standard
deviation but the wrong shape.
"""

# %%
# Data: a noisy curve that splits in two
# --------------------------------------
# For ``x <= 1``, ``y = sin(x)`` plus noise of standard deviation
# ``0.1 + 0.15 (x + 3)``; for ``x > 1``, half of the points lie on
# ``sin(x) + 1.5`` and half on ``sin(x) - 1.5``, with noise 0.25.
import argparse

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import PredictiveCalibrationDisplay, PredictiveDensityDisplay

parser = argparse.ArgumentParser(description="calibration of the predictive distribution")
parser.add_argument("--out", default="calibration.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments


def make_data(n, rng):
    x = rng.uniform(-3, 3, n)
    y = np.sin(x) + (0.1 + 0.15 * (x + 3)) * rng.standard_normal(n)
    bimodal = x > 1
    branch = np.where(rng.uniform(size=n) < 0.5, 1.5, -1.5)
    y = np.where(bimodal, np.sin(x) + branch + 0.25 * rng.standard_normal(n), y)
    return x[:, None], y, bimodal


rng = np.random.RandomState(0)
X, y, _ = make_data(2000, rng)
X_test, y_test, bimodal_test = make_data(2000, rng)

# %%
# Fit
# ---
# Five linear experts (``n_experts="auto"`` chooses five here too).
moe = MixtureOfExpertsRegressor(n_experts=5, random_state=0).fit(X, y)
print(f"held-out mean log-likelihood: {moe.log_likelihood(X_test, y_test).mean():.3f}")

# %%
# The Gaussian interval, by hand
# ------------------------------
# ``mean +/- z std`` with ``z`` the standard normal quantile of
# ``(1 + c) / 2``: the interval a Gaussian with the model's mean and standard
# deviation would give. Its PIT is ``Phi((y - mean) / std)``.
coverages = np.round(np.linspace(0.05, 0.95, 19), 2)
mean, std = moe.predict(X_test, return_std=True)
z = norm.ppf(0.5 + coverages / 2)
inside = np.abs(y_test - mean)[:, None] <= z * std[:, None]
gaussian_coverage = inside.mean(axis=0)
gaussian_pit = norm.cdf((y_test - mean) / std)

# %%
# The picture
# -----------
# Top: the predictive density of the mixture along ``x``
# (:class:`~skmoe.inspection.PredictiveDensityDisplay`), with its 50% and 90%
# intervals. Bottom: the calibration of the mixture (filled bars, blue line)
# and of the Gaussian interval (step histogram, orange line), on the
# held-out data.
fig = plt.figure(figsize=(9.5, 8.5))
top = fig.add_subplot(2, 1, 1)
bottom = [fig.add_subplot(2, 2, 3), fig.add_subplot(2, 2, 4)]
PredictiveDensityDisplay.from_estimator(moe, X, y, grid_resolution=200, ax=top,
                                        max_points=600)
top.set_title("Predictive density: the curve splits in two for x > 1")
top.set_xlabel("x")
display = PredictiveCalibrationDisplay.from_estimator(
    moe, X_test, y_test, coverages=coverages, ax=bottom, name="mixture quantiles",
)
pit_ax, coverage_ax = display.axes_
pit_ax.hist(gaussian_pit, bins=10, range=(0, 1), density=True, histtype="step", lw=2,
            color="C1", label="Gaussian, mean ± z std")
coverage_ax.plot(coverages, gaussian_coverage, marker="s", ms=3.5, lw=1.6, color="C1",
                 label="Gaussian, mean ± z std")
for ax in display.axes_:
    ax.legend(loc="upper left" if ax is pit_ax else "lower right", fontsize="small")
pit_ax.set_title("PIT histogram (held-out)")
coverage_ax.set_title("Coverage of the central intervals")
fig.tight_layout()
fig.savefig(args.out, dpi=100)

# %%
# What the panels say
# -------------------
# The mixture's PIT histogram is flat and its coverage curve follows the
# diagonal: its quantile intervals hold what they promise. The Gaussian
# interval has the same mean and standard deviation, but where the data are
# bimodal it is centred between the two branches, where there are no data:
# its narrow intervals cover far less than promised and its wide ones more.
# Its PIT histogram dips in the middle and piles up between 0.1 and 0.2 and
# between 0.8 and 0.9: each branch lies about one standard deviation from the
# mean, at ``Phi(-1) = 0.16`` and ``Phi(1) = 0.84``. Over the whole table the
# errors partly average out; the coverage per region makes them plain.
model_interval = moe.predict_interval(X_test, coverage=0.5)
model_inside = (model_interval[:, 0] <= y_test) & (y_test <= model_interval[:, 1])
gauss_inside = inside[:, list(coverages).index(0.5)]
print("\ncoverage of the 50% interval   x <= 1   x > 1 (bimodal)")
for label, hit in [("mixture quantiles", model_inside), ("Gaussian mean +/- z std", gauss_inside)]:
    print(f"  {label:<26} {hit[~bimodal_test].mean():7.2f} {hit[bimodal_test].mean():9.2f}")
print("\nnominal  mixture  Gaussian")
for c, e, g in zip(coverages[1::4], display.empirical[1::4], gaussian_coverage[1::4],
                   strict=True):
    print(f"{c:7.2f} {e:8.3f} {g:9.3f}")
