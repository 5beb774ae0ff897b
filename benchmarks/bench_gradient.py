"""Gradient solvers: skmoe (Adam, L-BFGS) vs the same model in PyTorch on the CPU.

Both sides fit the dense softmax-gated MoE regressor (K = 8 Gaussian experts,
d = 10, n = 1e5 by default) on standardised data, for two expert kinds:
``linear`` and ``mlp`` (one hidden layer of 32 tanh units per expert). The
PyTorch model, loss and penalties are described in ``torch_moe.py``.

Data: ``skmoe._synthetic.make_moe_regression(n, 10, 8, random_state=0)`` (gated linear
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
log-likelihoods after a few epochs or iterations need not agree. Both sides
get one untimed warm-up per configuration (skmoe: a 1-epoch / 1-iteration
fit, for Numba compilation; PyTorch: 20 mini-batch steps or 2 L-BFGS
iterations, for lazy initialisation). Threads are set explicitly on both
sides: ``torch.set_num_threads(T)`` and skmoe ``n_jobs=T``. Both run in this
one process; their repeats alternate (skmoe, torch, skmoe, ...) so that both
see the same machine conditions. The first PyTorch repeat also prints its
full-data log-likelihood after each Adam epoch (computed outside the timed
region) or its penalised loss before and after L-BFGS, as a check that the
loss goes down.

The last column, "other load", is the CPU time other processes used while
the repeats ran, in cores (from ``/proc/stat``). On this 2-core machine the
2-thread timings (PyTorch's above all: its OpenMP threads wait at barriers
for a descheduled partner) are unreliable when it is well above 0; rerun
then.

    python benchmarks/bench_gradient.py                      # n = 1e5, threads 1 and 2
    python benchmarks/bench_gradient.py --quick              # n = 1e4, 2 epochs, 1 repeat
    python benchmarks/bench_gradient.py --threads 2 --kinds mlp --solvers adam
    python benchmarks/bench_gradient.py --dtype float32      # PyTorch in float32 (skmoe is float64)
    python benchmarks/bench_gradient.py --fused-adam         # torch.optim.Adam(fused=True)
    python benchmarks/bench_gradient.py --json grad.json

Without PyTorch (``pip install torch``) the PyTorch columns are ``n/a`` and a
message says so; if skmoe's ``fit`` raises ``ValueError`` (or
``NotImplementedError``) for a solver or expert kind it does not have yet,
its columns are ``n/a`` and "skmoe side not available: <message>" is printed.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings

import _common  # noqa: F401  (sets sys.path)
import numpy as np
from _common import environment_lines, fmt, import_skmoe, md_table, skmoe_location, thread_report

from skmoe._synthetic import make_moe_regression

N_FEATURES = 10
N_EXPERTS = 8


def import_torch():
    """Return ``(torch, torch_moe, None)`` or ``(None, None, message)``."""
    try:
        import torch
        import torch_moe
    except Exception as exc:  # ImportError, or a broken installation
        return (
            None,
            None,
            (
                f"PyTorch not importable ({type(exc).__name__}: {exc}); "
                "the PyTorch side is skipped (pip install torch)."
            ),
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


class TorchSide:
    """The PyTorch fits of one configuration (data converted once)."""

    def __init__(self, torch, tm, X, y, kind, solver, args, dtype):
        self.tm, self.kind, self.solver, self.args, self.dtype = tm, kind, solver, args, dtype
        Xs, ys, self.log_sy = tm.standardise(X, y)
        self.X, self.y = tm.to_tensors(Xs, ys, dtype)

    def _model(self):
        return self.tm.make_model(
            N_FEATURES, N_EXPERTS, self.kind, hidden=self.args.hidden, seed=0, dtype=self.dtype
        )

    def warmup(self):
        """Untimed, with the timed shapes: first calls pay for lazy initialisation."""
        a, tm = self.args, self.tm
        if self.solver == "adam":
            m = min(self.X.shape[0], 20 * a.batch_size)
            tm.fit_adam(
                self._model(),
                self.X[:m],
                self.y[:m],
                1,
                batch_size=a.batch_size,
                lr=a.learning_rate,
                fused=a.fused_adam,
            )
        else:
            tm.fit_lbfgs(self._model(), self.X, self.y, 2, history_size=20)

    def run(self, trace=False):
        """One timed fit: ``unit_s`` (s per epoch / iteration), ``ll`` (user units), ..."""
        a, tm = self.args, self.tm
        model = self._model()
        if self.solver == "adam":
            res = tm.fit_adam(
                model,
                self.X,
                self.y,
                a.epochs,
                batch_size=a.batch_size,
                lr=a.learning_rate,
                seed=0,
                trace=trace,
                fused=a.fused_adam,
            )
            run = {"unit_s": res["time"] / res["epochs"], "iters": res["epochs"]}
            if res["trace_ll"] is not None:
                run["trace"] = [v - self.log_sy for v in res["trace_ll"]]
        else:
            res = tm.fit_lbfgs(model, self.X, self.y, a.lbfgs_iter, history_size=20)
            it = max(res["n_iter"], 1)
            run = {
                "unit_s": res["time"] / it,
                "iters": res["n_iter"],
                "evals_per_iter": res["func_evals"] / it,
                "loss0": res["loss0"],
                "loss": res["loss"],
            }
        run["ll"] = tm.mean_log_likelihood(model, self.X, self.y) - self.log_sy
        return run


# -- skmoe side ---------------------------------------------------------------


def _fit_quiet(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return est


class SkmoeSide:
    """The skmoe fits of one configuration."""

    def __init__(self, Est, X, y, kind, solver, args, threads):
        self.Est, self.X, self.y = Est, X, y
        self.kind, self.solver, self.args, self.threads = kind, solver, args, threads
        self.note = None

    def _estimator(self, max_iter):
        a = self.args
        return self.Est(
            n_experts=N_EXPERTS,
            expert=self.kind,
            expert_hidden=a.hidden,
            solver=self.solver,
            max_iter=max_iter,
            tol=0.0,
            batch_size=a.batch_size,
            learning_rate=a.learning_rate,
            random_state=0,
            n_jobs=self.threads,
        )

    def warmup(self):
        """Untimed 1-epoch / 1-iteration fit on the same data (Numba compilation).

        Returns a message if skmoe cannot fit this configuration, else None.
        """
        try:
            _fit_quiet(self._estimator(1), self.X, self.y)
        except (ValueError, NotImplementedError) as exc:
            return f"skmoe side not available: {type(exc).__name__}: {exc}"
        return None

    def run(self):
        """One timed fit, or None (with ``self.note``) if the timings are missing."""
        max_iter = self.args.epochs if self.solver == "adam" else self.args.lbfgs_iter
        est = self._estimator(max_iter)
        t0 = time.perf_counter()
        _fit_quiet(est, self.X, self.y)
        wall = time.perf_counter() - t0
        timings = getattr(est, "_timings_", None) or {}
        it = getattr(est, "n_iter_", None)
        if "solver" not in timings or not it:
            self.note = "skmoe estimator has no _timings_['solver'] / n_iter_"
            return None
        run = {
            "unit_s": timings["solver"] / it,
            "iters": int(it),
            "ll": float(est.log_likelihood_),
            "fit_wall_s": wall,
        }
        if "n_evals" in timings:
            run["evals_per_iter"] = timings["n_evals"] / it
        return run


# -- machine load ---------------------------------------------------------------


class OtherLoad:
    """CPU time used by other processes while a block runs (Linux /proc/stat).

    ``cores`` = (busy CPU seconds of the whole machine - this process's CPU
    seconds) / wall seconds; about 0 on an idle machine, 1 if another process
    kept one core busy. None where /proc/stat is unavailable.
    """

    def __enter__(self):
        self._busy0, self._self0, self._t0 = _busy_seconds(), _self_seconds(), time.perf_counter()
        self.cores = None
        return self

    def __exit__(self, *exc):
        busy1, self1, t1 = _busy_seconds(), _self_seconds(), time.perf_counter()
        if self._busy0 is not None and busy1 is not None and t1 > self._t0:
            other = (busy1 - self._busy0) - (self1 - self._self0)
            self.cores = max(other, 0.0) / (t1 - self._t0)
        return False


def _busy_seconds():
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: busy = all but idle, iowait
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _self_seconds():
    return time.process_time()  # user + system CPU of all this process's threads


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
    p.add_argument(
        "--repeats", type=int, default=None, help="runs per configuration (default 3; --quick 1)"
    )
    p.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)"
    )
    p.add_argument("--quick", action="store_true", help="small smoke run (n = 1e4)")
    p.add_argument("--kinds", nargs="+", choices=["linear", "mlp"], default=["linear", "mlp"])
    p.add_argument("--solvers", nargs="+", choices=["adam", "lbfgs"], default=["adam", "lbfgs"])
    p.add_argument(
        "--hidden", type=int, default=32, help="hidden units per mlp expert (default 32)"
    )
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
    p.add_argument(
        "--fused-adam",
        action="store_true",
        help="torch.optim.Adam(fused=True) (default: PyTorch's default implementation)",
    )
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-skmoe", action="store_true")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    args.n = int(args.n if args.n is not None else (1e4 if args.quick else 1e5))
    args.epochs = args.epochs if args.epochs is not None else (2 if args.quick else 5)
    args.lbfgs_iter = args.lbfgs_iter if args.lbfgs_iter is not None else (5 if args.quick else 20)
    args.repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    args.fused_adam = True if args.fused_adam else None

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
        backend = torch.__config__.parallel_info().splitlines()[-1].strip()
        print(
            f"torch {torch.__version__}, dtype {args.dtype}, Adam fused={args.fused_adam}, {backend}"
        )
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
                tag = f"{kind}/{solver}/T={T}"
                row = {"kind": kind, "solver": solver, "threads": T, "torch": None, "skmoe": None}
                sk = th = None
                if Est is not None:
                    sk = SkmoeSide(Est, X, y, kind, solver, args, T)
                    try:
                        note = sk.warmup()
                    except Exception as exc:  # keep the PyTorch numbers
                        note = f"skmoe fit failed: {type(exc).__name__}: {exc}"
                    if note:
                        notes.append(f"[{tag}] {note}")
                        print(notes[-1], flush=True)
                        sk = None
                if torch is not None:
                    th = TorchSide(torch, tm, X, y, kind, solver, args, dtype)
                    th.warmup()
                sk_runs, th_runs = [], []
                with OtherLoad() as load:
                    # the two sides alternate, so both see the same machine conditions
                    for rep in range(args.repeats):
                        if sk is not None:
                            try:
                                run = sk.run()
                            except Exception as exc:
                                run, sk.note = (
                                    None,
                                    f"skmoe fit failed: {type(exc).__name__}: {exc}",
                                )
                            if run is None:
                                notes.append(f"[{tag}] {sk.note}")
                                print(notes[-1], flush=True)
                                sk = None
                            else:
                                sk_runs.append(run)
                        if th is not None:
                            th_runs.append(th.run(trace=rep == 0))
                row["skmoe"] = _summary(sk_runs, "unit_s")
                row["torch"] = _summary(th_runs, "unit_s")
                row["other_load_cores"] = load.cores
                if th_runs:
                    first = th_runs[0]
                    if "trace" in first:
                        curve = ", ".join(f"{v:.4f}" for v in first["trace"])
                        print(f"  torch {tag}: full-data LL at start and after each epoch: {curve}")
                    else:
                        print(
                            f"  torch {tag}: penalised loss {first['loss0']:.4f} -> "
                            f"{first['loss']:.4f} in {first['iters']} iterations"
                        )
                results.append(row)
                tt, ss = row["torch"], row["skmoe"]
                print(
                    f"  done {tag}: torch {_ms_cell(tt)} ms, skmoe {_ms_cell(ss)} ms "
                    f"per {'epoch' if solver == 'adam' else 'iteration'}; other processes "
                    f"used {fmt(load.cores, '.2f')} cores",
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
        "other load (cores)",
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
                fmt(r.get("other_load_cores"), ".2f"),
            ]
        )
    print()
    print(md_table(header, rows))
    print(
        "\nms cells: median over repeats (best in parentheses) of the time per Adam epoch or "
        "L-BFGS iteration;\nratio of medians; final LL = mean training log-likelihood in the "
        "user's units, from the median run;\nother load = CPU used by other processes during "
        "the timed repeats (cores; from /proc/stat), ~0 on an idle machine."
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
