"""Gradient solvers: skmoe (Adam, L-BFGS) vs the same model in PyTorch on the CPU.

Both sides fit the dense softmax-gated MoE regressor (K = 8 Gaussian experts,
d = 10, n = 1e5 by default) on standardised data, for two expert kinds:
``linear`` and ``mlp`` (one hidden layer of 32 tanh units per expert). The
PyTorch model, loss and penalties are described in ``torch_moe.py``.

Data: ``_data.make_moe_regression(n, 10, 8, random_state=0)`` (gated linear
regimes). For ``mlp`` experts the target gets a nonlinear term,
``y + SIN_AMP * sin(2 x_0)`` (``--sin-amp``, default 1.5), which a linear
expert cannot follow within a regime.

What is timed (the same quantity on both sides, per thread count):

* Adam (``batch_size=256``, ``lr=1e-2``, betas (0.9, 0.999), eps 1e-8, fixed
  ``--epochs``, no early stopping): seconds per epoch. skmoe:
  ``_timings_['solver'] / n_iter_`` of
  ``MixtureOfExpertsRegressor(solver="adam", max_iter=EPOCHS, tol=0)`` (start
  search and final evaluation excluded). PyTorch: the epoch loops of
  ``torch_moe.fit_adam`` (per epoch: one ``randperm`` from a
  ``torch.Generator`` seeded 0, one gather of ``X[perm]``, ``y[perm]``, then
  contiguous mini-batches; ``torch.optim.Adam`` with default implementation
  flags), divided by the epochs.
* L-BFGS (full batch, history 20, ``--lbfgs-iter`` iterations, tol 0):
  seconds per iteration. skmoe: ``_timings_['solver'] / n_iter_`` of
  ``solver="lbfgs"`` (SciPy's L-BFGS-B inside; evaluations from
  ``_timings_['n_evals']`` where present). PyTorch: ONE
  ``torch.optim.LBFGS(...).step(closure)`` call with ``max_iter=ITERS``,
  ``line_search_fn="strong_wolfe"``, ``tolerance_grad = tolerance_change = 0``,
  ``max_eval = 25 * ITERS``; its time divided by the iterations it actually
  ran (``state['n_iter']``). Function evaluations per iteration are reported
  (``state['func_evals'] / n_iter``; each evaluation is a full forward and
  backward pass).

Each configuration runs ``--repeats`` times (fresh model, same seed); the
table shows the median, the best in parentheses, and the ratio of medians
torch / skmoe (> 1: skmoe faster). Final mean training log-likelihoods are in
the user's units (standardised-units value minus ``log std(y)``) from the
median run. The two sides start differently (skmoe searches for a start;
PyTorch uses its default random initialisation), so their final
log-likelihoods after a few epochs need not agree. skmoe gets one untimed
warm-up fit per configuration (Numba compilation). Threads are set
explicitly on both sides: ``torch.set_num_threads(T)`` and skmoe
``n_jobs=T``. Both run in this one process, one after the other.

    python benchmarks/bench_gradient.py                      # n = 1e5, threads 1 and 2
    python benchmarks/bench_gradient.py --quick              # n = 1e4, 2 epochs, 1 repeat
    python benchmarks/bench_gradient.py --threads 2 --kinds mlp --solvers adam
    python benchmarks/bench_gradient.py --dtype float32      # PyTorch in float32 (skmoe is float64)

Without PyTorch (``pip install torch``) the PyTorch columns are ``n/a`` and a
message says so; if skmoe's ``fit`` raises ``ValueError`` for a solver or
expert kind it does not have yet, its columns are ``n/a`` with the message.
"""

import argparse
import json
import math
import statistics
import sys
import time
import warnings

import numpy as np

import _common  # noqa: F401  (sets sys.path)
from _common import environment_lines, fmt, import_skmoe, md_table, skmoe_location, thread_report
from _data import make_moe_regression

N_FEATURES = 10
N_EXPERTS = 8


def import_torch():
    """Return ``(torch, torch_moe, None)`` or ``(None, None, message)``."""
    try:
        import torch
        import torch_moe
    except Exception as exc:  # ImportError, or a broken installation
        return None, None, (
            f"PyTorch not importable ({type(exc).__name__}: {exc}); "
            "the PyTorch side is skipped (pip install torch)."
        )
    return torch, torch_moe, None


def make_data(n, kind, sin_amp):
    X, y, _ = make_moe_regression(n, N_FEATURES, N_EXPERTS, random_state=0)
    if kind == "mlp":
        y = y + sin_amp * np.sin(2.0 * X[:, 0])
    return X, y


def _summary(runs, key):
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    vals = [r[key] for r in runs]
    med = statistics.median_low(vals)  # an actual run (also for even repeats)
    mid = next(r for r in runs if r[key] == med)
    return {"median": med, "best": min(vals), "all": vals, "run": mid}


# -- PyTorch side -------------------------------------------------------------


def time_torch(torch, tm, X, y, kind, solver, args, dtype):
    """Per-run dicts: ``unit_s`` (s per epoch / iteration), ``ll`` (user units), ..."""
    Xs, ys, log_sy = tm.standardise(X, y)
    Xt, yt = tm.to_tensors(Xs, ys, dtype)
    # untimed warm-up with the timed shapes (first calls pay for lazy
    # initialisation: oneDNN primitives, thread pool start, allocator)
    model = tm.make_model(N_FEATURES, N_EXPERTS, kind, hidden=args.hidden, seed=0, dtype=dtype)
    if solver == "adam":
        m = min(Xt.shape[0], 20 * args.batch_size)
        tm.fit_adam(model, Xt[:m], yt[:m], 1, batch_size=args.batch_size, lr=args.learning_rate)
    else:
        tm.fit_lbfgs(model, Xt, yt, 2, history_size=20)
    runs = []
    for rep in range(args.repeats):
        model = tm.make_model(
            N_FEATURES, N_EXPERTS, kind, hidden=args.hidden, seed=0, dtype=dtype
        )
        if solver == "adam":
            res = tm.fit_adam(
                model,
                Xt,
                yt,
                args.epochs,
                batch_size=args.batch_size,
                lr=args.learning_rate,
                seed=0,
                trace=rep == 0,  # full-data LL after each epoch, outside the timing
            )
            run = {"unit_s": res["time"] / res["epochs"], "iters": res["epochs"]}
            if res["trace_ll"] is not None:
                run["trace"] = [v - log_sy for v in res["trace_ll"]]
        else:
            res = tm.fit_lbfgs(model, Xt, yt, args.lbfgs_iter, history_size=20)
            it = max(res["n_iter"], 1)
            run = {
                "unit_s": res["time"] / it,
                "iters": res["n_iter"],
                "evals_per_iter": res["func_evals"] / it,
                "loss0": res["loss0"],
                "loss": res["loss"],
            }
        run["ll"] = tm.mean_log_likelihood(model, Xt, yt) - log_sy
        runs.append(run)
    return runs


# -- skmoe side ---------------------------------------------------------------


def _skmoe_estimator(Est, kind, solver, max_iter, args, threads):
    return Est(
        n_experts=N_EXPERTS,
        expert=kind,
        expert_hidden=args.hidden,
        solver=solver,
        max_iter=max_iter,
        tol=0.0,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        random_state=0,
        n_jobs=threads,
    )


def _fit_quiet(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est


def time_skmoe(Est, X, y, kind, solver, args, threads):
    """``(runs, note)``; ``runs`` is None when skmoe cannot fit this configuration."""
    max_iter = args.epochs if solver == "adam" else args.lbfgs_iter
    try:
        # untimed warm-up on the same data: Numba compiles (or loads) the kernels
        _fit_quiet(_skmoe_estimator(Est, kind, solver, 1, args, threads), X, y)
    except (ValueError, NotImplementedError) as exc:
        return None, f"skmoe side not available: {type(exc).__name__}: {exc}"
    runs, note = [], None
    for _ in range(args.repeats):
        est = _skmoe_estimator(Est, kind, solver, max_iter, args, threads)
        t0 = time.perf_counter()
        _fit_quiet(est, X, y)
        wall = time.perf_counter() - t0
        timings = getattr(est, "_timings_", None) or {}
        it = getattr(est, "n_iter_", None)
        key = "solver" if "solver" in timings else None
        if key is None and "total_em" in timings:  # older code: EM's loop timer
            key, note = "total_em", "skmoe has no _timings_['solver']; used 'total_em'"
        if key is None or not it:
            return None, "skmoe estimator has no _timings_['solver'] / n_iter_"
        run = {
            "unit_s": timings[key] / it,
            "iters": int(it),
            "ll": float(est.log_likelihood_),
            "fit_wall_s": wall,
        }
        if "n_evals" in timings:
            run["evals_per_iter"] = timings["n_evals"] / it
        runs.append(run)
    return runs, note


# -- table --------------------------------------------------------------------


def _ms_cell(s):
    if s is None:
        return "n/a"
    return f"{1e3 * s['median']:.1f} ({1e3 * s['best']:.1f})"


def _run_cell(s, key, spec):
    if s is None:
        return "n/a"
    return fmt(s["run"].get(key), spec)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=float, default=None, help="rows (default 1e5; --quick 1e4)")
    p.add_argument("--epochs", type=int, default=None, help="Adam epochs (default 5; --quick 2)")
    p.add_argument(
        "--lbfgs-iter", type=int, default=None, help="L-BFGS iterations (default 20; --quick 5)"
    )
    p.add_argument("--repeats", type=int, default=None, help="runs per configuration (default 3; --quick 1)")
    p.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)"
    )
    p.add_argument("--quick", action="store_true", help="small smoke run (n = 1e4)")
    p.add_argument("--kinds", nargs="+", choices=["linear", "mlp"], default=["linear", "mlp"])
    p.add_argument("--solvers", nargs="+", choices=["adam", "lbfgs"], default=["adam", "lbfgs"])
    p.add_argument("--hidden", type=int, default=32, help="hidden units per mlp expert (default 32)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--learning-rate", type=float, default=1e-2)
    p.add_argument(
        "--sin-amp", type=float, default=1.5, help="amplitude of the sin(2 x_0) term (mlp data)"
    )
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="PyTorch dtype (default float64, as skmoe)",
    )
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-skmoe", action="store_true")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    args.n = int(args.n if args.n is not None else (1e4 if args.quick else 1e5))
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 5)
    args.lbfgs_iter = args.lbfgs_iter if args.lbfgs_iter is not None else (5 if args.quick else 20)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)

    torch, tm, torch_err = (
        (None, None, "skipped (--skip-torch)") if args.skip_torch else import_torch()
    )
    Est, skmoe_err = (None, "skipped (--skip-skmoe)") if args.skip_skmoe else import_skmoe()
    dtype = getattr(torch, args.dtype) if torch is not None else None

    print("# Gradient solvers: skmoe vs PyTorch (CPU)\n")
    for line in environment_lines():
        print(line)
    print(skmoe_location())
    if torch is not None:
        print(f"torch {torch.__version__}, dtype {args.dtype}, {torch.__config__.parallel_info().splitlines()[-1].strip()}")
    for msg in (torch_err, skmoe_err):
        if msg:
            print(f"NOTE: {msg}")
    print(
        f"n={args.n}, d={N_FEATURES}, K={N_EXPERTS}, hidden={args.hidden}, "
        f"Adam: {args.epochs} epochs, batch {args.batch_size}, lr {args.learning_rate}; "
        f"L-BFGS: {args.lbfgs_iter} iterations, history 20; repeats={args.repeats}; "
        f"threads={args.threads}; mlp data sin amplitude {args.sin_amp}\n",
        flush=True,
    )

    results, notes = [], []
    for kind in args.kinds:
        X, y = make_data(args.n, kind, args.sin_amp)
        print(
            f"data ({kind}): std(y) = {y.std():.3f}; a unit-variance Gaussian on standardised y "
            f"has mean LL {-0.5 * (math.log(2 * math.pi) + 1) - math.log(y.std()):.4f} "
            "in these units",
            flush=True,
        )
        for T in args.threads:
            if torch is not None:
                torch.set_num_threads(T)
            for solver in args.solvers:
                row = {"kind": kind, "solver": solver, "threads": T, "torch": None, "skmoe": None}
                if Est is not None:
                    try:
                        runs, note = time_skmoe(Est, X, y, kind, solver, args, T)
                    except Exception as exc:  # keep the PyTorch numbers
                        runs, note = None, f"skmoe fit failed: {type(exc).__name__}: {exc}"
                    if note:
                        msg = f"[{kind}/{solver}/T={T}] {note}"
                        print(msg, flush=True)
                        notes.append(msg)
                    row["skmoe"] = _summary(runs, "unit_s") if runs else None
                if torch is not None:
                    runs = time_torch(torch, tm, X, y, kind, solver, args, dtype)
                    row["torch"] = _summary(runs, "unit_s")
                    first = runs[0]
                    if "trace" in first:
                        curve = ", ".join(f"{v:.4f}" for v in first["trace"])
                        print(f"  torch {kind}/adam T={T}: full-data LL start, per epoch: {curve}")
                    else:
                        print(
                            f"  torch {kind}/lbfgs T={T}: loss {first['loss0']:.4f} -> "
                            f"{first['loss']:.4f} in {first['iters']} iterations"
                        )
                results.append(row)
                tt, ss = row["torch"], row["skmoe"]
                print(
                    f"  done {kind}/{solver} T={T}: torch {_ms_cell(tt)} ms, skmoe {_ms_cell(ss)} ms "
                    f"per {'epoch' if solver == 'adam' else 'iteration'}",
                    file=sys.stderr,
                    flush=True,
                )
        del X, y

    header = [
        "experts",
        "solver",
        "threads",
        "unit",
        "torch ms",
        "skmoe ms",
        "torch / skmoe",
        "torch evals/iter",
        "skmoe evals/iter",
        "torch iters",
        "skmoe iters",
        "torch final LL",
        "skmoe final LL",
    ]
    rows = []
    for r in results:
        tt, ss = r["torch"], r["skmoe"]
        ratio = tt["median"] / ss["median"] if (tt and ss and ss["median"] > 0) else None
        rows.append(
            [
                r["kind"],
                r["solver"],
                r["threads"],
                "epoch" if r["solver"] == "adam" else "iteration",
                _ms_cell(tt),
                _ms_cell(ss),
                fmt(ratio, ".2f"),
                _run_cell(tt, "evals_per_iter", ".2f") if r["solver"] == "lbfgs" else "-",
                _run_cell(ss, "evals_per_iter", ".2f") if r["solver"] == "lbfgs" else "-",
                _run_cell(tt, "iters", "d"),
                _run_cell(ss, "iters", "d"),
                _run_cell(tt, "ll", ".4f"),
                _run_cell(ss, "ll", ".4f"),
            ]
        )
    print()
    print(md_table(header, rows))
    print(
        "\nms cells: median over repeats (best in parentheses) of the time per Adam epoch or "
        "L-BFGS iteration;\nratio of medians; final LL = mean training log-likelihood in the "
        "user's units, from the median run."
    )
    for msg in notes:
        print(f"NOTE: {msg}")
    print("\nThreads (this process; torch.set_num_threads / skmoe n_jobs as in the table):")
    if torch is not None:
        print(f"  torch.get_num_threads()={torch.get_num_threads()} (last setting)")
    for line in thread_report():
        print(line)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "args": vars(args),
                    "environment": environment_lines() + [skmoe_location()],
                    "torch": None if torch is None else torch.__version__,
                    "results": results,
                    "notes": notes,
                },
                fh,
                indent=2,
            )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
