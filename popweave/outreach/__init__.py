"""Outreach: prioritised worklists and capacity-aware assignment of patients to coordinators
and of coordinators to clinics."""

from popweave.outreach.assign import (
    Assignment,
    Costs,
    assign,
    assign_worklist,
    greedy,
    optimal,
    violations,
)
from popweave.outreach.clinics import CLINIC_TABLE, recommend
from popweave.outreach.roster import load_roster, synthetic_roster
from popweave.outreach.worklist import (
    ASSIGNMENT_TABLE,
    WORKLIST_TABLE,
    Weights,
    save_worklist,
    worklist,
    worklist_expr,
)

__all__ = [
    "ASSIGNMENT_TABLE",
    "CLINIC_TABLE",
    "WORKLIST_TABLE",
    "Assignment",
    "Costs",
    "Weights",
    "assign",
    "assign_worklist",
    "greedy",
    "load_roster",
    "optimal",
    "recommend",
    "save_worklist",
    "synthetic_roster",
    "violations",
    "worklist",
    "worklist_expr",
]
