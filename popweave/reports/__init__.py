"""Reports: the self-contained HTML population report and the Plotly figures it is made of."""

from __future__ import annotations

from popweave.reports.inputs import Missing, Pilot
from popweave.reports.report import SECTIONS, Report, build, write

__all__ = ["SECTIONS", "Missing", "Pilot", "Report", "build", "write"]
