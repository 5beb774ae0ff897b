"""Distributed EM on a 2-worker Dask LocalCluster versus in-memory EM.

The regressor (d = 10, K = 8, ``skmoe._synthetic.make_moe_regression``'s model) is
fitted on ``--rows`` rows (default 1e7) that are generated block by block on
the workers (``--block-rows`` rows per block; never materialised in one
process), with ``max_iter=10, tol=0``. Timed: the main EM loop,
``_timings_['total_em'] / n_iter_`` (as ``bench_em.py``), the set-up before
it (validation, scaling, persisting the design, the start search on the
client, the samples) and the peak resident memory of each worker process
(``ru_maxrss``, workers restarted before each repeat). For comparison the
same per-iteration quantity of the in-memory fit on ``--mem-rows`` rows
(default 1e6) in the client process, with 2 and with 1 Numba thread.

    python benchmarks/bench_dask.py                 # 1e7 rows, 3 repeats (~10 min)
    python benchmarks/bench_dask.py --quick         # 1e6 distributed, 1e5 in memory
    python benchmarks/bench_dask.py --rows 2e6 --mem-rows 2e5 --repeats 1
    python benchmarks/bench_dask.py --payload [--repo PATH]   # bytes per E-step task

``--payload`` fits 40,000 rows in 4 blocks on an in-process ``distributed``
cluster and measures, for the graph submitted by the first E-step of the
main run, the pickled size of each block task (``cloudpickle`` of its task
spec; the persisted blocks are futures, not data) and of the other literals
the submission carries once (the expert family and the parameters, when
they are shared keys). ``--repo`` measures another checkout (e.g. the
commit before a change) with this same script.
"""

import argparse
import os
import statistics
import sys
import time

import _common  # noqa: F401  (sets sys.path)
from _common import BENCH_DIR, REPO_ROOT, environment_lines, quiet_fit, skmoe_location

N_FEATURES = 10
N_EXPERTS = 8


def _block(index, rows, params):
    """One generated block ``(X, y)`` (runs on a worker)."""
    from skmoe._synthetic import make_moe_regression

    X, y, _ = make_moe_regression(rows, N_FEATURES, N_EXPERTS, random_state=1000 + index,
                                  params=params)
    return X, y


def _dask_data(n_rows, block_rows, params):
    import dask
    import dask.array as da
    import numpy as np

    xs, ys = [], []
    for i, start in enumerate(range(0, n_rows, block_rows)):
        rows = min(block_rows, n_rows - start)
        part = dask.delayed(_block, pure=True)(i, rows, params)
        xs.append(da.from_delayed(part[0], shape=(rows, N_FEATURES), dtype=np.float64))
        ys.append(da.from_delayed(part[1], shape=(rows,), dtype=np.float64))
    return da.concatenate(xs), da.concatenate(ys)


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _per_iter_ms(est):
    return 1e3 * est._timings_["total_em"] / est.n_iter_


def _cpu_seconds():
    """User + system CPU time of this process (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


#: CPU seconds of the last main EM run: ``{"client": ..., "workers": ...}``.
LAST_CPU = {}


def _record_cpu_of_main_run(n_rows):
    """Wrap ``run_em`` (benchmark only) to record the CPU time of the main run.

    On a shared machine wall time measures the other users' load as much as
    the code; CPU time (this process, plus every worker process) is the
    cost. The main run is the one on all ``n_rows`` rows (the start search
    runs on samples).
    """
    import skmoe._solvers._em as em

    inner = em.run_em

    def run_em(design, *args, **kwargs):
        if design.n_samples < 0.9 * n_rows:
            return inner(design, *args, **kwargs)
        client = _client()
        workers0 = sum(client.run(_cpu_seconds).values()) if client else 0.0
        client0 = _cpu_seconds()
        result = inner(design, *args, **kwargs)
        LAST_CPU["client"] = _cpu_seconds() - client0
        workers1 = sum(client.run(_cpu_seconds).values()) if client else 0.0
        LAST_CPU["workers"] = workers1 - workers0
        return result

    em.run_em = run_em
    return inner


def _client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _fit(Est, X, y, n_jobs=None):
    est = Est(n_experts=N_EXPERTS, max_iter=10, tol=0.0, random_state=0, n_jobs=n_jobs)
    t0 = time.perf_counter()
    with quiet_fit():
        est.fit(X, y)
    return est, time.perf_counter() - t0


def _payload():
    """Pickled bytes of the first main-run E-step's block tasks and shared literals."""
    import cloudpickle
    import dask
    import dask.array
    import distributed
    import numpy as np

    from skmoe import MixtureOfExpertsRegressor as Est

    try:
        from skmoe._synthetic import make_moe_regression
    except ImportError:  # a checkout from before the shared data module (--repo)
        from _data import make_moe_regression

    X, y, _ = make_moe_regression(40_000, N_FEATURES, N_EXPERTS, random_state=1)
    found = {}
    real_persist = dask.persist

    def spy(*collections, **kwargs):
        dsk = {}
        for collection in collections:
            dsk.update(dict(collection.__dask_graph__()))
        tasks = [k for k in dsk if "_estep_block" in str(k)]
        if tasks and "tasks" not in found and len(tasks) == 4:
            sizes = {k: len(cloudpickle.dumps(v)) for k, v in dsk.items()}
            found["tasks"] = [sizes[k] for k in tasks]
            other = [k for k in dsk if k not in tasks and "_add" not in str(k)
                     and "add-" not in str(k) and not isinstance(dsk[k], distributed.Future)]
            found["shared"] = sum(sizes[k] for k in other)
            found["total"] = sum(sizes.values())
        return real_persist(*collections, **kwargs)

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        dX = dask.array.from_array(X, chunks=(10_000, N_FEATURES))
        dy = dask.array.from_array(y, chunks=10_000)
        dask.persist = spy
        try:
            with quiet_fit():
                Est(n_experts=N_EXPERTS, max_iter=2, tol=0.0, random_state=0).fit(dX, dy)
        finally:
            dask.persist = real_persist
    print(skmoe_location())
    print(f"E-step block task bytes (4 blocks): median {np.median(found['tasks']):.0f}, "
          f"max {max(found['tasks'])}; shared literals once per E-step: {found['shared']} bytes; "
          f"whole submission: {found['total']} bytes")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--block-rows", type=float, default=5e5)
    parser.add_argument("--mem-rows", type=float, default=1e6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--payload", action="store_true")
    parser.add_argument("--repo", default=None, help="measure the skmoe of this checkout")
    args = parser.parse_args(argv)
    if args.repo:
        sys.path.insert(0, os.path.abspath(args.repo))
    if args.payload:
        return _payload()
    if args.quick:
        args.rows, args.mem_rows, args.block_rows = 1e6, 1e5, 1e5
    n_rows, block_rows, mem_rows = int(args.rows), int(args.block_rows), int(args.mem_rows)

    # worker processes import skmoe (and skmoe._synthetic, the data) from this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT, BENCH_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                  if p]
    )
    import dask
    import distributed
    import numpy as np

    from skmoe import MixtureOfExpertsRegressor as Est
    from skmoe._synthetic import make_moe_regression

    print("\n".join(environment_lines()))
    print(f"dask {dask.__version__}, distributed {distributed.__version__}; {skmoe_location()}")
    _, _, params = make_moe_regression(10, N_FEATURES, N_EXPERTS, random_state=0)

    # -- in memory ----------------------------------------------------------
    Xm, ym, _ = make_moe_regression(mem_rows, N_FEATURES, N_EXPERTS, random_state=1,
                                    params=params)
    _fit(Est, Xm[:50_000], ym[:50_000])  # compile / load the kernels
    mem, mem_cpu = {}, {}
    inner = _record_cpu_of_main_run(mem_rows)
    for n_jobs in (2, 1):
        runs, cpu = [], []
        for _ in range(args.repeats):
            runs.append(_fit(Est, Xm, ym, n_jobs))
            cpu.append(1e3 * LAST_CPU["client"] / runs[-1][0].n_iter_)
        mem[n_jobs] = [_per_iter_ms(e) for e, _ in runs]
        mem_cpu[n_jobs] = cpu
        print(f"in memory, {mem_rows:.0e} rows, {n_jobs} Numba thread(s): ms/iter "
              f"{[round(v, 1) for v in mem[n_jobs]]}; CPU ms/iter {[round(v) for v in cpu]}; "
              f"whole fit {[round(t, 2) for _, t in runs]} s", flush=True)
    del Xm, ym
    import skmoe._solvers._em as em

    em.run_em = inner
    _record_cpu_of_main_run(n_rows)

    # -- distributed ----------------------------------------------------------
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit=0)
    client = distributed.Client(cluster)
    dist, setup, peaks, lls, dist_cpu = [], [], [], [], []
    try:
        X, y = _dask_data(n_rows, block_rows, params)
        print(f"distributed: {n_rows:.0e} rows in {len(X.chunks[0])} blocks of "
              f"{block_rows:.0e}, 2 workers x 1 thread", flush=True)
        for _ in range(args.repeats):
            client.restart()
            # load the kernels in the fresh workers (small: does not move the peak)
            Xw, yw = _dask_data(40_000, 20_000, params)
            _fit(Est, Xw, yw)
            est, total = _fit(Est, X, y)
            dist.append(_per_iter_ms(est))
            dist_cpu.append(1e3 * (LAST_CPU["client"] + LAST_CPU["workers"]) / est.n_iter_)
            setup.append(total - est._timings_["total_em"])
            peaks.append(sorted(client.run(_peak_rss_mb).values()))
            lls.append(est.log_likelihood_)
            print(f"  ms/iter {dist[-1]:.1f} (CPU ms/iter {dist_cpu[-1]:.0f}: client "
                  f"{1e3 * LAST_CPU['client'] / est.n_iter_:.0f}), set-up {setup[-1]:.1f} s, whole fit {total:.1f} s,"
                  f" peak RSS per worker {[round(p) for p in peaks[-1]]} MB, "
                  f"log-likelihood {est.log_likelihood_:.6f}", flush=True)
    finally:
        client.close()
        cluster.close()

    per_row_dist = statistics.median(dist) / (n_rows / 1e6)
    cpu_row_dist = statistics.median(dist_cpu) / (n_rows / 1e6)
    print()
    print("| path | rows | threads | wall ms/iter median (best) | wall ms/iter per 1e6 rows | "
          "CPU ms/iter per 1e6 rows | set-up s median | peak RSS per worker MB (max) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| Dask, 2 workers | {n_rows:.0e} | 2 x 1 | {statistics.median(dist):.0f} "
          f"({min(dist):.0f}) | {per_row_dist:.0f} | {cpu_row_dist:.0f} | "
          f"{statistics.median(setup):.1f} | {max(max(p) for p in peaks):.0f} |")
    for n_jobs in (2, 1):
        med = statistics.median(mem[n_jobs])
        cpu = statistics.median(mem_cpu[n_jobs]) / (mem_rows / 1e6)
        print(f"| in memory | {mem_rows:.0e} | {n_jobs} | {med:.0f} ({min(mem[n_jobs]):.0f}) | "
              f"{med / (mem_rows / 1e6):.0f} | {cpu:.0f} | | |")
    for n_jobs in (2, 1):
        wall = per_row_dist / (statistics.median(mem[n_jobs]) / (mem_rows / 1e6))
        cpu = cpu_row_dist / (statistics.median(mem_cpu[n_jobs]) / (mem_rows / 1e6))
        print(f"\nper-row cost, distributed / in memory with {n_jobs} thread(s): wall {wall:.2f}, "
              f"CPU {cpu:.2f} (target <= 1.5)")
    print(f"log-likelihoods {np.round(lls, 6).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
