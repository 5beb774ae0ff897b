"""Solvers: same inputs (design, family, gate step, parameters), same outputs."""

from ._em import EMResult, estep_pass, run_em
from ._lbfgs import run_lbfgs

__all__ = ["EMResult", "estep_pass", "run_em", "run_lbfgs"]
