"""Solvers: same inputs (design, family, gate step, parameters), same outputs."""

from ._em import EMResult, estep_pass, run_em

__all__ = ["EMResult", "estep_pass", "run_em"]
