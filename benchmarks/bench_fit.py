"""Whole ``fit`` at default settings: time, held-out fit quality, peak memory.

Part 1 (large): ``MixtureOfExpertsRegressor(n_experts=8, random_state=0)``
fitted on 1e6 x 10 rows of ``skmoe._synthetic.make_moe_regression`` (K = 8). Reports

* wall time of ``fit`` (after an untimed 2-iteration warm-up fit on the same
  data, so Numba compilation / cache loading is not counted; see
  bench_startup.py for that),
* the held-out mean log-likelihood on 2e5 rows drawn from the same model
  (different seed) against the generating model's own, and the gap in nats
  per sample (true - fitted; 0 is perfect, small negative values are noise),
* peak memory of the fit, measured in a fresh subprocess: the tracemalloc
  peak of allocations made during ``fit`` (NumPy and Numba's NRT both report
  their array buffers to tracemalloc) and the growth of the peak RSS (VmHWM,
  reset just before ``fit`` through /proc/self/clear_refs; falls back to
  ``ru_maxrss``), each also as a multiple of ``X.nbytes``,
* the same time and gap for the NumPy/SciPy EM baseline (``numpy_em``).

Part 2 (8 regimes): n = 2e4, d = 10, K = 8 for several seeds; held-out gap
per sample for skmoe defaults (and the baseline, for context).

    python benchmarks/bench_fit.py                 # everything (several minutes)
    python benchmarks/bench_fit.py --skip-large    # only the 8-regime check
    python benchmarks/bench_fit.py --n 2e5         # smaller large case
"""

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import time

import _common  # noqa: F401  (sets sys.path)
import numpy as np
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

from skmoe._synthetic import make_moe_regression, true_log_likelihood

D = 10
MEM_TAG = "MEMORY_JSON "


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _proc_status_kb(field):
    try:
        with open("/proc/self/status") as fh:
            m = re.search(rf"^{field}:\s+(\d+)\s+kB", fh.read(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0). True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _numpy_settings(est, args):
    """max_iter / tol for the baseline: mirror skmoe's defaults if known."""
    params = est.get_params() if est is not None and hasattr(est, "get_params") else {}
    max_iter = args.numpy_max_iter or params.get("max_iter") or 200
    tol = args.numpy_tol if args.numpy_tol is not None else params.get("tol", 1e-6)
    if tol is None:
        tol = 1e-6
    return int(max_iter), float(tol)


def _default_fit(Est, X, y, K):
    est = Est(n_experts=K, random_state=0)
    with quiet_fit():
        est.fit(X, y)
    return est


# --------------------------------------------------------------------------
# memory child
# --------------------------------------------------------------------------
def memory_child(args):
    import resource
    import tracemalloc

    n, K = int(args.n), args.K
    X, y, _ = make_moe_regression(n, D, K, random_state=0)
    Est, err = import_skmoe()
    if Est is None:
        print(MEM_TAG + json.dumps({"error": err}))
        return 0
    # warm-up (2 iterations on the same data): JIT compilation / cache
    # loading is not the fit's working memory (bench_startup is about that)
    warmup_fit(Est, X, y, K)
    gc.collect()
    rss_before_kb = _proc_status_kb("VmRSS")
    hwm_reset = _reset_peak_rss()
    maxrss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    est = Est(n_experts=K, random_state=0)
    with quiet_fit():
        est.fit(X, y)
    wall = time.perf_counter() - t0
    _, tm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm_after_kb = _proc_status_kb("VmHWM")
    maxrss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if hwm_reset and hwm_after_kb is not None and rss_before_kb is not None:
        rss_delta = (hwm_after_kb - rss_before_kb) * 1024
        rss_method = "VmHWM after fit - VmRSS before fit (peak reset via clear_refs)"
    else:
        rss_delta = (maxrss_after_kb - maxrss_before_kb) * 1024
        rss_method = "ru_maxrss delta (lower bound if the pre-fit peak was higher)"
    out = {
        "n": n,
        "K": K,
        "x_nbytes": X.nbytes,
        "tracemalloc_peak": tm_peak,
        "rss_peak_delta": rss_delta,
        "rss_method": rss_method,
        "wall_s_under_tracemalloc": wall,
        "n_iter": getattr(est, "n_iter_", None),
    }
    print(MEM_TAG + json.dumps(out))
    return 0


def run_memory_child(args):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        "--n",
        str(int(args.n)),
        "--K",
        str(args.K),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MEM_TAG):
            return json.loads(line[len(MEM_TAG):])
    return {"error": f"memory subprocess failed (rc={proc.returncode}): {proc.stderr[-2000:]}"}


# --------------------------------------------------------------------------
# part 1
# --------------------------------------------------------------------------
def large_case(args, Est, report):
    n, K, n_test = int(args.n), args.K, int(args.n_test)
    print(f"\n## Part 1: whole fit, n={n:.0e}, d={D}, K={K}, defaults; held-out n={n_test:.0e}\n", flush=True)
    X, y, params = make_moe_regression(n, D, K, random_state=0)
    Xt, yt, _ = make_moe_regression(n_test, params=params, random_state=1)
    true_ll = float(true_log_likelihood(Xt, yt, params).mean())
    rows = []
    res = {"n": n, "K": K, "n_test": n_test, "true_ll": true_ll, "x_nbytes": X.nbytes}

    est = None
    if Est is not None:
        try:
            warmup_fit(Est, X, y, K)  # untimed: JIT compilation / cache loading
            est = Est(n_experts=K, random_state=0)
            t0 = time.perf_counter()
            with quiet_fit():
                est.fit(X, y)
            wall = time.perf_counter() - t0
            ll = float(np.mean(est.log_likelihood(Xt, yt)))
            res["skmoe"] = {"wall_s": wall, "n_iter": getattr(est, "n_iter_", None), "ll": ll}
        except Exception as exc:
            res["skmoe"] = {"error": f"{type(exc).__name__}: {exc}"}
            est = None
    mem = None
    if Est is not None and not args.skip_memory:
        print("measuring memory in a subprocess ...", file=sys.stderr, flush=True)
        mem = run_memory_child(args)
        res["skmoe_memory"] = mem

    if not args.skip_numpy:
        max_iter, tol = _numpy_settings(est, args)
        timings = {}
        t0 = time.perf_counter()
        fit = numpy_em(X, y, K, max_iter=max_iter, tol=tol, random_state=0, timings=timings)
        wall = time.perf_counter() - t0
        ll = float(true_log_likelihood(Xt, yt, fit).mean())
        res["numpy"] = {
            "wall_s": wall,
            "n_iter": fit["n_iter"],
            "converged": fit["converged"],
            "ll": ll,
            "max_iter": max_iter,
            "tol": tol,
            "timings": timings,
        }

    def mem_cells(m):
        if not m or "error" in m:
            return ["n/a", "n/a"]
        xb = m["x_nbytes"]
        return [
            f"{m['tracemalloc_peak'] / 2**20:.0f} MiB ({m['tracemalloc_peak'] / xb:.2f}x)",
            f"{m['rss_peak_delta'] / 2**20:.0f} MiB ({m['rss_peak_delta'] / xb:.2f}x)",
        ]

    for name in ("skmoe", "numpy"):
        r = res.get(name)
        if r is None:
            rows.append([name, "n/a", "n/a", "n/a", "n/a"] + (mem_cells(None) if name == "skmoe" else ["-", "-"]))
            continue
        if "error" in r:
            rows.append([name, "error", "", "", ""] + ["-", "-"])
            continue
        gap = true_ll - r["ll"]
        rows.append(
            [
                name,
                f"{r['wall_s']:.1f}",
                r.get("n_iter", "n/a"),
                f"{r['ll']:.4f}",
                f"{gap:.4f}",
            ]
            + (mem_cells(mem) if name == "skmoe" else ["-", "-"])
        )
    print(
        md_table(
            [
                "method",
                "fit wall s",
                "iterations",
                "held-out mean loglik",
                "gap nats/sample",
                "peak mem, tracemalloc (x X.nbytes)",
                "peak RSS growth (x X.nbytes)",
            ],
            rows,
        )
    )
    print(f"\ngenerating model held-out mean loglik: {true_ll:.4f};  X.nbytes = {X.nbytes / 2**20:.0f} MiB")
    if "skmoe" in res and "error" in res["skmoe"]:
        print(f"NOTE: skmoe fit failed: {res['skmoe']['error']}")
    if mem and "error" in mem:
        print(f"NOTE: memory measurement: {mem['error']}")
    elif mem:
        print(
            "memory: measured in a fresh subprocess after a 2-iteration warm-up fit on "
            "the same data; tracemalloc = peak of allocations made during fit "
            f"(NumPy + Numba NRT buffers); RSS = {mem['rss_method']}."
        )
    if "numpy" in res:
        r = res["numpy"]
        print(
            f"numpy baseline: max_iter={r['max_iter']}, tol={r['tol']:g} on the penalised mean "
            f"objective (from --numpy-max-iter/--numpy-tol, else skmoe's get_params(), else 200/1e-6; "
            f"tol semantics may differ from skmoe's), converged={r['converged']}, "
            f"init {r['timings']['init']:.1f}s + EM {r['timings']['total_em']:.1f}s"
        )
    report["large"] = res


# --------------------------------------------------------------------------
# part 2
# --------------------------------------------------------------------------
def regimes_case(args, Est, report):
    n, K, n_test = int(args.regime_n), 8, int(args.regime_n_test)
    print(f"\n## Part 2: {K}-regime check, n={n:.0e}, d={D}, K={K}, held-out n={n_test:.0e}\n", flush=True)
    rows, out = [], []
    for seed in range(args.seeds):
        X, y, params = make_moe_regression(n, D, K, random_state=seed)
        if seed == 0 and Est is not None:
            try:
                warmup_fit(Est, X, y, K)  # so that seed 0's time excludes compilation
            except Exception:
                pass  # reported by the fit below
        Xt, yt, _ = make_moe_regression(n_test, params=params, random_state=10_000 + seed)
        true_ll = float(true_log_likelihood(Xt, yt, params).mean())
        logits = X @ params["gate_coef"].T + params["gate_intercept"]
        smallest = np.bincount(logits.argmax(axis=1), minlength=K).min() / n
        r = {"seed": seed, "true_ll": true_ll, "smallest_regime_share": float(smallest)}
        sk_gap = sk_iter = sk_time = None
        if Est is not None:
            try:
                t0 = time.perf_counter()
                est = _default_fit(Est, X, y, K)
                sk_time = time.perf_counter() - t0
                sk_gap = true_ll - float(np.mean(est.log_likelihood(Xt, yt)))
                sk_iter = getattr(est, "n_iter_", None)
            except Exception as exc:
                r["skmoe_error"] = f"{type(exc).__name__}: {exc}"
        np_gap = None
        if not args.skip_numpy:
            max_iter, tol = _numpy_settings(est if Est is not None and sk_gap is not None else None, args)
            fit = numpy_em(X, y, K, max_iter=max_iter, tol=tol, random_state=0)
            np_gap = true_ll - float(true_log_likelihood(Xt, yt, fit).mean())
        r.update({"skmoe_gap": sk_gap, "skmoe_n_iter": sk_iter, "skmoe_fit_s": sk_time, "numpy_gap": np_gap})
        out.append(r)
        rows.append(
            [
                seed,
                f"{smallest:.3f}",
                f"{true_ll:.4f}",
                fmt(sk_gap, ".4f"),
                fmt(sk_iter, "d") if isinstance(sk_iter, (int, np.integer)) else fmt(sk_iter, ""),
                fmt(sk_time, ".2f"),
                fmt(np_gap, ".4f"),
            ]
        )
    print(
        md_table(
            [
                "seed",
                "smallest regime share",
                "true held-out loglik",
                "skmoe gap nats/sample",
                "skmoe n_iter_",
                "skmoe fit s",
                "numpy gap nats/sample",
            ],
            rows,
        )
    )
    sk = [r["skmoe_gap"] for r in out if r["skmoe_gap"] is not None]
    if sk:
        print(f"\nskmoe gap: median {np.median(sk):.4f}, max {np.max(sk):.4f} nats/sample")
    errs = [r["skmoe_error"] for r in out if "skmoe_error" in r]
    if errs:
        print(f"NOTE: skmoe fit failed: {errs[0]}")
    report["regimes"] = out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=float, default=1e6, help="training rows of the large case (default 1e6)")
    p.add_argument("--n-test", type=float, default=2e5, help="held-out rows (default 2e5)")
    p.add_argument("--K", type=int, default=8, help="experts, large case (default 8)")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the 8-regime check (default 5)")
    p.add_argument("--regime-n", type=float, default=2e4, help="rows of the 8-regime check (default 2e4)")
    p.add_argument("--regime-n-test", type=float, default=1e5, help="held-out rows, 8-regime check")
    p.add_argument("--numpy-max-iter", type=int, help="baseline max_iter (default: skmoe's, else 200)")
    p.add_argument("--numpy-tol", type=float, help="baseline tol (default: skmoe's, else 1e-6)")
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--skip-regimes", action="store_true")
    p.add_argument("--skip-numpy", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_child:
        return memory_child(args)

    Est, err = import_skmoe()
    print("# Whole fit at default settings\n")
    for line in environment_lines():
        print(line)
    print(skmoe_location())
    if err:
        print(f"NOTE: {err}")
    report = {"environment": environment_lines() + [skmoe_location()]}
    if not args.skip_large:
        large_case(args, Est, report)
    if not args.skip_regimes:
        regimes_case(args, Est, report)
    print("\nThreads:")
    for line in thread_report():
        print(line)
    report["threads"] = thread_report()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2, default=float)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
