"""
Grid search in a Pipeline on a real table (diabetes)
====================================================

The estimators are ordinary scikit-learn estimators, so they go into a
:class:`~sklearn.pipeline.Pipeline` and a
:class:`~sklearn.model_selection.GridSearchCV` unchanged. On scikit-learn's
diabetes table (442 patients, 10 features, a measure of disease progression
one year later; it ships with scikit-learn, nothing is downloaded) we tune
the number of experts and the experts' ridge penalty by 5-fold
cross-validation, compare with :class:`~sklearn.linear_model.RidgeCV`, and
draw the chosen model's gate over its two most important features.
"""

# %%
# Data and pipeline
# -----------------
import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import GateDisplay

parser = argparse.ArgumentParser(description="grid search in a Pipeline on load_diabetes")
parser.add_argument("--out", default="grid_search_diabetes.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

data = load_diabetes()
X, y = data.data, data.target
feature_names = list(data.feature_names)
print(f"{X.shape[0]} rows, features: {', '.join(feature_names)}")

pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))

# %%
# The search
# ----------
# ``score`` is :math:`R^2`, as for any regressor, so the search needs no
# special scorer. With one expert the model is a ridge regression with a
# Gaussian noise model.
param_grid = {
    "mixtureofexpertsregressor__n_experts": [1, 2, 3],
    "mixtureofexpertsregressor__alpha": [1e-4, 10.0],
}
cv = KFold(n_splits=5, shuffle=True, random_state=0)
search = GridSearchCV(pipe, param_grid, cv=cv).fit(X, y)
ridge = cross_val_score(RidgeCV(alphas=np.logspace(-3, 3, 13)), X, y, cv=cv)

results = search.cv_results_
print(f"{'n_experts':>9} {'alpha':>7} {'mean R^2':>9} {'std':>6}")
for params, mean, std in zip(results["params"], results["mean_test_score"],
                             results["std_test_score"], strict=True):
    print(f"{params['mixtureofexpertsregressor__n_experts']:>9} "
          f"{params['mixtureofexpertsregressor__alpha']:>7g} {mean:9.3f} {std:6.3f}")
print(f"best: {search.best_params_}, mean R^2 {search.best_score_:.3f}")
print(f"RidgeCV, same folds: mean R^2 {ridge.mean():.3f}")

# %%
# The data are noisy and nearly linear. Two experts with a strong ridge
# penalty (each expert sees part of only 353 training rows per fold) score a
# little above ridge regression, by less than the spread over the folds: on
# this table a mixture is not clearly better than one linear model, and the
# search says so. The chosen pipeline is refitted on all rows; its mixture is
# the last step.
best = search.best_estimator_
moe = best[-1]
print("expert load:", np.round(moe.expert_load_, 2))
print("expert noise std:", np.round(np.sqrt(moe.expert_var_), 1))
importance = np.abs(moe.gate_coef_).sum(axis=0)  # standardised inputs
top = np.argsort(importance)[::-1][:2]
print("features the gate uses most:", [feature_names[j] for j in top])

# %%
# The picture
# -----------
# Left: cross-validated :math:`R^2` against the number of experts (bars: one
# standard error over the folds). Right: the gate of the chosen pipeline over
# the two features it depends on most, the others held at their medians;
# :class:`~skmoe.inspection.GateDisplay` accepts the pipeline (and the
# search) and draws in the units of its input. ``s1`` (total serum
# cholesterol) and ``s2`` (LDL) are strongly correlated, and the gate splits
# the patients along their difference: a quiet expert (noise std about 22)
# for one third of them, a noisier one (about 52) for the rest.
fig, (ax_cv, ax_gate) = plt.subplots(1, 2, figsize=(11.5, 4.6))
ks = np.array(param_grid["mixtureofexpertsregressor__n_experts"])
alphas = param_grid["mixtureofexpertsregressor__alpha"]
for alpha, marker, shift in zip(alphas, "os", [-0.04, 0.04], strict=True):
    rows = [i for i, p in enumerate(results["params"])
            if p["mixtureofexpertsregressor__alpha"] == alpha]
    ax_cv.errorbar(ks + shift, results["mean_test_score"][rows],
                   yerr=results["std_test_score"][rows] / np.sqrt(cv.n_splits),
                   marker=marker, capsize=3, label=f"mixture, alpha={alpha:g}")
ax_cv.axhline(ridge.mean(), color="k", ls="--", label="RidgeCV")
ax_cv.set_xticks(ks)
ax_cv.set_xlabel("n_experts")
ax_cv.set_ylabel("5-fold cross-validated $R^2$")
ax_cv.set_title("GridSearchCV over a Pipeline")
ax_cv.legend(fontsize="small")

GateDisplay.from_estimator(search, X, feature=tuple(int(j) for j in top),
                           feature_names=feature_names, ax=ax_gate)
ax_gate.scatter(X[:, top[0]], X[:, top[1]], s=5, color="k", alpha=0.5)
ax_gate.set_title("Gate of the chosen model (other features at their medians)")
fig.tight_layout()
fig.savefig(args.out, dpi=100)
