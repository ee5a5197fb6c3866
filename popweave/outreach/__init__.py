"""Outreach: prioritised worklists and capacity-aware assignment of patients to coordinators
and of coordinators to clinics."""

from popweave.outreach.worklist import (
    WORKLIST_TABLE,
    Weights,
    save_worklist,
    worklist,
    worklist_expr,
)

__all__ = ["WORKLIST_TABLE", "Weights", "save_worklist", "worklist", "worklist_expr"]
