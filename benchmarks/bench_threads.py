"""Threading setups on a busy machine: one fit timed under several settings.

Times ``MixtureOfExpertsRegressor(n_experts=8, max_iter=10, tol=0)`` on
100,000 x 10 rows (best of 3, after a warm-up fit) in fresh subprocesses with
different Numba threading settings, first on an idle machine, then while
another process spins on one core (``--busy``, default on), to show what the
OpenMP workers' spin-waiting costs and what skmoe's default
(``OMP_WAIT_POLICY=PASSIVE``, set at import unless the user set it) gives.

    python benchmarks/bench_threads.py [--n 1e5]
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import sys, time, warnings
sys.path[:0] = [{root!r}, {here!r}]
import numba
from skmoe import MixtureOfExpertsRegressor
from skmoe._synthetic import make_moe_regression
warnings.simplefilter("ignore")
X, y, _ = make_moe_regression({n}, 10, 8, random_state=0)
MixtureOfExpertsRegressor(n_experts=8, random_state=0, max_iter=2).fit(X, y)
times = []
for _ in range(3):
    t = time.perf_counter()
    MixtureOfExpertsRegressor(n_experts=8, random_state=0, max_iter=10, tol=0).fit(X, y)
    times.append(time.perf_counter() - t)
print(numba.threading_layer(), numba.get_num_threads(), min(times))
"""

SETTINGS = [
    ("skmoe default (OpenMP, passive waits)", {}),
    ("OpenMP, libgomp's default waits (OMP_WAIT_POLICY='')", {"OMP_WAIT_POLICY": ""}),
    ("OpenMP, spinning waits (OMP_WAIT_POLICY=ACTIVE)", {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("workqueue layer", {"NUMBA_THREADING_LAYER": "workqueue"}),
    ("one Numba thread", {"NUMBA_NUM_THREADS": "1"}),
]


def run(n, extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY",)}
    env.update(extra)
    code = CHILD.format(root=ROOT, here=HERE, n=int(n))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return f"failed: {out.stderr.strip().splitlines()[-1]}"
    layer, threads, best = out.stdout.split()
    return f"{float(best):.2f} s ({layer}, {threads} threads)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e5)
    parser.add_argument("--no-busy", action="store_true", help="skip the busy-core runs")
    args = parser.parse_args()
    print(f"fit of {int(args.n)} x 10, K=8, 10 EM iterations, best of 3; {os.cpu_count()} cores")
    print("| setting | idle machine | one core busy |")
    print("|---|---|---|")
    for name, extra in SETTINGS:
        idle = run(args.n, extra)
        busy = "-"
        if not args.no_busy:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.5)
                busy = run(args.n, extra)
            finally:
                spinner.kill()
        print(f"| {name} | {idle} | {busy} |")


if __name__ == "__main__":
    main()
