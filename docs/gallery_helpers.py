"""Helpers for sphinx-gallery, referred to by name from conf.py (so that the
configuration stays picklable)."""

import os
from pathlib import Path

#: The gallery's order: from a first model to the fitting machinery.
ORDER = [
    "quickstart.py",
    "plot_heteroscedastic_1d.py",
    "plot_predictive_density_mcycle.py",
    "plot_calibration.py",
    "plot_regime_switching.py",
    "plot_classifier_regions.py",
    "plot_choose_k_bic.py",
    "plot_estimator_experts.py",
    "plot_grid_search_diabetes.py",
    "plot_gradient_solvers.py",
    "plot_dense_vs_sparse.py",
    "plot_partial_fit_out_of_core.py",
]


class ExampleOrder:
    """Sort key: the scripts in ORDER first, in that order, then the others by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = Path(filename).name
        return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)

    def __repr__(self):
        return "ExampleOrder"


def reset_argv(gallery_conf, script_vars):
    """Command line of each example in the docs build.

    Every script takes ``--out PATH`` (default: a PNG in the working
    directory). sphinx-gallery captures the figures itself, so the scripts'
    own copy goes to the null device instead of littering ``examples/``.
    """
    return ["--out", os.devnull]
