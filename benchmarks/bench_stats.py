"""Sufficient statistics of Gaussian experts: Numba kernel vs BLAS, by width.

The expert M-step needs, per expert k, the weighted Gram matrix
``X^T diag(v_k) X`` and ``X^T diag(v_k) y``. skmoe forms them in one Numba
pass (``gaussian_stats_rows``: the upper triangle of ``x x^T`` once per row,
added to every expert's vector) for narrow designs and with one BLAS product
per expert (``(X * v_k)^T X``) for wide ones. This script measures both, one
thread each side (BLAS limited with threadpoolctl, serial Numba driver), on
the same data in one run, to place the switch (``skmoe._experts._gaussian.
BLAS_MIN_COLUMNS``).

    python benchmarks/bench_stats.py [--n 200000] [--experts 8] [--repeats 5]
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from skmoe import _kernels


def best_time(func, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=2e5)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n, K = int(args.n), args.experts
    rng = np.random.RandomState(0)
    print(f"n={n} K={K}, 1 thread each (BLAS via threadpoolctl, Numba serial driver), "
          f"best of {args.repeats}")
    print("| d+1 | numba ms | BLAS ms | numba / BLAS |")
    print("|---|---|---|---|")
    for p in (5, 11, 21, 33, 49, 65, 101):
        X = np.c_[np.ones(n), rng.normal(size=(n, p - 1))]
        y = rng.normal(size=(n, 1))
        v = rng.uniform(size=(n, K))
        flat = np.zeros((K, _kernels.gaussian_stats_length(p, 1)))
        nk = np.zeros(K)
        _kernels.gaussian_stats_rows(X[:100], p, v[:100], y[:100], flat, nk)  # compile

        def numba_stats(X=X, p=p, v=v, y=y, flat=flat, nk=nk):
            flat[:] = 0.0
            nk[:] = 0.0
            _kernels.gaussian_stats_rows(X, p, v, y, flat, nk)

        def blas_stats(X=X, v=v, y=y):
            for k in range(K):
                Xw = X * v[:, k : k + 1]
                Xw.T @ X
                Xw.T @ y

        with threadpool_limits(1, user_api="blas"):
            t_numba = best_time(numba_stats, args.repeats)
            t_blas = best_time(blas_stats, args.repeats)
        print(f"| {p} | {t_numba * 1e3:.1f} | {t_blas * 1e3:.1f} | {t_numba / t_blas:.2f} |")


if __name__ == "__main__":
    main()
