"""Map ``n_jobs`` to Numba's thread count for the duration of a call."""

from contextlib import contextmanager

import numba


def _resolve_n_threads(n_jobs):
    """Number of Numba threads for ``n_jobs``, clamped to the launched pool.

    ``None`` keeps the current setting, negative values count back from the
    pool size as in joblib (``-1`` = all). The pool can be smaller than the
    machine (``NUMBA_NUM_THREADS``, or a joblib worker that limits threads);
    we clamp rather than raise, so the same estimator runs everywhere.
    """
    pool = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return numba.get_num_threads()
    if n_jobs < 0:
        n_jobs = pool + 1 + n_jobs
    return int(min(max(n_jobs, 1), pool))


@contextmanager
def numba_threads(n_jobs):
    """Run the body with ``n_jobs`` Numba threads, restoring the previous value."""
    previous = numba.get_num_threads()
    wanted = _resolve_n_threads(n_jobs)
    if wanted == previous:
        yield wanted
        return
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)
