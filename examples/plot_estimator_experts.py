"""
scikit-learn estimators as experts
==================================

Any scikit-learn regressor whose ``fit`` takes ``sample_weight`` can be an
expert: ``MixtureOfExpertsRegressor(expert=DecisionTreeRegressor(...))``
clones it once per expert and refits the clones in each EM iteration with the
responsibilities as sample weights. Here the target is a wave on the left and
a parabola on the right, with three times more noise on the right. Two linear
experts cannot bend; two shallow regression trees can, each only in its own
region, and the mixture still gives a noise level per region and a
predictive band. The fitted trees are in ``experts_``.
"""

# %%
# Data
# ----
import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.inspection import ExpertsDisplay, GateDisplay

parser = argparse.ArgumentParser(description="scikit-learn estimators as experts")
parser.add_argument("--out", default="estimator_experts.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments


def make_data(n, rng):
    x = rng.uniform(-3, 3, n)
    left = x < 0
    y = np.where(left, np.sin(2.5 * x), 0.4 * x**2 - 1.5)
    y += np.where(left, 0.1, 0.3) * rng.standard_normal(n)
    return x[:, None], y


rng = np.random.RandomState(0)
X, y = make_data(1500, rng)
X_test, y_test = make_data(3000, rng)

# %%
# Three models
# ------------
# Two linear experts, two trees of depth 4 as experts, and a single tree of
# depth 5 (which has as many leaves as the two experts together) for
# reference. The single tree has no predictive distribution; to score it we
# give it a Gaussian around its prediction with its training residual
# variance.
models = {
    "2 linear experts": MixtureOfExpertsRegressor(n_experts=2, random_state=0),
    "2 tree experts (max_depth=4)": MixtureOfExpertsRegressor(
        n_experts=2, expert=DecisionTreeRegressor(max_depth=4, min_samples_leaf=10),
        random_state=0),
}
for model in models.values():
    model.fit(X, y)
tree = DecisionTreeRegressor(max_depth=5, min_samples_leaf=10, random_state=0).fit(X, y)
tree_var = np.mean((y - tree.predict(X)) ** 2)
tree_ll = -0.5 * (np.log(2 * np.pi * tree_var) + (y_test - tree.predict(X_test)) ** 2 / tree_var)

print(f"{'model':<32} {'test R^2':>8} {'test log-lik':>12}   noise std per expert")
for name, model in models.items():
    print(f"{name:<32} {model.score(X_test, y_test):8.3f} "
          f"{model.log_likelihood(X_test, y_test).mean():12.3f}   "
          f"{np.round(np.sqrt(model.expert_var_), 2)}")
print(f"{'single tree (max_depth=5)':<32} {tree.score(X_test, y_test):8.3f} "
      f"{tree_ll.mean():12.3f}   [{np.sqrt(tree_var):.2f}] (one for all x)")
trees = models["2 tree experts (max_depth=4)"].experts_
print("experts_:", [f"{type(e).__name__} with {e.get_n_leaves()} leaves" for e in trees])

# %%
# The tree experts match the single tree's :math:`R^2` and beat its
# log-likelihood, because each expert has its own noise level: about 0.17 on
# the left (the true 0.1 plus the error of a step function on a wave) and 0.3
# on the right, where the single tree has one value for both, too wide on the
# left and too narrow on the right. The linear experts cannot follow the
# wave, and their variance on the left absorbs it.
#
# The picture
# -----------
# Each model's experts (solid where the gate trusts them), the predictive
# mean and band, and the gate underneath.
fig, axes = plt.subplots(2, 2, figsize=(12, 6.5), sharex=True,
                         gridspec_kw={"height_ratios": [2.2, 1]})
for j, (name, model) in enumerate(models.items()):
    ExpertsDisplay.from_estimator(model, X, y, ax=axes[0, j], legend=(j == 0))
    GateDisplay.from_estimator(model, X, ax=axes[1, j], legend=(j == 0))
    axes[0, j].set_title(f"{name}: test log-likelihood "
                         f"{model.log_likelihood(X_test, y_test).mean():.2f}")
    axes[0, j].set_xlabel("")
axes[0, 0].legend(loc="upper left", fontsize="small")
fig.tight_layout()
fig.savefig(args.out, dpi=100)
