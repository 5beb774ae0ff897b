"""Small helpers shared by the benchmark scripts (not a benchmark itself)."""

import os
import platform
import statistics
import sys
import warnings
from contextlib import contextmanager

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)

# Benchmarks measure the working tree: put the repository root first on the
# path (an installed skmoe would otherwise shadow it when the scripts are run
# as ``python benchmarks/bench_x.py``).
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
if BENCH_DIR not in sys.path:
    sys.path.insert(1, BENCH_DIR)


def import_skmoe(name="MixtureOfExpertsRegressor"):
    """Return ``(skmoe.<name>, None)`` or ``(None, message)``.

    ``name`` is the estimator class (default the regressor;
    ``"MixtureOfExpertsClassifier"`` for the classifier benchmarks).
    """
    try:
        import skmoe

        Est = getattr(skmoe, name)
    except Exception as exc:  # ImportError, AttributeError, or anything the package raises
        msg = (
            f"skmoe could not be imported ({type(exc).__name__}: {exc}); "
            "skmoe columns are reported as n/a."
        )
        return None, msg
    return Est, None


def skmoe_location():
    try:
        import skmoe

        version = getattr(skmoe, "__version__", "?")
        return f"skmoe {version} from {os.path.dirname(skmoe.__file__)}"
    except Exception:
        return "skmoe not importable"


@contextmanager
def quiet_fit():
    """Silence ConvergenceWarning (we run with tol=0 / fixed max_iter)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def warmup_fit(Est, X, y, n_experts, max_iter=2):
    """Untimed short fit on the data to be timed.

    Compiles (or loads from cache) every Numba kernel the timed fit will use:
    skmoe switches between serial and parallel kernels by problem size, so a
    warm-up on a small slice would not cover a large fit.
    """
    with quiet_fit():
        Est(n_experts=n_experts, max_iter=max_iter, tol=0, random_state=0).fit(X, y)


def thread_report():
    """Lines describing BLAS (threadpoolctl) and Numba threading."""
    lines = []
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(
                "  {user_api}/{internal_api} {version}: {num_threads} threads "
                "({filepath})".format(
                    user_api=info.get("user_api"),
                    internal_api=info.get("internal_api"),
                    version=info.get("version"),
                    num_threads=info.get("num_threads"),
                    filepath=os.path.basename(info.get("filepath", "")),
                )
            )
    except Exception as exc:
        lines.append(f"  threadpoolctl unavailable: {exc}")
    try:
        import numba

        try:
            layer = numba.threading_layer()
        except ValueError:
            layer = "not initialised yet"
        lines.append(
            f"  numba {numba.__version__}: get_num_threads()={numba.get_num_threads()}, "
            f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, threading layer: {layer}"
        )
    except Exception as exc:
        lines.append(f"  numba unavailable: {exc}")
    return lines


def blas_threads():
    """Max BLAS threads over the loaded BLAS libraries (None if unknown)."""
    try:
        from threadpoolctl import threadpool_info

        n = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        return max(n) if n else None
    except Exception:
        return None


def environment_lines():
    import numpy
    import scipy
    import sklearn

    return [
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}",
        f"machine: {platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"affinity={len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}",
    ]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(x, spec=".1f", na="n/a"):
    if x is None:
        return na
    try:
        if x != x:  # NaN
            return na
    except TypeError:
        return na
    return format(x, spec)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)
