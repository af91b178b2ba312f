"""Agents: population synthesis, activity plans, the mesa model of a day, the mobility engine.

Examples
--------
>>> from twin.agents import simulate, write_day, KPI_UNITS
>>> "co2_t" in KPI_UNITS
True
"""

from twin.agents.external import ExternalDemand, external_demand, load_external_config
from twin.agents.kpis import KPI_UNITS, mobility_kpis
from twin.agents.model import CityModel, Resident
from twin.agents.plans import Plans, build_plans
from twin.agents.population import Population, load_population_config, synthesize
from twin.agents.simulate import (
    AssignedDay,
    DayResult,
    assign_agents,
    simulate,
    write_assigned,
    write_day,
)

__all__ = [
    "KPI_UNITS",
    "AssignedDay",
    "CityModel",
    "DayResult",
    "ExternalDemand",
    "Plans",
    "Population",
    "Resident",
    "assign_agents",
    "build_plans",
    "external_demand",
    "load_external_config",
    "load_population_config",
    "mobility_kpis",
    "simulate",
    "synthesize",
    "write_assigned",
    "write_day",
]
