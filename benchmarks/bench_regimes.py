"""Eight-regime synthetic data: the held-out gap of the default fit to the generating model.

Two generators, each at two gate sharpnesses, d = 10, K = 8 regimes:

* ``moe``: ``skmoe._synthetic.make_moe_regression(n, 10, 8, noise=0.3,
  gate_scale=s, random_state=seed)`` (gate logits with standard deviation
  about ``s``), ``s`` = 3 (soft) and 10 (sharp);
* ``random``: ``skmoe._synthetic.random_gated_linear(n, 8, 10, noise=0.3,
  gate_scale=s, seed=seed)`` (random gate directions, expert intercepts
  spread on [-3, 3]), ``s`` = 3 and 10.

For data seeds 0..9 and ``random_state`` 0..2: fit
``MixtureOfExpertsRegressor(n_experts=8, random_state=rs)`` (the library's
other defaults: the priors of issue 16) on ``n`` rows, and report the gap
``mean log p_true(y | x) - mean log p_fit(y | x)`` on 20,000 held-out rows
from the same model (nats per sample; > 0 means the fit is worse). Issue
15/16's target: at most 0.02 at every pair.

    python benchmarks/bench_regimes.py                 # n = 1e4, all cells
    python benchmarks/bench_regimes.py --n 1e5 --seeds 3
"""

import argparse
import time
import warnings

import _common  # noqa: F401  (sets sys.path)
import numpy as np
from _common import environment_lines, md_table, skmoe_location

from skmoe._synthetic import make_moe_regression, random_gated_linear, true_log_likelihood

D, K, NOISE, HELD_OUT = 10, 8, 0.3, 20_000


def draw(kind, n, sharpness, seed):
    """``(X, y, X_test, y_test, true mean log-likelihood of the test rows)``."""
    if kind == "moe":
        X, y, params = make_moe_regression(n, D, K, noise=NOISE, gate_scale=sharpness,
                                           random_state=seed)
        Xt, yt, _ = make_moe_regression(HELD_OUT, D, K, params=params, random_state=seed + 1000)
        return X, y, Xt, yt, float(np.mean(true_log_likelihood(Xt, yt, params)))
    X, y, truth = random_gated_linear(n, K, D, noise=NOISE, gate_scale=sharpness, seed=seed)
    Xt, yt, _ = random_gated_linear(HELD_OUT, K, D, seed=seed + 1000, truth=truth)
    return X, y, Xt, yt, float(np.mean(truth["log_likelihood"](Xt, yt)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=float, default=1e4)
    parser.add_argument("--seeds", type=int, default=10, help="data seeds 0..seeds-1")
    parser.add_argument("--states", type=int, default=3, help="random_state 0..states-1")
    parser.add_argument("--kinds", nargs="*", default=["moe", "random"])
    parser.add_argument("--sharpness", nargs="*", type=float, default=[3.0, 10.0])
    parser.add_argument("--kwargs", default="", help="extra constructor arguments, k=v,...")
    args = parser.parse_args(argv)
    from skmoe import MixtureOfExpertsRegressor

    extra = {}
    for item in filter(None, args.kwargs.split(",")):
        key, value = item.split("=", 1)
        extra[key] = float(value)
    print(skmoe_location())
    for line in environment_lines():
        print(line)
    n = int(args.n)
    rows = []
    for kind in args.kinds:
        for s in args.sharpness:
            gaps, times = [], []
            for seed in range(args.seeds):
                X, y, Xt, yt, true_ll = draw(kind, n, s, seed)
                for rs in range(args.states):
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = MixtureOfExpertsRegressor(n_experts=K, random_state=rs,
                                                          **extra).fit(X, y)
                    times.append(time.perf_counter() - t0)
                    gaps.append(true_ll - float(model.log_likelihood(Xt, yt).mean()))
            gaps = np.asarray(gaps)
            worst = int(np.argmax(gaps))
            rows.append([kind, f"{s:g}", f"{np.median(gaps):.4f}", f"{gaps.max():.4f}",
                         f"seed {worst // args.states}, rs {worst % args.states}",
                         int(np.sum(gaps > 0.02)), len(gaps), f"{np.median(times):.2f}"])
            print(rows[-1], flush=True)
    print(f"\nn = {n}, d = {D}, K = {K}, extra arguments {extra or 'none'}\n")
    print(md_table(["generator", "gate sharpness", "median gap", "worst gap", "worst at",
                    "pairs > 0.02", "pairs", "median fit s"], rows))


if __name__ == "__main__":
    main()
