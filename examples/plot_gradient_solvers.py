"""
EM, L-BFGS and Adam: steps versus time, MLP experts and ``partial_fit``
=======================================================================

skmoe fits the same penalised likelihood in three ways: expectation-maximisation
(``solver="em"``, the default for linear experts), full-batch L-BFGS
(``solver="lbfgs"``) and mini-batch Adam (``solver="adam"``, and
``partial_fit`` for data that arrive in pieces). Gradient fitting also allows
experts without a closed-form M-step: small neural networks
(``expert="mlp"``).

On a one-feature target with two regimes, a straight line for ``x < 0`` and a
sine for ``x > 0``, this script

1. runs the three solvers from the same starting point and plots the training
   log-likelihood against **steps** (EM iterations, L-BFGS iterations, Adam
   epochs) and against **seconds**, because the three kinds of step do not
   cost the same,
2. feeds a stream of 500-row pieces to ``partial_fit`` and compares the
   held-out log-likelihood after each piece with ``fit`` on all of it,
3. compares two linear experts, six linear experts and two MLP experts: the
   predictive mean with a +/- 2 std band, and the gate underneath.

It prints the numbers as it goes and, when matplotlib is installed, saves one
figure with all of it (``gradient_solvers.png``).

Run it with ``python examples/plot_gradient_solvers.py [--out PATH]``.
"""

# %%
# Imports and command line
# ------------------------
import argparse
import copy
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsRegressor

parser = argparse.ArgumentParser(description="skmoe: EM, L-BFGS, Adam, mlp experts, partial_fit")
parser.add_argument(
    "--out", default="gradient_solvers.png", help="where to save the plot (default: %(default)s)"
)
# parse_known_args: sphinx-gallery runs the script with its own argv
args, _ = parser.parse_known_args()
t_start = time.perf_counter()


# %%
# Data: a line and a sine
# -----------------------
# ``y = 0.5 x - 1`` for ``x < 0`` and ``y = sin(3 x)`` for ``x > 0``, plus
# Gaussian noise of standard deviation 0.1; 4,000 training and 4,000 test
# rows.
def make_data(n, rng):
    X = rng.uniform(-3, 3, size=(n, 1))
    x = X[:, 0]
    y = np.where(x > 0, np.sin(3 * x), 0.5 * x - 1) + rng.normal(0, 0.1, n)
    return X, y


rng = np.random.RandomState(0)
X_train, y_train = make_data(4000, rng)
X_test, y_test = make_data(4000, rng)
print(f"data: {len(X_train)} training rows, {len(X_test)} test rows, 1 feature")

# %%
# 1. Steps versus time
# --------------------
# A mixture of six linear experts, fitted three ways from one common start.
# A default ``fit`` first runs a start search (short EM runs from several
# k-means partitions) that often leaves little for the main run to do. To give
# the solvers some work we start from a deliberately rough point instead:
# with ``solver="em"``, ``max_iter`` also caps the start search's short EM
# runs, so a fit with ``max_iter=1`` gives each candidate partition one EM
# iteration, and the winner one more. Each solver then continues from a copy of that model with
# ``warm_start=True``, which skips the start search.
n_experts = 6
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 on purpose
    start = MixtureOfExpertsRegressor(
        n_experts=n_experts, solver="em", max_iter=1, random_state=0
    ).fit(X_train, y_train)
start_ll = start.log_likelihood_
print(f"\n1. common start: mean training log-likelihood {start_ll:.3f}")


def continue_from_start(**params):
    model = copy.deepcopy(start)
    return model.set_params(warm_start=True, **params)


# %%
# First, what each solver does with its default stopping rule (``tol=1e-5``)
# from that start. These runs also compile any Numba kernels that the timed
# runs below need, so no compilation ends up in the timings.
solvers = ["em", "lbfgs", "adam"]
names = {"em": "EM", "lbfgs": "L-BFGS", "adam": "Adam"}
step_name = {"em": "iterations", "lbfgs": "iterations", "adam": "epochs"}
default_runs = {}
for solver in solvers:
    default_runs[solver] = continue_from_start(solver=solver, max_iter=2000).fit(
        X_train, y_train
    )

# %%
# Then the curves. We switch the stopping rules off (``tol=0``) and give each
# solver a fixed budget of steps, sized so that each run takes roughly the same
# time. The runs are deterministic, so the first steps of these runs are the
# default runs above, and we can mark where those stopped.
#
# **How the seconds are measured.** Each run is one timed ``fit`` call
# (warm-started, so no start search inside), and its wall-clock time is
# spread evenly over its steps: "seconds" on the plot is ``step * (run time /
# number of steps)``. Steps of one solver cost about the same here, so this
# is close to a per-step clock. We did not time ``max_iter=1`` refits or
# one ``partial_fit`` call per epoch instead: every call to skmoe also pays a
# fixed cost of a few milliseconds (input validation, setting up the data and
# the thread pools), as much as an EM iteration on 4,000 rows.
budget = {"em": 200, "lbfgs": 800, "adam": 500}
curves, seconds_per_step = {}, {}
for solver in solvers:
    model = continue_from_start(solver=solver, max_iter=budget[solver], tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # capped on purpose
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - t0
    seconds_per_step[solver] = elapsed / model.n_iter_
    curve = model.log_likelihood_curve_
    if solver == "adam":
        # one value per epoch: the mean over the epoch's mini-batches, each
        # evaluated before its step (as MLPRegressor's loss_curve_); the
        # exact value of the final model is log_likelihood_
        curves[solver] = (np.arange(1, len(curve) + 1), curve, model.log_likelihood_)
    else:
        # curve[0] is the start, curve[t] the value after t iterations
        curves[solver] = (np.arange(1, len(curve)), curve[1:], model.log_likelihood_)

print("   solver   budget (tol=0)   ms/step  final ll | default tol: steps  converged  final ll")
for solver in solvers:
    d = default_runs[solver]
    print(f"   {names[solver]:<7}  {budget[solver]:>4} {step_name[solver]:<10} "
          f"{1e3 * seconds_per_step[solver]:8.2f} {curves[solver][2]:9.3f} | "
          f"{d.n_iter_:17d} {str(d.converged_):>10} {d.log_likelihood_:9.3f}")

# %%
# Per step, EM climbs fastest by far. Per second the race is closer, because
# an EM iteration (exact weighted least squares for every expert, a Newton or
# bound step for the gate) costs several L-BFGS iterations, but EM still gets
# there first. An Adam epoch is 16 mini-batch steps of fixed size: cheap, but
# slow and noisy progress. Note where the default stopping rules ended: a
# gradient solver can report ``converged_=True`` on a slow stretch of its
# climb, well below where more steps take it. Look at
# ``log_likelihood_curve_``, or compare with another solver, before trusting
# a gradient fit.

# %%
# 2. ``partial_fit`` on a stream
# ------------------------------
# ``partial_fit`` runs one pass of Adam over the rows it is given and keeps
# the optimiser's state between calls; the first call also picks the start,
# by the same start search as ``fit``, on that first piece only. Here 40 new
# pieces of 500 rows arrive one at a time (20,000 rows in all, each seen
# once), and we evaluate the held-out log-likelihood after each piece. The
# reference is ``fit`` on all 20,000 rows at once.
stream_rng = np.random.RandomState(1)
pieces = [make_data(500, stream_rng) for _ in range(40)]
X_all = np.vstack([X for X, _ in pieces])
y_all = np.concatenate([y for _, y in pieces])

stream_results = {}
print("\n2. partial_fit on 40 pieces of 500 rows, held-out mean log-likelihood")
print(f"   {'model':<18} {'piece 1':>8} {'piece 10':>9} {'piece 40':>9} {'fit on all':>11}")
for k in (2, n_experts):
    streamed = MixtureOfExpertsRegressor(n_experts=k, random_state=0)
    held_out, call_seconds = [], 0.0
    for X_piece, y_piece in pieces:
        t0 = time.perf_counter()
        streamed.partial_fit(X_piece, y_piece)
        call_seconds += time.perf_counter() - t0
        held_out.append(streamed.log_likelihood(X_test, y_test).mean())
    full = MixtureOfExpertsRegressor(n_experts=k, random_state=0).fit(X_all, y_all)
    full_ll = full.log_likelihood(X_test, y_test).mean()
    stream_results[k] = (np.array(held_out), full_ll)
    print(f"   {k} linear experts  {held_out[0]:8.3f} {held_out[9]:9.3f} {held_out[-1]:9.3f} "
          f"{full_ll:11.3f}   ({1e3 * call_seconds / len(pieces):.1f} ms per partial_fit call)")

# %%
# With two experts the start search on the first piece already lands close to
# the optimum, and the stream stays within about 0.01 nats of ``fit`` (Adam's
# constant step makes it wobble). With six experts the start found on the
# first 500 rows is further off, and one Adam pass per piece closes the gap
# only slowly: ``fit`` searches its start on all the data and then runs EM to
# convergence. When a stream feeds a model with many experts, make the first
# piece large, or ``fit`` a first chunk and continue with ``partial_fit``.

# %%
# 3. Linear versus MLP experts
# ----------------------------
# Two linear experts cannot follow a sine. Two ways out: more linear experts
# (the six-expert EM model of section 1, a piecewise-linear fit), or experts
# that can bend: ``expert="mlp"`` makes each expert a one-hidden-layer
# ``tanh`` network (here 16 units), fitted by L-BFGS, the default solver for
# mlp experts.
linear2 = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X_train, y_train)
mlp2 = MixtureOfExpertsRegressor(
    n_experts=2, expert="mlp", expert_hidden=16, random_state=0
).fit(X_train, y_train)
models = {
    "2 linear experts (EM)": linear2,
    f"{n_experts} linear experts (EM, section 1)": default_runs["em"],
    "2 mlp experts (L-BFGS)": mlp2,
}
print("\n3. held-out mean log-likelihood (higher is better)")
held_out_ll = {}
for name, model in models.items():
    held_out_ll[name] = model.log_likelihood(X_test, y_test).mean()
    print(f"   {name:<36} {held_out_ll[name]:7.3f}   (R^2 {model.score(X_test, y_test):.3f})")

# %%
# The mlp experts gain almost 0.8 nats per test row over two linear experts,
# close to what six linear experts gain: the mlp model spends its flexibility
# inside the experts, the linear one on more experts and a busier gate.

# %%
# The figure
# ----------
# Top row: the three solvers against steps and against seconds (the dots mark
# where the default ``tol`` stopped each of them), and the stream. Below:
# each model's predictive mean with a +/- 2 std band over the data, and its
# gate probabilities underneath.
try:
    import matplotlib
except ImportError:
    matplotlib = None

if matplotlib is None:
    print('\nplot skipped: matplotlib is not installed (pip install ".[plot]" to get it)')
else:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"em": "tab:blue", "lbfgs": "tab:orange", "adam": "tab:green"}
    fig = plt.figure(figsize=(15, 11.5), layout="constrained")
    rows = fig.add_gridspec(2, 1, height_ratios=[1, 1.55])
    top = rows[0].subgridspec(1, 3)
    bottom = rows[1].subgridspec(2, 3, height_ratios=[2, 1])
    ax_steps = fig.add_subplot(top[0])
    ax_time = fig.add_subplot(top[1], sharey=ax_steps)
    ax_stream = fig.add_subplot(top[2])

    # 1. the solvers, against steps and against seconds
    for solver in solvers:
        steps, curve, _ = curves[solver]
        n_stop = default_runs[solver].n_iter_
        unit = "epoch" if solver == "adam" else "iteration"
        label = f"{names[solver]}: {1e3 * seconds_per_step[solver]:.2f} ms per {unit}"
        if solver == "adam":
            label += "\n(mean over each epoch's mini-batches)"
        for ax, x in [(ax_steps, steps), (ax_time, steps * seconds_per_step[solver])]:
            ax.plot(x, curve, color=colors[solver], lw=1.8, label=label)
            if n_stop <= len(curve):
                ax.plot(x[n_stop - 1], curve[n_stop - 1], "o", color=colors[solver], ms=8,
                        mec="k", zorder=3)
    for ax in (ax_steps, ax_time):
        ax.axhline(start_ll, color="0.5", ls=":", lw=1)
        ax.grid(alpha=0.3)
    ax_steps.set_xscale("log")
    ax_steps.set_xlabel("iterations (EM, L-BFGS) or epochs (Adam), log scale")
    ax_steps.set_ylabel("mean training log-likelihood")
    ax_steps.set_title(f"1. {n_experts} linear experts: per step")
    ax_time.plot([], [], ":", color="0.5", label="common start")
    ax_time.plot([], [], "o", color="w", mec="k", ms=8, label="where the default tol stops")
    ax_time.legend(loc="lower right", fontsize=8)
    ax_time.set_xlabel("seconds (each run's time spread evenly over its steps)")
    ax_time.set_title(f"1. {n_experts} linear experts: per second")
    ax_time.tick_params(labelleft=False)

    # 2. the stream, as the gap to fit on all rows
    stream_colors = {2: "tab:purple", n_experts: "tab:brown"}
    rows_seen = 500 * np.arange(1, len(pieces) + 1)
    for k, (held_out, full_ll) in stream_results.items():
        ax_stream.plot(rows_seen, held_out - full_ll, "o-", ms=3, color=stream_colors[k],
                       label=f"{k} linear experts (fit scores {full_ll:.3f})")
    ax_stream.axhline(0, color="k", ls="--", lw=1.5,
                      label=f"fit on all {len(X_all):,} rows at once")
    ax_stream.set_xlabel("rows seen by partial_fit (pieces of 500, each seen once)")
    ax_stream.set_ylabel("held-out log-likelihood minus fit's")
    ax_stream.set_title("2. partial_fit on a stream versus fit")
    ax_stream.legend(loc="lower right", fontsize=8)
    ax_stream.grid(alpha=0.3)

    # 3. linear versus mlp experts: predictive mean and band, and the gate
    x_grid = np.linspace(-3, 3, 600)[:, None]
    shown = np.random.RandomState(2).choice(len(X_train), 1500, replace=False)
    y_limits = (y_train.min() - 0.6, y_train.max() + 0.9)
    for j, (name, model) in enumerate(models.items()):
        ax_fit = fig.add_subplot(bottom[0, j])
        ax_gate = fig.add_subplot(bottom[1, j], sharex=ax_fit)
        mean, std = model.predict(x_grid, return_std=True)
        ax_fit.scatter(X_train[shown, 0], y_train[shown], s=3, c="0.6", alpha=0.5,
                       label="training data")
        ax_fit.fill_between(x_grid[:, 0], mean - 2 * std, mean + 2 * std, color="tab:red",
                            alpha=0.2, label="± 2 std")
        ax_fit.plot(x_grid[:, 0], mean, color="tab:red", lw=1.8, label="predictive mean")
        ax_fit.set_ylim(*y_limits)
        ax_fit.set_title(f"3. {name}\nheld-out log-likelihood {held_out_ll[name]:.2f}")
        ax_fit.tick_params(labelbottom=False)
        ax_fit.grid(alpha=0.3)
        proba = model.gate_proba(x_grid)
        for k in np.argsort(x_grid[proba.argmax(axis=0), 0]):  # colour experts left to right
            ax_gate.plot(x_grid[:, 0], proba[:, k], lw=1.6)
        ax_gate.set_ylim(-0.05, 1.05)
        ax_gate.set_xlabel("x")
        ax_gate.grid(alpha=0.3)
        if j == 0:
            ax_fit.set_ylabel("y")
            ax_gate.set_ylabel("gate probabilities")
            ax_fit.legend(loc="upper left", fontsize=8, markerscale=3)

    fig.suptitle("EM, L-BFGS and Adam on y = 0.5x - 1 (x < 0), sin(3x) (x > 0), noise sd 0.1",
                 fontsize=13)
    fig.savefig(args.out, dpi=100)
    if args.out != os.devnull:  # the docs build sends the copy to the null device
        print(f"\nplot saved to {args.out}")

print(f"total time: {time.perf_counter() - t_start:.1f} s")
sys.stdout.flush()
