"""First ``fit`` in a fresh process, import included (Numba JIT / cache cost).

Each measurement is a new ``python -c`` subprocess (working directory = the
repository root, so the working tree's skmoe is imported) that times, with
``time.perf_counter`` started before the import::

    from skmoe import MixtureOfExpertsRegressor; import numpy as np
    <1,000 x 10 rows>; MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)

* "first ever": ``NUMBA_CACHE_DIR`` set to a fresh, empty temporary
  directory, so every kernel is compiled;
* "warm": the same cache directory again, ``--warm-runs`` times (default 3);
  best and median are reported.

Python's own bytecode cache (``__pycache__``) is not cleared; the scripts of
this repository are run with whatever .pyc files exist.

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --warm-runs 5 --rows 1000 --experts 4
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import _common  # noqa: F401  (sets sys.path)
from _common import REPO_ROOT

SNIPPET = """\
import time
t = time.perf_counter()
from skmoe import MixtureOfExpertsRegressor
import numpy as np
t_import = time.perf_counter() - t
rng = np.random.default_rng(0)
n, d, K = {rows}, 10, {experts}
X = rng.standard_normal((n, d))
z = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
coef = rng.standard_normal((4, d))
y = np.einsum("ij,ij->i", X, coef[z]) + 0.3 * rng.standard_normal(n)
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MixtureOfExpertsRegressor(n_experts=K, random_state=0).fit(X, y)
total = time.perf_counter() - t
print("STARTUP", total, t_import)
"""


def run_once(cache_dir, rows, experts, timeout):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache_dir
    code = SNIPPET.format(rows=rows, experts=experts)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("STARTUP "):
            _, total, t_import = line.split()
            return float(total), float(t_import), None
    err = (proc.stderr or proc.stdout).strip().splitlines()
    return None, None, f"rc={proc.returncode}: " + ("\n".join(err[-15:]) if err else "no output")


def count_files(path):
    n = 0
    for _, _, files in os.walk(path):
        n += len(files)
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warm-runs", type=int, default=3, help="warm-cache runs (default 3)")
    p.add_argument("--rows", type=int, default=1000, help="rows of the fit (default 1000)")
    p.add_argument("--experts", type=int, default=4, help="n_experts (default 4)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per subprocess (default 900)")
    args = p.parse_args(argv)

    print("# First fit in a fresh process (import included)\n")
    print(f"python {sys.executable}; cwd {REPO_ROOT}; {args.rows} x 10 rows, n_experts={args.experts}")
    with tempfile.TemporaryDirectory(prefix="skmoe_numba_cache_") as cache:
        first, first_import, err = run_once(cache, args.rows, args.experts, args.timeout)
        if err is not None:
            print(f"\nskmoe could not be imported or fitted in the subprocess; no timings.\n{err}")
            return 1
        n_cache_files = count_files(cache)
        warm, warm_import = [], []
        for _ in range(args.warm_runs):
            t, ti, err = run_once(cache, args.rows, args.experts, args.timeout)
            if err is not None:
                print(f"\nwarm run failed: {err}")
                return 1
            warm.append(t)
            warm_import.append(ti)

    print()
    print("| run | total s (import + fit) | of which import s |")
    print("|---|---|---|")
    print(f"| first ever (empty NUMBA_CACHE_DIR) | {first:.2f} | {first_import:.2f} |")
    if warm:
        print(
            f"| warm cache, best of {len(warm)} | {min(warm):.2f} | "
            f"{warm_import[warm.index(min(warm))]:.2f} |"
        )
        print(
            f"| warm cache, median of {len(warm)} | {statistics.median(warm):.2f} | "
            f"{statistics.median(warm_import):.2f} |"
        )
    print(f"\nfiles written to the Numba cache dir by the first run: {n_cache_files}")
    if n_cache_files == 0:
        print("NOTE: nothing was cached: warm runs compile again (cache=False or unwritable dir?).")
    print(f"all warm runs: {', '.join(f'{t:.2f}' for t in warm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
