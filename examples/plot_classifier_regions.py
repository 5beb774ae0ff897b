"""
Classifier: decision regions and the gate on 2-D data
=====================================================

Three classes on a plane laid out so that no single linear classifier fits:
in the left half the classes are separated by one line, in the right half by
another. :class:`~skmoe.MixtureOfExpertsClassifier` with two logistic experts
learns a gate that splits the plane in two and one logistic regression per
half. We draw the mixture's decision regions next to the gate
(:class:`~skmoe.inspection.GateDisplay` over two features), with each
expert's own class boundaries.
"""

# %%
# Data
# ----
# Left of ``x0 = 0`` the class is set by ``x1`` (bands below -0.6, between,
# above 0.6); right of it by ``x0 - x1`` in the same way, so the boundaries
# turn by 45 degrees at ``x0 = 0``. Labels are flipped at random for 5% of
# the points.
import argparse
import itertools

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier
from skmoe.inspection import GateDisplay

parser = argparse.ArgumentParser(description="classifier decision regions and gates")
parser.add_argument("--out", default="classifier_regions.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

rng = np.random.RandomState(0)
n = 3000
X = rng.uniform(-2, 2, size=(n, 2))
score = np.where(X[:, 0] < 0, X[:, 1], (X[:, 0] - X[:, 1]) / np.sqrt(2))
y = np.digitize(score, [-0.6, 0.6])
flip = rng.uniform(size=n) < 0.05
y[flip] = rng.randint(0, 3, flip.sum())
class_names = np.array(["low", "mid", "high"])
y = class_names[y]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

# %%
# Fit, and compare
# ----------------
# The classifier's default penalties (``alpha=gate_alpha=1``, like
# ``LogisticRegression(C=1)``) keep the gate and the experts gentle; with
# 1,500 training points we can afford sharper ones.
moe = MixtureOfExpertsClassifier(n_experts=2, alpha=0.01, gate_alpha=0.01, random_state=0)
moe.fit(X_train, y_train)
baselines = {
    "LogisticRegression": LogisticRegression().fit(X_train, y_train),
    "DecisionTreeClassifier(max_depth=6)":
        DecisionTreeClassifier(max_depth=6, random_state=0).fit(X_train, y_train),
}
print(f"{'model':<40} test accuracy")
print(f"{'MixtureOfExpertsClassifier(n_experts=2)':<40} {moe.score(X_test, y_test):.3f}")
for name, model in baselines.items():
    print(f"{name:<40} {model.score(X_test, y_test):.3f}")
print("(5% of the labels are random, so about 0.967 is the best possible)")

# %%
# A single logistic regression cannot bend its boundaries; the tree can, but
# only with axis-aligned steps. The mixture needs two logistic regressions
# and a gate, and loses its few points in the strip around ``x0 = 0`` where
# the gate is unsure.

# %%
# The picture
# -----------
# Left: the predicted class of the mixture, with the test points. Right: the
# gate (each point coloured by the experts it trusts, the line where each
# expert's gate probability is one half), and, dashed, each expert's own
# class boundaries (where its most probable class changes), drawn in that
# expert's colour. Each expert's boundaries are right only on its side of
# the gate; the gate switches between them.
colors = {"high": "tab:purple", "low": "tab:olive", "mid": "tab:cyan"}  # sorted labels
fig, (ax_pred, ax_gate) = plt.subplots(1, 2, figsize=(11.5, 5))
grid_pred = np.column_stack([m.ravel() for m in np.meshgrid(np.linspace(-2, 2, 300),
                                                             np.linspace(-2, 2, 300))])
predicted = np.searchsorted(list(colors), moe.predict(grid_pred)).reshape(300, 300)
ax_pred.contourf(np.linspace(-2, 2, 300), np.linspace(-2, 2, 300), predicted,
                 levels=[-0.5, 0.5, 1.5, 2.5], colors=list(colors.values()), alpha=0.3)
for label, color in colors.items():
    mask = y_test == label
    ax_pred.scatter(*X_test[mask].T, s=6, color=color, edgecolor="k", linewidth=0.2,
                    label=f'class "{label}"')
ax_pred.set_title(f"Predicted class (test accuracy {moe.score(X_test, y_test):.3f})")
ax_pred.set_xlabel("x0")
ax_pred.set_ylabel("x1")
ax_pred.legend(loc="lower left", fontsize="small", markerscale=2)

display = GateDisplay.from_estimator(moe, X, feature=(0, 1), grid_resolution=150, ax=ax_gate)
g0, g1 = display.feature_values
grid = np.column_stack([m.ravel() for m in np.meshgrid(g0, g1)])
expert_proba = moe.predict_experts(grid)  # (n_grid, n_experts, n_classes)
dark = [0.55 * np.array(to_rgb(f"C{k}")) for k in range(moe.n_experts)]  # expert colours, darker
for k in range(moe.n_experts):
    proba = expert_proba[:, k]
    n_classes = proba.shape[1]
    for a, b in itertools.combinations(range(n_classes), 2):
        # where classes a and b tie, and no other class is more probable
        others = np.delete(proba, [a, b], axis=1).max(axis=1, initial=0.0)
        tie = np.ma.array(proba[:, a] - proba[:, b],
                          mask=others > np.maximum(proba[:, a], proba[:, b]))
        ax_gate.contour(g0, g1, tie.reshape(len(g1), len(g0)), levels=[0.0],
                        colors=[dark[k]], linestyles=[(0, (5, 3))], linewidths=1.8)
ax_gate.set_title("Gate, and each expert's class boundaries (dashed)")
fig.tight_layout()
fig.savefig(args.out, dpi=100)
