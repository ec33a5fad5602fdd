"""Deterministic simulator for the consensus core: virtual clock, faults, invariants."""

from consensus.sim.faults import FaultPlan, parse_plan
from consensus.sim.sim import SimConfig, Simulation, Violation

__all__ = ["FaultPlan", "SimConfig", "Simulation", "Violation", "parse_plan"]
