"""Student-t experts (issue 17): the cost of one EM iteration against Gaussian experts.

One thread, ``d = 10``, ``K = 8``, 1e5 rows of ``bench_predictive.moe_table``:
the median over 5 repeats of one E-step pass with the experts' sufficient
statistics plus the experts' M-step (the gate's M-step is the same for both
and left out, so the ratio is an upper bound of the whole iteration's), at the
parameters of a 5-iteration fit of each.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_student_t.py
"""

import time
import warnings

import _common  # noqa: F401  (sets sys.path)
import numpy as np
from bench_predictive import moe_table

from skmoe import MixtureOfExpertsRegressor
from skmoe._data import design_matrix
from skmoe._passes import Design, estep_pass


def iteration_time(X, y, dist, repeats=5):
    model = MixtureOfExpertsRegressor(n_experts=8, expert_distribution=dist, max_iter=5,
                                      random_state=0, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    family, params = model._family(), model._params
    design = Design(design_matrix(X, model._x_scaler()), model._target().scaled(y[:, None]),
                    np.ones(len(y)))
    resp, log_norm = np.empty((len(y), 8)), np.empty(len(y))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        stats = family.new_stats(design.n_columns)
        estep_pass(design, family, params, resp, log_norm, stats)
        family.mstep(stats, params["experts"], stats["n"] <= 0)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    X, y = moe_table(100_000, 10, 8, 0)
    gaussian = iteration_time(X, y, "gaussian")
    student = iteration_time(X, y, "student_t")
    print("| experts | E-step + expert M-step ms | ratio |\n|---|---|---|")
    print(f"| gaussian | {1e3 * gaussian:.1f} | 1.00 |")
    print(f"| student_t | {1e3 * student:.1f} | {student / gaussian:.2f} |")


if __name__ == "__main__":
    main()
