"""Sparse top-k mixtures of experts: prediction cost, quality, steps versus time.

``MixtureOfExpertsRegressor(top_k=k)`` routes each row to the ``k`` experts
with the largest gate logits and evaluates only those in ``predict``;
``top_k=None`` is the dense model (all ``K`` experts). Three parts, all in
this one script (``--parts`` picks some):

1. **Prediction cost** (``pred``): ``predict(X)`` on 200,000 x 10 rows for
   K = 8 and 32, linear and mlp-32 experts, ``top_k`` = 1, 2, 4 and dense.
   Every model is fitted quickly on the first 5,000 rows (``solver="adam"``,
   2 epochs, ``tol=0``; the cost of ``predict`` does not depend on the fit's
   quality), gets one untimed ``predict`` on all the rows (Numba compilation,
   first-touch allocations), then each repeat times ``predict`` of every
   model once, in a rotated order (so that all models see the same machine
   conditions and none is always first). Reports the best of ``--repeats``
   (default 5) with the median in parentheses, and best(sparse) /
   best(dense). Threads: ``n_jobs=T`` for each ``--threads`` value (skmoe
   runs BLAS single-threaded inside ``predict``). Targets: top-2 of 8 mlp-32
   at most 0.4x dense, top-2 of 32 mlp-32 at most 0.15x, every sparse linear
   model at most 1x.
2. **Quality** (``quality``): ``skmoe._synthetic.hard_regimes`` (8 linear regimes
   on the cells of a linear partition: each row's regime is a deterministic
   function of ``x``, noise 0.3), 10,000 training and 10,000 held-out rows
   from the same model, d = 10. ``MixtureOfExpertsRegressor(n_experts=8)``
   at its defaults (dense: EM with its start search; ``top_k`` = 2 and 1:
   Adam, noisy gating, load balancing 1e-2), ``random_state`` 0, 1, 2.
   Reports held-out R^2 (``score``) and mean log-likelihood
   (``log_likelihood(X, y).mean()``) per seed and their means over the
   seeds, and the differences sparse - dense. Targets: top-2 R^2 within 0.01
   and log-likelihood within 0.2 nats of dense; top-1 R^2 within 0.03.
3. **Steps versus time** (``steps``): models of about the same parameter
   count on 50,000 training rows of the same 8-regime data (10,000 held
   out), all with ``solver="adam"``, batch 256, learning rate 1e-2, 30
   epochs, ``tol=0``, ``random_state=0``, ``n_jobs=1``:

   * ``dense 1 x mlp-256``: one expert (``n_experts=1``), 256 hidden units;
   * ``dense 8 x mlp-32``: 8 experts of 32 hidden units, all evaluated;
   * ``top-2 of 8 x mlp-32``: the same 8 experts with ``top_k=2`` (training
     evaluates the top 3 per row, see ``skmoe/_sparse.py``).

   The training loss is the ``log_likelihood_curve_`` (per epoch: the running
   mean training log-likelihood over the epoch's mini-batches, before each
   step; for the sparse model that of its top-k prediction mixture under the
   noisy training routing). The comparison is the pair of equal-size
   mixtures (dense 8 x mlp-32 against top-2 of the same 8); the single wide
   mlp is a reference. Thresholds: ``L0`` = the lower first-epoch value of
   the pair, ``best`` = the better final value of the pair, threshold
   ``x`` = ``L0 + x (best - L0)`` for ``x`` in ``--steps-fractions``
   (default 90%, 95%, 99%). For each model: the first epoch whose curve
   value reaches each threshold, Adam steps = epochs x ceil(n / batch), time
   per step = ``_timings_["solver"] / (n_iter_ * steps per epoch)`` (best of
   ``--repeats-steps`` fits, default 3, alternating models), time to the
   threshold = steps x time per step, and held-out R^2 / mean
   log-likelihood at the end. ``tol=0`` does not make Adam a fixed-epoch run
   (it still stops after 10 epochs without any improvement, as
   ``MLPRegressor``), so the epochs actually run are reported.

    python benchmarks/bench_sparse.py                       # all three parts (several minutes)
    python benchmarks/bench_sparse.py --quick               # small smoke run, well under a minute
    python benchmarks/bench_sparse.py --parts pred --threads 1 2 --repeats 7
    python benchmarks/bench_sparse.py --parts steps --steps-epochs 50
    python benchmarks/bench_sparse.py --json sparse.json

The header prints the skmoe commit (and whether ``skmoe/`` has uncommitted
changes), the versions, where skmoe was imported from (this worktree: the
repository root goes first on ``sys.path``), the machine's load average and
the threads; each part prints the CPU other processes used while it ran
("other load", in cores, from ``/proc/stat``; about 0 on an idle machine).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings

import _common  # noqa: F401  (sets sys.path: repository root first)
import numpy as np
from _common import REPO_ROOT, environment_lines, fmt, md_table, thread_report
from bench_gradient import OtherLoad

N_FEATURES = 10


def _import():
    import skmoe
    from skmoe import MixtureOfExpertsRegressor
    from skmoe._synthetic import hard_regimes

    return skmoe, MixtureOfExpertsRegressor, hard_regimes


def _git(*args):
    try:
        out = subprocess.run(
            ["git", "-C", REPO_ROOT, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() if out.returncode == 0 else None
    except Exception:
        return None


def _fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est


def _label(top_k):
    return "dense" if top_k is None else f"top-{top_k}"


# -- part 1: prediction cost --------------------------------------------------


def part_pred(Est, hard_regimes, args):
    n, n_fit = args.pred_n, args.pred_fit_n
    X, y, _ = hard_regimes(n, 8, N_FEATURES, seed=0)
    print(
        f"\n## Part 1: prediction cost, predict(X) on {n:,} x {N_FEATURES} rows\n"
        f"models fitted on the first {n_fit:,} rows (solver='adam', {args.pred_epochs} epochs, "
        f"tol=0, random_state=0); best of {args.repeats} repeats (median), models rotated "
        "within each repeat",
        flush=True,
    )
    configs = []
    for K in args.pred_experts:
        for kind in args.kinds:
            for k in list(args.top_k) + [None]:
                if k is not None and k >= K:
                    continue
                configs.append((K, kind, k))
    models = {}
    t0 = time.perf_counter()
    for K, kind, k in configs:
        est = Est(
            n_experts=K,
            top_k=k,
            expert=kind,
            expert_hidden=args.hidden,
            solver="adam",
            max_iter=args.pred_epochs,
            tol=0.0,
            batch_size=256,
            learning_rate=1e-2,
            random_state=0,
            n_jobs=1,
        )
        models[(K, kind, k)] = _fit(est, X[:n_fit], y[:n_fit])
    print(f"fitted {len(models)} models in {time.perf_counter() - t0:.1f} s", flush=True)

    results = []
    for T in args.threads:
        for est in models.values():
            est.set_params(n_jobs=T)
            est.predict(X)  # warm-up: Numba compilation for these shapes and threads
        times = {key: [] for key in models}
        keys = list(models)
        with OtherLoad() as load:
            for rep in range(args.repeats):
                shift = (rep * len(keys)) // max(args.repeats, 1)
                for key in keys[shift:] + keys[:shift]:
                    est = models[key]
                    t1 = time.perf_counter()
                    est.predict(X)
                    times[key].append(time.perf_counter() - t1)
        print(
            f"  threads={T}: other processes used {fmt(load.cores, '.2f')} cores",
            file=sys.stderr,
            flush=True,
        )
        for (K, kind, k), ts in times.items():
            results.append(
                {
                    "K": K,
                    "kind": kind,
                    "top_k": k,
                    "threads": T,
                    "best_s": min(ts),
                    "median_s": statistics.median(ts),
                    "all_s": ts,
                    "other_load_cores": load.cores,
                }
            )

    # one row per (K, experts, threads); columns per k
    header = ["K", "experts", "threads", "dense ms"]
    for k in args.top_k:
        header += [f"top-{k} ms", f"top-{k} / dense"]
    header += ["target", "met", "other load (cores)"]
    rows, checks = [], []
    by = {(r["K"], r["kind"], r["top_k"], r["threads"]): r for r in results}
    for T in args.threads:
        for K in args.pred_experts:
            for kind in args.kinds:
                dense = by.get((K, kind, None, T))
                if dense is None:
                    continue
                row = [K, kind if kind == "linear" else f"mlp-{args.hidden}", T]
                row.append(f"{1e3 * dense['best_s']:.1f} ({1e3 * dense['median_s']:.1f})")
                ratios = {}
                for k in args.top_k:
                    r = by.get((K, kind, k, T))
                    if r is None:
                        row += ["-", "-"]
                        continue
                    ratios[k] = r["best_s"] / dense["best_s"]
                    row += [
                        f"{1e3 * r['best_s']:.1f} ({1e3 * r['median_s']:.1f})",
                        f"{ratios[k]:.2f}",
                    ]
                if kind == "linear":
                    target = "every top-k <= 1x"
                    met = all(v <= 1.0 for v in ratios.values()) if ratios else None
                elif K == 8 and 2 in ratios:
                    target = "top-2 <= 0.4x"
                    met = ratios[2] <= 0.4
                elif K == 32 and 2 in ratios:
                    target = "top-2 <= 0.15x"
                    met = ratios[2] <= 0.15
                else:
                    target, met = "-", None
                row += [
                    target,
                    "-" if met is None else ("yes" if met else "NO"),
                    fmt(dense["other_load_cores"], ".2f"),
                ]
                rows.append(row)
                if met is not None:
                    checks.append((f"K={K} {row[1]} threads={T}: {target}", met))
    print()
    print(md_table(header, rows))
    print(
        "\nms cells: best of the repeats (median in parentheses) of predict on all rows; "
        "ratio of the bests."
    )
    return {"results": results, "checks": checks}


# -- part 2: quality ----------------------------------------------------------


def part_quality(Est, hard_regimes, args):
    n, n_test, K = args.quality_n, args.quality_n, 8
    X, y, truth = hard_regimes(n, K, N_FEATURES, seed=0)
    Xt, yt, _ = hard_regimes(n_test, K, N_FEATURES, seed=1, truth=truth)
    noise = 0.3
    oracle_r2 = 1.0 - noise**2 / yt.var()
    oracle_ll = -0.5 * math.log(2 * math.pi * noise**2) - 0.5
    print(
        f"\n## Part 2: quality, hard_regimes({n:,}, 8, {N_FEATURES}) train, {n_test:,} held out\n"
        f"MixtureOfExpertsRegressor(n_experts=8) at defaults; seeds {args.seeds}; "
        f"smallest regime's share {np.bincount(truth['regime'], minlength=K).min() / n:.3f}; "
        f"the generating model would score R^2 ~ {oracle_r2:.4f}, mean LL ~ {oracle_ll:.4f}",
        flush=True,
    )
    configs = [None] + list(args.quality_top_k)
    runs = []
    with OtherLoad() as load:
        for seed in args.seeds:
            for k in configs:
                est = Est(n_experts=K, top_k=k, random_state=seed)
                t0 = time.perf_counter()
                _fit(est, X, y)
                wall = time.perf_counter() - t0
                run = {
                    "top_k": k,
                    "seed": seed,
                    "solver": "em" if k is None and est.solver in ("auto", "em") else "adam",
                    "n_iter": int(est.n_iter_),
                    "fit_s": wall,
                    "r2": float(est.score(Xt, yt)),
                    "ll": float(est.log_likelihood(Xt, yt).mean()),
                    "train_r2": float(est.score(X, y)),
                }
                runs.append(run)
                print(
                    f"  seed {seed} {_label(k)}: R^2 {run['r2']:.4f}, LL {run['ll']:.4f}, "
                    f"{run['n_iter']} iterations, {wall:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"  other processes used {fmt(load.cores, '.2f')} cores", file=sys.stderr, flush=True)

    def mean(key, k):
        return float(np.mean([r[key] for r in runs if r["top_k"] == k]))

    dense_r2, dense_ll = mean("r2", None), mean("ll", None)
    targets = {2: (0.01, 0.2), 1: (0.03, None)}
    header = [
        "model",
        "solver",
        "held-out R^2 per seed",
        "mean R^2",
        "R^2 - dense",
        "held-out LL per seed",
        "mean LL",
        "LL - dense",
        "iterations",
        "fit s",
        "target",
        "met",
    ]
    rows, checks = [], []
    for k in configs:
        mine = [r for r in runs if r["top_k"] == k]
        r2, ll = mean("r2", k), mean("ll", k)
        dr2, dll = r2 - dense_r2, ll - dense_ll
        if k is None or k not in targets:
            target, met = "-", None
        else:
            tr2, tll = targets[k]
            target = f"R^2 within {tr2}" + (f", LL within {tll}" if tll is not None else "")
            met = dr2 >= -tr2 and (tll is None or dll >= -tll)
            checks.append((f"quality top-{k}: {target}", met))
        rows.append(
            [
                _label(k) if k is None else f"top-{k} of 8",
                mine[0]["solver"],
                ", ".join(f"{r['r2']:.4f}" for r in mine),
                f"{r2:.4f}",
                "-" if k is None else f"{dr2:+.4f}",
                ", ".join(f"{r['ll']:.3f}" for r in mine),
                f"{ll:.4f}",
                "-" if k is None else f"{dll:+.4f}",
                ", ".join(str(r["n_iter"]) for r in mine),
                f"{np.mean([r['fit_s'] for r in mine]):.1f}",
                target,
                "-" if met is None else ("yes" if met else "NO"),
            ]
        )
    print()
    print(md_table(header, rows))
    print(
        "\nmeans over the seeds; 'within x' = at most x below dense (a sparse model above dense "
        "meets it); iterations: EM iterations (dense) or Adam epochs (sparse), per seed; "
        f"other load {fmt(load.cores, '.2f')} cores."
    )
    return {
        "runs": runs,
        "checks": checks,
        "oracle_r2": oracle_r2,
        "oracle_ll": oracle_ll,
        "other_load_cores": load.cores,
    }


# -- part 3: steps versus time ------------------------------------------------


def _n_params(est):
    total = 0
    for value in est._params.values():
        if isinstance(value, dict):
            total += sum(int(np.size(v)) for v in value.values())
        else:
            total += int(np.size(value))
    return total


def _first_epoch(curve, threshold):
    hit = np.flatnonzero(np.asarray(curve) >= threshold)
    return int(hit[0]) + 1 if hit.size else None


def part_steps(Est, hard_regimes, args):
    n, n_test, h = args.steps_n, args.steps_test_n, args.hidden
    X, y, truth = hard_regimes(n, 8, N_FEATURES, seed=0)
    Xt, yt, _ = hard_regimes(n_test, 8, N_FEATURES, seed=1, truth=truth)
    bs, lr, epochs = 256, 1e-2, args.steps_epochs
    steps_per_epoch = -(-n // bs)
    common = dict(
        expert="mlp",
        solver="adam",
        max_iter=epochs,
        tol=0.0,
        batch_size=bs,
        learning_rate=lr,
        random_state=0,
        n_jobs=args.steps_threads,
    )
    configs = [
        (f"dense 1 x mlp-{8 * h}", dict(n_experts=1, expert_hidden=8 * h)),
        (f"dense 8 x mlp-{h}", dict(n_experts=8, expert_hidden=h)),
        (f"top-2 of 8 x mlp-{h}", dict(n_experts=8, expert_hidden=h, top_k=2)),
    ]
    print(
        f"\n## Part 3: steps versus time, hard_regimes({n:,}, 8, {N_FEATURES}), "
        f"{n_test:,} held out\n"
        f"solver='adam', batch {bs}, lr {lr}, {epochs} epochs ({steps_per_epoch} steps each), "
        f"tol=0, random_state=0, n_jobs={args.steps_threads}; best of {args.repeats_steps} "
        "fits for the time per step (alternating models)",
        flush=True,
    )
    # untimed warm-up (Numba compilation) on the same data, 1 epoch
    for _, extra in configs:
        _fit(Est(**{**common, **extra, "max_iter": 1}), X, y)
    fits = {name: [] for name, _ in configs}
    with OtherLoad() as load:
        for _ in range(args.repeats_steps):
            for name, extra in configs:
                est = Est(**{**common, **extra})
                t0 = time.perf_counter()
                _fit(est, X, y)
                wall = time.perf_counter() - t0
                fits[name].append((est, wall))
                print(
                    f"  {name}: {est.n_iter_} epochs, solver {est._timings_['solver']:.2f} s, "
                    f"fit {wall:.2f} s, final curve {est.log_likelihood_curve_[-1]:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"  other processes used {fmt(load.cores, '.2f')} cores", file=sys.stderr, flush=True)

    info = {}
    for name, _ in configs:
        ests = fits[name]
        est0 = ests[0][0]
        same = all(
            np.array_equal(e.log_likelihood_curve_, est0.log_likelihood_curve_) for e, _ in ests
        )
        per_step = min(e._timings_["solver"] / (e.n_iter_ * steps_per_epoch) for e, _ in ests)
        info[name] = {
            "est": est0,
            "curve": np.asarray(est0.log_likelihood_curve_),
            "per_step_s": per_step,
            "per_step_all_s": [
                e._timings_["solver"] / (e.n_iter_ * steps_per_epoch) for e, _ in ests
            ],
            "fit_wall_s": min(w for _, w in ests),
            "init_s": min(e._timings_.get("init", float("nan")) for e, _ in ests),
            "curves_identical": same,
            "params": _n_params(est0),
            "r2": float(est0.score(Xt, yt)),
            "ll": float(est0.log_likelihood(Xt, yt).mean()),
            "train_ll": float(est0.log_likelihood_),
            "n_iter": int(est0.n_iter_),
        }
    # thresholds from the pair of equal-size models (dense 8 experts, top-2 of the same 8)
    pair = [configs[1][0], configs[2][0]]
    L0 = min(info[name]["curve"][0] for name in pair)
    best_final = max(info[name]["curve"][-1] for name in pair)
    thresholds = [L0 + f * (best_final - L0) for f in args.steps_fractions]
    header = ["model", "parameters", "epochs run", "ms / step"]
    header += [f"epochs (steps), s to {100 * f:g}%" for f in args.steps_fractions]
    header += ["final train LL (curve)", "held-out R^2", "held-out LL", "solver s"]
    rows = []
    for name, _ in configs:
        v = info[name]
        v["epochs_to"] = []
        cells = []
        for thr in thresholds:
            e = _first_epoch(v["curve"], thr)
            v["epochs_to"].append(e)
            if e is None:
                cells.append("not reached")
            else:
                steps = e * steps_per_epoch
                cells.append(f"{e} ({steps:,}), {steps * v['per_step_s']:.2f}")
        rows.append(
            [
                name,
                f"{v['params']:,}",
                v["n_iter"],
                f"{1e3 * v['per_step_s']:.3f}",
                *cells,
                f"{v['curve'][-1]:.4f}",
                f"{v['r2']:.4f}",
                f"{v['ll']:.4f}",
                f"{v['per_step_s'] * v['n_iter'] * steps_per_epoch:.2f}",
            ]
        )
    print()
    print(md_table(header, rows))
    print(
        f"\nx% = the training curve reaches L0 + x (best - L0), with L0 = {L0:.4f} the lower "
        f"first-epoch value and best = {best_final:.4f} the better final value of "
        f"'{pair[0]}' and '{pair[1]}' (thresholds "
        + ", ".join(f"{t:.4f}" for t in thresholds)
        + "); steps = epochs x "
        f"{steps_per_epoch}; s = steps x best time per step (_timings_['solver'] / steps, "
        "start excluded); solver s = the whole run at that rate."
    )
    print(
        "start (_timings_['init'], s): "
        + ", ".join(f"{name} {info[name]['init_s']:.2f}" for name, _ in configs)
    )
    for name, _ in configs:
        v = info[name]
        curve = ", ".join(f"{c:.3f}" for c in v["curve"])
        flag = "" if v["curves_identical"] else " (curves differ between repeats!)"
        print(f"curve {name}{flag}: {curve}")
    print(f"other load {fmt(load.cores, '.2f')} cores")
    out = {
        name: {
            k: (v[k].tolist() if isinstance(v[k], np.ndarray) else v[k]) for k in v if k != "est"
        }
        for name, v in info.items()
    }
    return {
        "models": out,
        "L0": L0,
        "thresholds": thresholds,
        "steps_per_epoch": steps_per_epoch,
        "other_load_cores": load.cores,
    }


# -- main ---------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--parts",
        nargs="+",
        choices=["pred", "quality", "steps"],
        default=["pred", "quality", "steps"],
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small smoke run: n 2e4 / 2e3 / 5e3, 2 repeats, 1 seed, 5 epochs",
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="predict timings per model (default 5; --quick 2)"
    )
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="n_jobs values of part 1 (default 1 2; --quick 1)",
    )
    p.add_argument("--kinds", nargs="+", choices=["linear", "mlp"], default=["linear", "mlp"])
    p.add_argument("--hidden", type=int, default=32, help="hidden units per mlp expert (32)")
    p.add_argument("--pred-n", type=float, default=None, help="part 1 rows (default 2e5)")
    p.add_argument("--pred-fit-n", type=int, default=5000, help="part 1 rows to fit on")
    p.add_argument("--pred-epochs", type=int, default=2, help="part 1 Adam epochs")
    p.add_argument("--pred-experts", type=int, nargs="+", default=[8, 32])
    p.add_argument("--top-k", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument(
        "--quality-n",
        type=float,
        default=None,
        help="part 2 training = held-out rows (default 1e4)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="part 2 (default 0 1 2)")
    p.add_argument("--quality-top-k", type=int, nargs="+", default=[2, 1])
    p.add_argument("--steps-n", type=float, default=None, help="part 3 rows (default 5e4)")
    p.add_argument("--steps-test-n", type=int, default=10000)
    p.add_argument("--steps-epochs", type=int, default=None, help="part 3 epochs (default 30)")
    p.add_argument("--steps-threads", type=int, default=1, help="part 3 n_jobs (default 1)")
    p.add_argument(
        "--steps-fractions",
        type=float,
        nargs="+",
        default=[0.9, 0.95, 0.99],
        help="part 3 thresholds, fractions of the way to the best final value",
    )
    p.add_argument(
        "--repeats-steps",
        type=int,
        default=None,
        help="part 3 fits per model (default 3; --quick 1)",
    )
    p.add_argument("--json", help="also write the results to this JSON file")
    a = p.parse_args(argv)
    q = a.quick
    a.repeats = a.repeats if a.repeats is not None else (2 if q else 5)
    a.threads = a.threads if a.threads is not None else ([1] if q else [1, 2])
    a.pred_n = int(a.pred_n if a.pred_n is not None else (2e4 if q else 2e5))
    a.pred_fit_n = min(a.pred_fit_n, a.pred_n, 2000 if q else a.pred_fit_n)
    a.quality_n = int(a.quality_n if a.quality_n is not None else (2e3 if q else 1e4))
    a.seeds = a.seeds if a.seeds is not None else ([0] if q else [0, 1, 2])
    a.steps_n = int(a.steps_n if a.steps_n is not None else (5e3 if q else 5e4))
    a.steps_test_n = min(a.steps_test_n, 2000) if q else a.steps_test_n
    a.steps_epochs = a.steps_epochs if a.steps_epochs is not None else (5 if q else 30)
    a.repeats_steps = a.repeats_steps if a.repeats_steps is not None else (1 if q else 3)

    skmoe, Est, hard_regimes = _import()
    print("# Sparse top-k mixtures of experts\n")
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "skmoe")
    print(f"skmoe commit {commit}" + (" + uncommitted changes in skmoe/" if dirty else ""))
    for line in environment_lines():
        print(line)
    import numba

    print(f"numba {numba.__version__}")
    print(f"skmoe {getattr(skmoe, '__version__', '?')} imported from {skmoe.__file__}")
    if os.path.dirname(os.path.abspath(skmoe.__file__)) != os.path.join(REPO_ROOT, "skmoe"):
        print(f"WARNING: skmoe is not this worktree's ({REPO_ROOT})")
    if hasattr(os, "getloadavg"):
        print("load average at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"options: {vars(a)}", flush=True)

    out = {
        "args": vars(a),
        "commit": commit,
        "dirty": bool(dirty),
        "environment": environment_lines(),
    }
    t_start = time.perf_counter()
    if "pred" in a.parts:
        out["pred"] = part_pred(Est, hard_regimes, a)
    if "quality" in a.parts:
        out["quality"] = part_quality(Est, hard_regimes, a)
    if "steps" in a.parts:
        out["steps"] = part_steps(Est, hard_regimes, a)

    checks = out.get("pred", {}).get("checks", []) + out.get("quality", {}).get("checks", [])
    if checks:
        print("\n## Targets\n")
        for text, met in checks:
            print(f"  {'met   ' if met else 'MISSED'}  {text}")
    print("\nThreads (this process, outside skmoe's calls):")
    for line in thread_report():
        print(line)
    if hasattr(os, "getloadavg"):
        print("load average at end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2, default=str)
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
