"""Time per EM iteration: hand-written NumPy/SciPy EM vs skmoe.

Both fit the dense softmax-gated MoE regressor on the same synthetic data
(``skmoe._synthetic.make_moe_regression``, d = 10) with a fixed number of iterations
(``tol=0``). Only the main full-data EM loop is timed (initialisation
excluded): for skmoe ``_timings_['total_em'] / n_iter_``, for the baseline the
same quantity from ``numpy_em``'s own timings.

    python benchmarks/bench_em.py            # n = 1e4, 1e5, 1e6; K = 4, 8
    python benchmarks/bench_em.py --quick    # n = 1e4, 1e5 only
    python benchmarks/bench_em.py --repeats 5 --max-iter 30 --json out.json
"""

import argparse
import json
import statistics
import sys
import time

import _common  # noqa: F401  (sets sys.path)
from _common import (
    environment_lines,
    fmt,
    import_skmoe,
    md_table,
    quiet_fit,
    skmoe_location,
    thread_report,
    warmup_fit,
)
from numpy_em import numpy_em

from skmoe._synthetic import make_moe_regression

SPLIT_KEYS = ("estep", "expert_mstep", "gate_mstep")
N_FEATURES = 10


def _summarise(runs):
    """runs: list of (ms_per_iter, {key: ms_per_iter}). Median run's split."""
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    per = [r[0] for r in runs]
    # low median (an actual run, also for an even number of repeats), so the
    # reported split is that run's and adds up to its ms/iter
    med = statistics.median_low(per)
    mid = next(r for r in runs if r[0] == med)
    return {"median": med, "best": min(per), "all": per, "split": mid[1], "extra": mid[2]}


def time_numpy(X, y, K, max_iter, repeats, lse):
    runs = []
    for _ in range(repeats):
        t = {}
        res = numpy_em(
            X, y, K, max_iter=max_iter, tol=0, random_state=0, timings=t, logsumexp_impl=lse
        )
        it = res["n_iter"]
        if it <= 0:
            runs.append(None)
            continue
        split = {k: 1e3 * t[k] / it for k in SPLIT_KEYS}
        runs.append((1e3 * t["total_em"] / it, split, {"init_s": t["init"], "n_iter": it}))
    return _summarise(runs)


def time_skmoe(Est, X, y, K, max_iter, repeats):
    runs = []
    note = None
    for _ in range(repeats):
        est = Est(n_experts=K, max_iter=max_iter, tol=0, random_state=0)
        t0 = time.perf_counter()
        with quiet_fit():
            est.fit(X, y)
        wall = time.perf_counter() - t0
        timings = getattr(est, "_timings_", None)
        it = getattr(est, "n_iter_", None)
        if not timings or "total_em" not in timings or not it:
            note = "skmoe estimator has no _timings_['total_em'] / n_iter_"
            runs.append(None)
            continue
        split = {k: (1e3 * timings[k] / it if k in timings else None) for k in SPLIT_KEYS}
        runs.append(
            (
                1e3 * timings["total_em"] / it,
                split,
                {"init_s": timings.get("init"), "n_iter": int(it), "fit_wall_s": wall},
            )
        )
    return _summarise(runs), note


def _split_cell(summary):
    if summary is None:
        return "n/a"
    s = summary["split"]
    return " / ".join(fmt(s.get(k), ".2f") for k in SPLIT_KEYS)


def _ms_cell(summary):
    if summary is None:
        return "n/a"
    return f"{summary['median']:.2f} ({summary['best']:.2f})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only n = 1e4, 1e5")
    p.add_argument("--repeats", type=int, default=3, help="fits per configuration (default 3)")
    p.add_argument("--max-iter", type=int, default=20, help="EM iterations per fit (default 20)")
    p.add_argument("--sizes", type=float, nargs="*", help="override the list of n")
    p.add_argument("--experts", type=int, nargs="*", default=[4, 8], help="K values (default 4 8)")
    p.add_argument(
        "--numpy-lse",
        choices=["scipy", "numpy"],
        default="scipy",
        help="logsumexp used by the NumPy baseline (default scipy.special.logsumexp)",
    )
    p.add_argument("--skip-numpy", action="store_true")
    p.add_argument("--skip-skmoe", action="store_true")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)

    sizes = args.sizes or ([1e4, 1e5] if args.quick else [1e4, 1e5, 1e6])
    sizes = [int(s) for s in sizes]
    d = N_FEATURES

    Est, err = (None, "skipped (--skip-skmoe)") if args.skip_skmoe else import_skmoe()
    print("# EM time per iteration: NumPy baseline vs skmoe\n")
    for line in environment_lines():
        print(line)
    print(skmoe_location())
    if err:
        print(f"NOTE: {err}")
    print(
        f"d={d}, max_iter={args.max_iter}, tol=0, repeats={args.repeats}; "
        f"baseline logsumexp: {args.numpy_lse}\n",
        flush=True,
    )

    results = []
    skmoe_note = None
    warmed = set()
    for n in sizes:
        for K in args.experts:
            X, y, _ = make_moe_regression(n, d, K, random_state=0)
            row = {"n": n, "K": K, "d": d}
            if not args.skip_numpy:
                row["numpy"] = time_numpy(X, y, K, args.max_iter, args.repeats, args.numpy_lse)
            else:
                row["numpy"] = None
            row["skmoe"] = None
            if Est is not None:
                try:
                    if (n, K) not in warmed:
                        # untimed warm-up: JIT compilation (or cache load) and
                        # any size-dependent kernel choice happen here
                        warmup_fit(Est, X, y, K)
                        warmed.add((n, K))
                    row["skmoe"], note = time_skmoe(Est, X, y, K, args.max_iter, args.repeats)
                    skmoe_note = skmoe_note or note
                except Exception as exc:  # keep the baseline numbers
                    skmoe_note = f"skmoe fit failed: {type(exc).__name__}: {exc}"
            results.append(row)
            np_s, sk_s = row["numpy"], row["skmoe"]
            print(
                f"  done n={n:>8d} K={K}: numpy {_ms_cell(np_s)} ms/iter, "
                f"skmoe {_ms_cell(sk_s)} ms/iter",
                file=sys.stderr,
                flush=True,
            )
            del X, y

    header = [
        "n",
        "K",
        "numpy ms/iter",
        "skmoe ms/iter",
        "speed-up (numpy/skmoe)",
        "skmoe ms per 1e6 n·K·(d+1)",
        "numpy E / Mexp / Mgate ms",
        "skmoe E / Mexp / Mgate ms",
    ]
    rows = []
    for r in results:
        np_s, sk_s = r["numpy"], r["skmoe"]
        units = r["n"] * r["K"] * (r["d"] + 1) / 1e6
        ratio = np_s["median"] / sk_s["median"] if (np_s and sk_s and sk_s["median"] > 0) else None
        rows.append(
            [
                f"{r['n']:.0e}".replace("+0", ""),
                r["K"],
                _ms_cell(np_s),
                _ms_cell(sk_s),
                fmt(ratio, ".2f"),
                fmt(sk_s["median"] / units if sk_s else None, ".2f"),
                _split_cell(np_s),
                _split_cell(sk_s),
            ]
        )
    print(md_table(header, rows))
    print(
        "\nms/iter cells: median over repeats (lower median if even; best in "
        "parentheses); splits are from that median run.\nspeed-up uses medians; 'units' = n*K*(d+1)."
    )
    if skmoe_note:
        print(f"NOTE: {skmoe_note}")
    print("\nThreads (same process for both sides):")
    for line in thread_report():
        print(line)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "args": vars(args),
                    "environment": environment_lines() + [skmoe_location()],
                    "threads": thread_report(),
                    "results": results,
                },
                fh,
                indent=2,
            )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
