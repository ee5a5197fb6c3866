"""HTML pieces of the report: escaping, tables, notes, figures and the page template."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from importlib import resources
from string import Template
from typing import Any

import pandas as pd

SUPPRESSED = "suppressed"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"scale": 2}}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def note(text: str, kind: str = "note") -> str:
    """A boxed note: ``note`` (an input is missing), ``caution`` or ``info``."""
    return f'<p class="{kind}">{esc(text)}</p>'


def para(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def figure(fig: Any, div_id: str) -> str:
    """A Plotly figure as a div and its script, without the library (embedded once)."""
    out: str = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG
    )
    return f'<div class="figure">{out}</div>'


def num(v: Any, fmt: str) -> str:
    """``v`` formatted, or empty for a missing value."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return esc(v) if v is not None else ""
    return "" if math.isnan(f) else format(f, fmt)


def interval(lo: Any, hi: Any, fmt: str) -> str:
    a, b = num(lo, fmt), num(hi, fmt)
    return f"{a}–{b}" if a and b else ""


Column = tuple[str, Callable[[Any], str]]


def table(rows: pd.DataFrame, columns: Sequence[Column], *, caption: str = "",
          row_class: Callable[[Any], str] | None = None) -> str:  # fmt: skip
    """A table: one ``(heading, cell function of the row)`` per column; cell text is
    escaped by the caller through :func:`esc` / :func:`num`."""
    head = "".join(f"<th>{esc(h)}</th>" for h, _ in columns)
    body = []
    for r in rows.itertuples(index=False):
        cls = row_class(r) if row_class else ""
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{f(r)}</td>" for _, f in columns) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(*, title: str, subtitle: str, nav: str, body: str, plotlyjs: str, geojs: str) -> str:
    """The whole document from ``templates/report.html``; scripts are embedded, not linked."""
    text = resources.files("popweave.reports").joinpath("templates/report.html")
    tpl = Template(text.read_text(encoding="utf-8"))
    return tpl.substitute(
        title=esc(title),
        subtitle=esc(subtitle),
        nav=nav,
        body=body,
        plotlyjs=plotlyjs,
        geojs=geojs,
    )
