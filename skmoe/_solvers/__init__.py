"""Solvers behind one contract (``_base.Solver``), registered by name.

``SOLVERS`` is the registry the estimators choose from (the ``solver``
option); its order is the order in which messages name the solvers.
"""

from ._adam import AdamSolver
from ._base import FitTask, Solver, SolverSettings
from ._em import EMSolver
from ._lbfgs import LBFGSSolver

SOLVERS = {cls.name: cls for cls in (EMSolver, LBFGSSolver, AdamSolver)}

__all__ = ["SOLVERS", "AdamSolver", "EMSolver", "FitTask", "LBFGSSolver", "Solver",
           "SolverSettings"]
