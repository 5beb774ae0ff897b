"""
Dense versus sparse top-k: prediction cost and quality
======================================================

A dense mixture evaluates every expert for every row. With ``top_k=k`` the
gate keeps only each row's ``k`` largest logits (Shazeer et al. 2017), and
only those ``k`` experts are evaluated, in training (mini-batch Adam, with
noisy gating and a load-balancing penalty) and in prediction. Here eight
regimes, eight experts: the dense model fitted by EM against ``top_k=2`` and
``top_k=1``. We compare the time to predict 100,000 rows and the held-out
log-likelihood, and look at the gate probabilities, which are exactly ``k``
non-zeros per row when sparse.

The timings are from the machine that built this page and vary with it;
``benchmarks/README.md`` has careful measurements (``bench_sparse.py``).
"""

# %%
# Data: eight linear regimes
# --------------------------
import argparse
import time

import matplotlib.pyplot as plt
import numpy as np

from skmoe import MixtureOfExpertsRegressor

parser = argparse.ArgumentParser(description="dense versus sparse top-k mixtures")
parser.add_argument("--out", default="dense_vs_sparse.png", help="where to save the figure")
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments

rng = np.random.RandomState(0)
n_features, n_regimes = 4, 8
gate_true = 2.5 * rng.normal(size=(n_regimes, n_features))
coef_true = rng.normal(size=(n_regimes, n_features))
intercept_true = 2.0 * rng.normal(size=n_regimes)


def draw(n):
    X = rng.normal(size=(n, n_features))
    regime = np.argmax(X @ gate_true.T, axis=1)
    y = (X * coef_true[regime]).sum(axis=1) + intercept_true[regime]
    return X, y + 0.2 * rng.normal(size=n)


X, y = draw(5000)
X_test, y_test = draw(5000)
X_big = rng.normal(size=(100_000, n_features))

# %%
# Three models, same number of experts
# ------------------------------------
# The sparse models are fitted by Adam (the only solver for ``top_k``);
# ``max_iter`` caps the epochs.
models = {
    "dense (EM)": MixtureOfExpertsRegressor(n_experts=8, random_state=0),
    "top_k=2 (Adam)": MixtureOfExpertsRegressor(n_experts=8, top_k=2, max_iter=40,
                                                random_state=0),
    "top_k=1 (Adam)": MixtureOfExpertsRegressor(n_experts=8, top_k=1, max_iter=40,
                                                random_state=0),
}


def best_time(func, repeat=3):
    """Shortest of a few wall-clock timings of ``func()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


rows = []
for name, model in models.items():
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    model.predict(X_big[:100])  # warm-up
    predict_s = best_time(lambda model=model: model.predict(X_big))
    ll = model.log_likelihood(X_test, y_test).mean()
    rows.append((name, fit_s, predict_s, ll, model.score(X_test, y_test)))

print(f"{'model':<16} {'fit s':>6} {'predict 100k rows, ms':>22} {'held-out log-lik':>17} "
      f"{'R^2':>6}")
for name, fit_s, predict_s, ll, r2 in rows:
    print(f"{name:<16} {fit_s:6.2f} {1e3 * predict_s:22.1f} {ll:17.3f} {r2:6.3f}")
for name in ["top_k=2 (Adam)", "top_k=1 (Adam)"]:
    nonzeros = (models[name].gate_proba(X_test) > 0).sum(axis=1)
    print(f"{name}: non-zero gate probabilities per row: {sorted(set(nonzeros.tolist()))}")

# %%
# With two experts per row the sparse model loses little: regimes meet
# mostly two at a time, so the third expert rarely matters. With one expert
# per row the mixture has no soft boundaries left (each row is one expert's
# Gaussian), which costs log-likelihood near the boundaries, though hardly
# any :math:`R^2`. Prediction evaluates 2 or 1 experts instead of 8; how
# much time that saves depends on how the cost of the gate compares with
# that of the experts (here linear experts are cheap, so the gate's top-k
# selection is a large part of it).
#
# The picture
# -----------
# Left: prediction time and held-out log-likelihood. Right: the gate
# probabilities of 40 test rows (rows of the image) over the 8 experts, dense
# and top-2: the sparse gate is exactly zero outside each row's two experts.
fig = plt.figure(figsize=(12, 4.6), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1.1, 1])
ax_time, ax_ll = left.subplots(1, 2)
names = [r[0] for r in rows]
colors = ["C0", "C1", "C2"]
bars = ax_time.barh(names, [1e3 * r[2] for r in rows], color=colors)
ax_time.bar_label(bars, fmt="%.0f ms", padding=2, fontsize="small")
ax_time.margins(x=0.25)
ax_time.set_xlabel("ms to predict 100,000 rows")
ax_time.invert_yaxis()
bars = ax_ll.barh(names, [r[3] for r in rows], color=colors)
ax_ll.bar_label(bars, fmt="%.3f", padding=2, fontsize="small")
ax_ll.margins(x=0.25)
ax_ll.set_xlabel("held-out mean log-likelihood")
ax_ll.invert_yaxis()
ax_ll.tick_params(labelleft=False)
left.suptitle("Cost and quality (8 experts)")

axes = right.subplots(1, 2, sharey=True)
for ax, name in zip(axes, ["dense (EM)", "top_k=2 (Adam)"], strict=True):
    image = ax.imshow(models[name].gate_proba(X_test[:40]), aspect="auto", cmap="Greys",
                      vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(name, fontsize="medium")
    ax.set_xlabel("expert")
    ax.set_xticks(range(8))
axes[0].set_ylabel("test row")
right.colorbar(image, ax=axes, label="gate probability", shrink=0.8)
right.suptitle("gate_proba of 40 test rows")
fig.savefig(args.out, dpi=100)
