"""The predictive distribution (issue 17): quantile speed, and interval coverage on real tables.

Part ``speed``: one thread, a dense model with ``d = 10`` features and
``K = 8`` experts fitted on a synthetic mixture of experts, ``--rows`` (1e5)
rows to predict: the median over ``--repeats`` (>= 5) of the time of
``predict_quantiles(X)`` (3 levels, 0.05 / 0.5 / 0.95) against
``predict(X, return_std=True)``, after an untimed warm-up call of each (Numba
compiles the kernels on first use). The same for a sparse ``top_k=2`` model and,
with ``--n-jobs 2``, for two threads. Also the time per level (1, 3 and 9
levels), which splits the cost into a per-row part (the gate, the expert means)
and a per-level part (the safeguarded Newton search of each quantile).

Part ``coverage``: the UCI protocol of ``bench_real_data.py`` (random 90/10
splits, ``ShuffleSplit(test_size=0.1, random_state=0)``, the same loaders):
held-out empirical coverage of the default model's 90% interval
``predict_interval(X_test, 0.9)`` averaged over the splits, its mean width,
and the held-out CRPS (``-neg_crps_scorer``, units of ``y``) beside OLS's
Gaussian CRPS and the coverage of OLS's ``mean +- 1.645 sigma`` interval.
skmoe at its defaults (only ``random_state`` set, to the split's number).

    python benchmarks/bench_predictive.py                       # both parts
    python benchmarks/bench_predictive.py --part speed --repeats 7
    python benchmarks/bench_predictive.py --part coverage --splits 20 --tables boston mcycle

Threads: the script sets nothing; run it with ``OMP_NUM_THREADS=1
NUMBA_NUM_THREADS=1`` for the single-thread numbers (printed at the top).
"""

import argparse
import time
import warnings

import _common  # noqa: F401  (sets sys.path)
import numpy as np
from _common import environment_lines, md_table, skmoe_location, thread_report
from bench_real_data import regression_table  # the same loaders

COVERAGE_TABLES = ("boston", "concrete", "mcycle", "diabetes")


# -- speed ------------------------------------------------------------------------------


def moe_table(n, d, K, seed):
    """``y`` from a mixture of ``K`` linear experts with a softmax-linear gate on ``d`` inputs."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    gate = X @ rng.normal(scale=2.0, size=(d, K))
    p = np.exp(gate - gate.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    z = (p.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    coef = rng.normal(size=(K, d))
    sd = rng.uniform(0.2, 1.0, size=K)
    y = np.einsum("nd,nd->n", X, coef[z]) + rng.normal(size=K)[z] * 3 + sd[z] * rng.normal(size=n)
    return X, y


def timed(fn, repeats):
    fn()  # warm-up: Numba compile / load from cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def run_speed(rows, repeats, n_jobs_list):
    from skmoe import MixtureOfExpertsRegressor

    d, K = 10, 8
    X, y = moe_table(50_000, d, K, 0)
    Xp, _ = moe_table(rows, d, K, 1)
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        models["dense K=8"] = MixtureOfExpertsRegressor(
            n_experts=K, max_iter=50, random_state=0, n_jobs=1).fit(X, y)
        print(f"fit dense: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        models["sparse K=8 top_k=2"] = MixtureOfExpertsRegressor(
            n_experts=K, top_k=2, max_iter=50, random_state=0, n_jobs=1).fit(X, y)
        print(f"fit sparse: {time.perf_counter() - t0:.1f} s")
    rows_out, level_rows = [], []
    for name, model in models.items():
        for n_jobs in n_jobs_list:
            model.set_params(n_jobs=n_jobs)
            t_std, t_std_min = timed(lambda m=model: m.predict(Xp, return_std=True), repeats)
            t_q, t_q_min = timed(lambda m=model: m.predict_quantiles(Xp), repeats)
            rows_out.append([name, n_jobs, f"{1e3 * t_std:.1f}", f"{1e3 * t_q:.1f}",
                             f"{t_q / t_std:.1f}x", f"{t_q_min / t_std_min:.1f}x"])
        model.set_params(n_jobs=1)
        base = None
        for levels in (np.array([0.5]), np.array([0.05, 0.5, 0.95]),
                       np.linspace(0.1, 0.9, 9)):
            t, _ = timed(lambda m=model, lv=levels: m.predict_quantiles(Xp, quantiles=lv),
                         repeats)
            base = t if base is None else base
            level_rows.append([name, len(levels), f"{1e3 * t:.1f}",
                               f"{1e6 * t / rows / len(levels):.2f}"])
    header = ["model", "n_jobs", "predict(return_std) ms", "predict_quantiles (3 levels) ms",
              "ratio (median)", "ratio (best)"]
    print(f"\n## Speed: d = {d}, K = {K}, {rows} rows, median of {repeats} after a warm-up\n")
    print(md_table(header, rows_out))
    print("\n### predict_quantiles time by number of levels (n_jobs = 1)\n")
    print(md_table(["model", "levels", "ms", "us per row per level"], level_rows))


# -- coverage ---------------------------------------------------------------------------


def gaussian_crps(y, mean, std):
    from scipy.special import ndtr

    z = (y - mean) / std
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return std * (z * (2 * ndtr(z) - 1) + 2 * pdf - 1 / np.sqrt(np.pi))


def ols_predictive(Xtr, ytr, Xte):
    from sklearn.linear_model import LinearRegression

    ols = LinearRegression().fit(Xtr, ytr)
    resid = ytr - ols.predict(Xtr)
    sigma = np.sqrt(resid @ resid / (Xtr.shape[0] - Xtr.shape[1] - 1))
    return ols.predict(Xte), sigma


def run_coverage(tables, n_splits, coverage=0.9):
    from scipy.special import ndtri
    from sklearn.model_selection import ShuffleSplit

    from skmoe import MixtureOfExpertsRegressor
    from skmoe.metrics import neg_crps_scorer

    z = ndtri(0.5 + 0.5 * coverage)
    rows = []
    for table in tables:
        X, y = regression_table(table)
        r = {k: [] for k in ("cov", "width", "crps", "ols_cov", "ols_crps", "K", "time")}
        splits = ShuffleSplit(n_splits=n_splits, test_size=0.1, random_state=0).split(X)
        for split, (tr, te) in enumerate(splits):
            Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MixtureOfExpertsRegressor(random_state=split).fit(Xtr, ytr)
            r["time"].append(time.perf_counter() - t0)
            lo, hi = model.predict_interval(Xte, coverage).T
            r["cov"].append(np.mean((yte >= lo) & (yte <= hi)))
            r["width"].append(np.mean(hi - lo))
            r["crps"].append(-neg_crps_scorer(model, Xte, yte))
            r["K"].append(int(model.n_experts_))
            mean, sigma = ols_predictive(Xtr, ytr, Xte)
            r["ols_cov"].append(np.mean(np.abs(yte - mean) <= z * sigma))
            r["ols_crps"].append(gaussian_crps(yte, mean, sigma).mean())
        a = {k: np.asarray(v, dtype=float) for k, v in r.items()}

        def se(v):
            return v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan
        diff = a["crps"] - a["ols_crps"]
        miss = 100 * (a["cov"].mean() - coverage)
        rows.append([
            table, len(y) - len(yte), len(yte),
            f"{100 * a['cov'].mean():.1f} ({100 * se(a['cov']):.1f})",
            f"{miss:+.1f}", "yes" if abs(miss) <= 5 else "no",
            f"{a['width'].mean():.2f}",
            f"{100 * a['ols_cov'].mean():.1f}",
            f"{a['crps'].mean():.3f} ({se(a['crps']):.3f})",
            f"{a['ols_crps'].mean():.3f} ({se(a['ols_crps']):.3f})",
            f"{diff.mean():+.3f} ({se(diff):.3f})",
            f"{int(a['K'].min())}-{int(a['K'].max())}", f"{np.median(a['time']):.2f}",
        ])
    header = ["table", "n train", "n test", f"skmoe {coverage:.0%} coverage % (se)",
              "- nominal", "within 5", "mean width", f"OLS {coverage:.0%} coverage %",
              "skmoe CRPS (se)", "OLS CRPS (se)", "CRPS - OLS (paired se)", "K", "fit s"]
    print(f"\n## Coverage: {n_splits} random 90/10 splits, skmoe defaults\n")
    print(md_table(header, rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("speed", "coverage", "both"), default="both")
    parser.add_argument("--rows", type=int, default=100_000, help="rows to predict (speed)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (speed)")
    parser.add_argument("--n-jobs", type=int, nargs="*", default=[1],
                        help="n_jobs values for the speed part (e.g. 1 2)")
    parser.add_argument("--splits", type=int, default=20, help="random 90/10 splits")
    parser.add_argument("--tables", nargs="*", default=list(COVERAGE_TABLES))
    args = parser.parse_args(argv)

    print(skmoe_location())
    for line in environment_lines() + thread_report():
        print(line)
    if args.part in ("speed", "both"):
        run_speed(args.rows, max(args.repeats, 5), args.n_jobs)
    if args.part in ("coverage", "both"):
        run_coverage(args.tables, args.splits)


if __name__ == "__main__":
    main()
