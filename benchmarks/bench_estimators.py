"""scikit-learn estimators as experts: one estimator vs a mixture of K of them.

``MixtureOfExpertsRegressor(n_experts=K, expert=<estimator>, random_state=0)``
against the estimator alone, for ``HistGradientBoostingRegressor(max_depth=3)``
and ``Ridge()`` (plus ``StandardScaler + Ridge()``: the experts see
standardised features), with the dense linear mixture (``expert="linear"``)
as a reference. Data: ``sklearn.datasets.load_diabetes()`` (442 rows, 10 features;
``--repeats`` x 2-fold cross-validation with fixed seeds, means over the
folds) and the regime data of the tests (``skmoe._synthetic.hard_regimes``: linear
regimes on the cells of a linear partition, noise standard deviation 0.3;
``--n-train`` training and ``--n-test`` held-out rows from the same model,
4 regimes, d = 5). Columns: fit time, held-out R^2, held-out mean
log-likelihood, EM iterations and the kept iterate.

The single estimators have no likelihood of their own: they get a Gaussian
around their prediction with the variance of their training (in-sample)
residuals. (The same with 5-fold out-of-fold residuals is printed below the
table.)

Second table: the variance choice on the regime data. Deep trees
(``DecisionTreeRegressor(min_samples_leaf=1)``) and
``HistGradientBoostingRegressor(max_depth=3)`` experts with out-of-fold variances (the default)
against in-sample ones (``model._oof_variance = False`` set before ``fit``):
``expert_var_`` against the true noise variance 0.09, training and held-out
log-likelihood, held-out R^2.

    python benchmarks/bench_estimators.py            # full run (~7 min on 2 idle cores, 13 at load 2-3)
    python benchmarks/bench_estimators.py --quick    # smoke test (< 1 min)
    python benchmarks/bench_estimators.py --repeats 10 --json est.json
"""

import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
# Measure this working tree's skmoe (an installed editable skmoe may point to
# another checkout): the repository root goes first on the path, before any
# import of skmoe (or of _common, which imports it lazily).
while REPO_ROOT in sys.path:
    sys.path.remove(REPO_ROOT)
sys.path.insert(0, REPO_ROOT)
if BENCH_DIR not in sys.path:
    sys.path.insert(1, BENCH_DIR)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from _common import environment_lines, fmt, md_table, thread_report  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import KFold, RepeatedKFold, cross_val_predict  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

import skmoe  # noqa: E402
from skmoe import MixtureOfExpertsRegressor  # noqa: E402
from skmoe._experts import _estimator  # noqa: E402
from skmoe._synthetic import hard_regimes  # noqa: E402

NOISE = 0.3  # hard_regimes' noise standard deviation: true variance 0.09
N_REGIMES = 4
N_FEATURES = 5
LOG_2PI = np.log(2 * np.pi)


def _gauss_ll(y, mean, var):
    return -0.5 * (LOG_2PI + np.log(var)) - 0.5 * (y - mean) ** 2 / var


def _loadavg():
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average n/a"


def _expert_specs(skip_hgb):
    """(name, estimator, extra single-estimator rows) per expert estimator."""
    specs = []
    if not skip_hgb:
        specs.append(("HGB(max_depth=3)", HistGradientBoostingRegressor(max_depth=3), []))
    # the experts see standardised features: Ridge() on standardised X is the
    # fair single-estimator baseline (on diabetes, whose columns have standard
    # deviation 0.048, Ridge(alpha=1) on the raw columns is strongly shrunk)
    scaled = ("StandardScaler + Ridge()", make_pipeline(StandardScaler(), Ridge()))
    specs.append(("Ridge()", Ridge(), [scaled]))
    return specs


def run_single(est, X, y, Xt, yt):
    """The estimator alone; Gaussian log-likelihood with the training residual variance."""
    model = clone(est)
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    pred_tr = model.predict(X)
    pred = model.predict(Xt)
    var_in = float(np.mean((y - pred_tr) ** 2))
    oof = cross_val_predict(clone(est), X, y, cv=KFold(5, shuffle=True, random_state=0))
    var_oof = float(np.mean((y - oof) ** 2))
    return {
        "fit_s": fit_s,
        "r2": float(r2_score(yt, pred)),
        "ll": float(_gauss_ll(yt, pred, var_in).mean()),
        "ll_oof_var": float(_gauss_ll(yt, pred, var_oof).mean()),
        "train_ll": float(_gauss_ll(y, pred_tr, var_in).mean()),
        "var": var_in,
        "var_oof": var_oof,
        "n_iter": None,
        "kept": None,
        "converged": None,
    }


def run_moe(expert, K, X, y, Xt, yt, oof_variance=True, n_jobs=None):
    model = MixtureOfExpertsRegressor(n_experts=K, expert=expert, random_state=0, n_jobs=n_jobs)
    if not oof_variance:
        model._oof_variance = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        model.fit(X, y)
        fit_s = time.perf_counter() - t0
    n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    obj = np.asarray(model.objective_curve_)
    return {
        "fit_s": fit_s,
        "r2": float(model.score(Xt, yt)),
        "ll": float(model.log_likelihood(Xt, yt).mean()),
        "train_ll": float(model.log_likelihood(X, y).mean()),
        "n_iter": int(model.n_iter_),
        # index of the kept iterate on the objective curve (0 = the start,
        # the estimators' first weighted fits to the start search's partition)
        "kept": int(np.argmax(obj)),
        "converged": bool(model.converged_),
        "convergence_warnings": n_warn,
        "var": np.asarray(model.expert_var_, dtype=float).tolist(),
        "load": np.asarray(model.expert_load_, dtype=float).tolist(),
        "timings": {k: float(v) for k, v in getattr(model, "_timings_", {}).items()},
    }


def _mean(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def _sd(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else None


def _cell(runs, key, spec):
    m, s = _mean(runs, key), _sd(runs, key)
    if s is None:
        return fmt(m, spec)
    return f"{fmt(m, spec)} ({fmt(s, spec)})"


def _iter_cell(runs):
    it = _mean(runs, "n_iter")
    if it is None:
        return "-", "-"
    kept = _mean(runs, "kept")
    n_conv = sum(bool(r["converged"]) for r in runs)
    conv = "" if n_conv == len(runs) else f" ({n_conv}/{len(runs)} converged)"
    spec = ".0f" if len(runs) == 1 else ".1f"
    return fmt(it, spec) + conv, fmt(kept, spec)


def models_for(specs, experts):
    """(label, K, kind, estimator) rows in table order."""
    rows = []
    for name, est, extra in specs:
        rows.append((name, 1, "single", est))
        for extra_name, extra_est in extra:
            rows.append((extra_name, 1, "single", extra_est))
        for K in experts:
            rows.append((f"MoE of {name}", K, "moe", est))
    for K in experts:
        rows.append(('MoE expert="linear"', K, "moe", "linear"))
    return rows


def evaluate(rows, splits, label):
    """Run every model on every (X, y, Xt, yt) split; returns {row index: [results]}."""
    out = {i: [] for i in range(len(rows))}
    for s, (X, y, Xt, yt) in enumerate(splits):
        for i, (name, K, kind, est) in enumerate(rows):
            if kind == "single":
                res = run_single(est, X, y, Xt, yt)
            else:
                res = run_moe(est, K, X, y, Xt, yt)
            out[i].append(res)
            print(
                f"  {label} split {s + 1}/{len(splits)}: {name:<24s} K={K} "
                f"fit {res['fit_s']:7.2f} s  R2 {res['r2']:.3f}  ll {res['ll']:.3f}"
                + (f"  it {res['n_iter']} kept {res['kept']}" if res["n_iter"] is not None else ""),
                file=sys.stderr,
                flush=True,
            )
    return out


def threads_table(split, repeats, K=4):
    """Fit time of a mixture of K boosting experts: OpenMP per expert fit x n_jobs.

    "1 thread" is skmoe's default (``_estimator.openmp_single_thread`` around
    every expert fit); "unlimited" replaces it by a no-op for the run, so the
    experts use scikit-learn's default OpenMP threads (all cores).
    """
    X, y, Xt, yt = split
    est = HistGradientBoostingRegressor(max_depth=3)
    default = _estimator.openmp_single_thread
    rows = []
    for limit in (True, False):
        for n_jobs in (None, 2):
            times = []
            _estimator.openmp_single_thread = default if limit else contextlib.nullcontext
            try:
                for _ in range(repeats):
                    res = run_moe(est, K, X, y, Xt, yt, n_jobs=n_jobs)
                    times.append(res["fit_s"])
            finally:
                _estimator.openmp_single_thread = default
            rows.append({"openmp": "1 thread" if limit else "unlimited", "n_jobs": n_jobs,
                         "times": times, "n_iter": res["n_iter"], "r2": res["r2"],
                         "load": _loadavg()})
            print(f"  threads: openmp {rows[-1]['openmp']} n_jobs={n_jobs}: "
                  f"{np.round(times, 2)} s ({_loadavg()})", file=sys.stderr, flush=True)
    base = min(rows[0]["times"])
    table = [[r["openmp"], str(r["n_jobs"]), f"{min(r['times']):.2f}",
              f"{np.median(r['times']):.2f}", f"{min(r['times']) / base:.2f}", r["n_iter"],
              f"{r['r2']:.3f}"] for r in rows]
    print(f"\n## Threads (diabetes, first split: {len(X)} training rows; MoE of "
          f"HGB(max_depth=3), K = {K}; best and median of {repeats})\n")
    print(md_table(["OpenMP threads per expert fit", "n_jobs", "best fit s", "median fit s",
                    "best / default", "EM iterations", "held-out R^2"], table))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 x 2-fold on diabetes, 1,000 + 1,000 regime rows, K = 2 and 4, "
        "no HGB rows in the second table",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repetitions of the 2-fold split of diabetes (default 5; --quick 1)",
    )
    p.add_argument("--n-train", type=int, default=None, help="regime training rows (default 5000)")
    p.add_argument("--n-test", type=int, default=None, help="regime held-out rows (default 5000)")
    p.add_argument("--experts", type=int, nargs="*", default=None, help="K values (default 2 3 4)")
    p.add_argument("--skip-hgb", action="store_true", help="leave out HistGradientBoosting")
    p.add_argument("--skip-variance", action="store_true", help="leave out the second table")
    p.add_argument("--skip-threads", action="store_true", help="leave out the third table")
    p.add_argument("--thread-repeats", type=int, default=2,
                   help="repeats per cell of the threads table (best is shown; default 2)")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)

    repeats = args.repeats or (1 if args.quick else 5)
    n_train = args.n_train or (1000 if args.quick else 5000)
    n_test = args.n_test or (1000 if args.quick else 5000)
    experts = args.experts or ([2, 4] if args.quick else [2, 3, 4])

    print("# scikit-learn estimators as experts\n")
    for line in environment_lines():
        print(line)
    print(f"skmoe {getattr(skmoe, '__version__', '?')} imported from {skmoe.__file__}")
    print(f"start: {_loadavg()}")
    print(
        f"diabetes: {repeats} x 2-fold (RepeatedKFold(random_state=0)); regimes: "
        f"hard_regimes({n_train}, {N_REGIMES}, {N_FEATURES}, noise={NOISE}, seed=0), "
        f"held-out {n_test} rows (seed=1, same truth); K = {experts}\n",
        flush=True,
    )
    t_all = time.perf_counter()

    # untimed warm-up: Numba compilation / cache load of the E-step kernels
    # (serial and parallel) and of the start search
    Xw, yw, _ = hard_regimes(n_train, N_REGIMES, N_FEATURES, noise=NOISE, seed=123)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MixtureOfExpertsRegressor(n_experts=2, max_iter=2, random_state=0).fit(Xw, yw)
        MixtureOfExpertsRegressor(n_experts=2, expert=Ridge(), max_iter=2, random_state=0).fit(
            Xw[:300], yw[:300]
        )

    specs = _expert_specs(args.skip_hgb)
    rows = models_for(specs, experts)

    # -- data ------------------------------------------------------------------
    Xd, yd = load_diabetes(return_X_y=True)
    cv = RepeatedKFold(n_splits=2, n_repeats=repeats, random_state=0)
    diab_splits = [(Xd[tr], yd[tr], Xd[te], yd[te]) for tr, te in cv.split(Xd)]
    X, y, truth = hard_regimes(n_train, N_REGIMES, N_FEATURES, noise=NOISE, seed=0)
    Xt, yt, truth_t = hard_regimes(n_test, N_REGIMES, N_FEATURES, noise=NOISE, seed=1, truth=truth)
    true_mean = (
        np.einsum("nd,nd->n", Xt, truth["A"][truth_t["regime"]]) + truth["c"][truth_t["regime"]]
    )
    true_ll = float(_gauss_ll(yt, true_mean, NOISE**2).mean())
    true_r2 = float(r2_score(yt, true_mean))

    results = {}
    results["diabetes"] = evaluate(rows, diab_splits, "diabetes")
    results["regimes"] = evaluate(rows, [(X, y, Xt, yt)], "regimes")

    # -- table 1 ---------------------------------------------------------------
    header = [
        "data",
        "model",
        "K",
        "fit s",
        "held-out R^2",
        "held-out mean log-lik",
        "EM iterations",
        "kept iterate",
    ]
    table = []
    oof_notes = []
    for data_name, label in [
        ("diabetes", f"diabetes ({repeats}x2-fold)"),
        ("regimes", f"regimes ({n_train} / {n_test})"),
    ]:
        res = results[data_name]
        for i, (name, K, kind, _) in enumerate(rows):
            runs = res[i]
            it, kept = _iter_cell(runs)
            table.append(
                [
                    label,
                    name,
                    K,
                    _cell(runs, "fit_s", ".2f"),
                    _cell(runs, "r2", ".3f"),
                    _cell(runs, "ll", ".3f"),
                    it,
                    kept,
                ]
            )
            if kind == "single":
                oof_notes.append(
                    f"  {data_name}, {name}: {fmt(_mean(runs, 'll_oof_var'), '.3f')} "
                    f"(training residual variance {fmt(_mean(runs, 'var'), '.4g')}, "
                    f"out-of-fold {fmt(_mean(runs, 'var_oof'), '.4g')})"
                )
        if data_name == "regimes":
            table.append(
                [label, "true model", "-", "-", f"{true_r2:.3f}", f"{true_ll:.3f}", "-", "-"]
            )
    print(md_table(header, table))
    print(
        "\nDiabetes cells: mean over the folds (standard deviation over the folds in parentheses)."
        "\nSingle estimators' log-likelihood: Gaussian around the prediction with the variance of"
        " the training (in-sample) residuals."
        "\nEM iterations: n_iter_ (all iterations run); kept iterate: index of the iterate kept"
        " (argmax of objective_curve_; 0 = the start, i.e. the estimators' first weighted fits"
        " to the start search's partition)."
        "\nSingle estimators' held-out mean log-likelihood with the 5-fold out-of-fold residual"
        " variance instead:"
    )
    for line in oof_notes:
        print(line)

    # -- table 2: the variance choice -----------------------------------------
    var_rows = []
    if not args.skip_variance:
        K = N_REGIMES
        var_specs = [
            ("DecisionTree(min_samples_leaf=1)", DecisionTreeRegressor(min_samples_leaf=1))
        ]
        if not (args.skip_hgb or args.quick):
            var_specs.append(("HGB(max_depth=3)", HistGradientBoostingRegressor(max_depth=3)))
        reuse = {}
        if K in experts:
            for i, (name, k, kind, _) in enumerate(rows):
                if kind == "moe" and k == K and name.startswith("MoE of HGB"):
                    reuse["HGB(max_depth=3)"] = results["regimes"][i][0]
        for name, est in var_specs:
            for oof in (True, False):
                if oof and name in reuse:
                    res = reuse[name]
                else:
                    res = run_moe(est, K, X, y, Xt, yt, oof_variance=oof)
                var_rows.append((name, oof, res))
                print(
                    f"  variance: {name} oof={oof}: fit {res['fit_s']:.2f} s "
                    f"var {np.round(res['var'], 4)} ll {res['ll']:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
        header2 = [
            "expert (K = 4)",
            "variances",
            "fit s",
            "EM it. (kept)",
            "expert_var_ (sorted)",
            "mean / 0.09",
            "train mean log-lik",
            "held-out mean log-lik",
            "held-out R^2",
        ]
        t2 = []
        for name, oof, res in var_rows:
            v = np.sort(np.asarray(res["var"]))
            t2.append(
                [
                    name,
                    "out-of-fold" if oof else "in-sample",
                    f"{res['fit_s']:.2f}",
                    f"{res['n_iter']} ({res['kept']})",
                    " ".join(f"{x:.3g}" for x in v),
                    f"{v.mean() / NOISE**2:.2f}",
                    f"{res['train_ll']:.3f}",
                    f"{res['ll']:.3f}",
                    f"{res['r2']:.3f}",
                ]
            )
        t2.append(
            [
                "true model",
                "-",
                "-",
                "-",
                " ".join(["0.09"] * N_REGIMES),
                "1.00",
                "-",
                f"{true_ll:.3f}",
                f"{true_r2:.3f}",
            ]
        )
        print(f"\n## Variance choice (regime data, {n_train} / {n_test} rows, K = {K})\n")
        print(md_table(header2, t2))
        print("\nin-sample: model._oof_variance = False set before fit.")
        if any(name in reuse for name, _, _ in var_rows):
            print("The HGB out-of-fold row is the K = 4 fit of the first table.")

    # -- table 3: threads ----------------------------------------------------------
    thread_rows = []
    if not (args.skip_threads or args.skip_hgb):
        thread_rows = threads_table(diab_splits[0], args.thread_repeats)

    total = time.perf_counter() - t_all
    print(f"\nend: {_loadavg()}; total {total:.0f} s")
    print("\nThreads:")
    for line in thread_report():
        print(line)

    if args.json:
        payload = {
            "args": vars(args),
            "environment": environment_lines() + [skmoe.__file__],
            "rows": [[name, K, kind] for name, K, kind, _ in rows],
            "results": {k: {str(i): v for i, v in r.items()} for k, r in results.items()},
            "variance": [[n, o, r] for n, o, r in var_rows],
            "true_model": {"ll": true_ll, "r2": true_r2},
            "threads": thread_rows,
        }
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
