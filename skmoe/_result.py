"""What every solver hands back: :class:`FitResult`."""

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

#: How warnings name each solver and its steps.
_STEPS = {"em": ("EM", "iterations"), "lbfgs": ("L-BFGS", "iterations"),
          "adam": ("Adam", "epochs")}


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
    numbers. ``moves`` are the positions in the curves of states reached
    by accepted split-and-merge moves (``skmoe._moves``).
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
    moves: list = field(default_factory=list)

    def joined(self, trajectory):
        """This run appended to the search's ``trajectory`` on the same rows.

        The curves become the whole trajectory (this run's first value, the
        state it started from, is the trajectory's last), ``n_iter`` their
        length less one, ``moves`` the positions of accepted moves.
        """
        trajectory.extend(self)
        self.curve, self.objective_curve = trajectory.curve, trajectory.objective_curve
        self.n_iter = len(self.curve) - 1
        self.moves = list(trajectory.moves)
        return self

    def check_finite(self):
        """``FloatingPointError`` on non-finite parameters (guarded by floors: never seen)."""
        params = self.params
        arrays = [params["gate"], params.get("noise", params["gate"]),
                  *params["experts"].values()]
        for arr in [a for a in arrays if a.dtype != object]:
            if not np.all(np.isfinite(arr)):  # pragma: no cover - guarded by floors
                raise FloatingPointError(
                    "fitting produced non-finite parameters; please report this with "
                    "the data that triggers it."
                )

    def warn(self, solver, max_iter, tol, stacklevel):
        """One warning for a run that did not converge, one for collapsed experts.

        ``stacklevel`` counts from this method (the user's call of ``fit``).
        """
        if not self.converged:
            name, steps = _STEPS[solver]
            warnings.warn(
                f"{name} did not converge in max_iter={max_iter} {steps} "
                f"(last change of the mean log-likelihood above tol={tol}). "
                "Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=stacklevel + 1,
            )
        if self.collapsed.any():
            which = np.flatnonzero(self.collapsed).tolist()
            warnings.warn(
                f"Expert(s) {which} received (almost) no training weight; they are kept "
                "with negligible gate probability and their parameters were frozen. "
                "Consider fewer n_experts.",
                UserWarning,
                stacklevel=stacklevel + 1,
            )
