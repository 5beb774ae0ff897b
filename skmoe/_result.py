"""What every solver hands back: :class:`FitResult`."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FitResult:
    """One run of a solver (EM, L-BFGS or Adam) from one start.

    ``curve[t]`` is the weighted mean log-likelihood after ``t`` iterations
    (EM, L-BFGS: ``curve[0]`` is that of the start) or epochs (Adam: the
    running mean over the epoch's mini-batches), ``objective_curve`` the
    penalised objective per unit weight along the same run, all in
    standardised units. ``log_likelihood``/``objective`` are exact values at
    ``params``. ``optimizer_state`` is what a solver needs to continue the
    run later (Adam's moments, for ``partial_fit``), as plain arrays and
    numbers.
    """

    params: dict
    log_likelihood: float
    objective: float
    curve: list
    objective_curve: list
    n_iter: int
    converged: bool
    expert_weight: np.ndarray
    collapsed: np.ndarray
    timings: dict = field(default_factory=dict)
    optimizer_state: dict = None
