"""Importing and fitting where no cache directory is writable."""

import os
import subprocess
import sys
import textwrap


def test_import_and_fit_without_writable_cache(tmp_path):
    # As root every directory is writable, so the read-only case is simulated
    # by making os.access report no write permission anywhere.
    code = textwrap.dedent(
        """
        import os
        real_access = os.access
        os.access = lambda p, mode, *a, **k: False if mode & os.W_OK else real_access(p, mode)
        import numba
        import numpy as np
        from skmoe import MixtureOfExpertsRegressor
        assert numba.config.CACHE_DIR.endswith("skmoe-numba-cache"), numba.config.CACHE_DIR
        X = np.linspace(-1, 1, 40)[:, None]
        y = np.abs(X[:, 0])
        model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
        assert model.score(X, y) > 0.9
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["HOME"] = str(tmp_path / "no-home")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
