"""`popweave report` on a small synthetic city: every section, Plotly embedded once, nothing
fetched from the network, suppressed cells marked, well-formed HTML, notes for missing
inputs, atomic writes."""

from __future__ import annotations

import datetime as dt
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from popweave.cli import app
from popweave.reports import SECTIONS, Pilot, build, write
from popweave.reports.report import plotly_js
from popweave.warehouse import open_workspace_engine
from popweave.workspace import Workspace
from tests.reports.conftest import cli

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class Checker(HTMLParser):
    """Tags must nest and close (void elements aside); collects headings and resources."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.h2: list[str] = []
        self.refs: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2[-1] += data


@pytest.fixture(scope="module")
def report(city: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out") / "report.html"
    text = cli("report", "--period", "2025", "--out", out, "--workspace", city)
    return out, text


@pytest.fixture(scope="module")
def html(report: tuple[Path, str]) -> str:
    return report[0].read_text(encoding="utf-8")


def parse(text: str) -> Checker:
    c = Checker()
    c.feed(text)
    c.close()
    return c


def test_cli_writes_the_report_and_says_how_to_open_it(report: tuple[Path, str]) -> None:
    out, text = report
    assert out.is_file() and out.stat().st_size > 1_000_000
    assert "Wrote" in text and "file://" in text
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_every_section_heading(html: str) -> None:
    assert parse(html).h2 == list(SECTIONS.values())


def test_plotly_js_embedded_once(html: str) -> None:
    js = plotly_js()
    assert html.count(js) == 1
    assert len(re.findall(r"\* plotly\.js v\d", html)) == 1
    assert "</script" not in js.lower()  # embedding cannot end its script element early


def test_no_network_references(html: str) -> None:
    c = parse(html)
    assert not [r for r in c.refs if re.match(r"(https?:)?//", r)], c.refs
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?(https?:)?//", html)
    assert "@import" not in html


def test_map_needs_no_outline_from_the_network(html: str) -> None:
    assert '"type":"choropleth"' in html.replace(" ", "")
    assert "PlotlyGeoAssets.topojson.world_110m" in html


def test_parses_as_html(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    c = parse(html)
    assert c.errors == []
    assert c.stack == []


def test_suppressed_cells_are_marked(html: str) -> None:
    # 3,000 people: some race/ethnicity groups have fewer than 11 index stays.
    assert '<span class="suppressed-cell">suppressed</span>' in html
    assert '<tr class="suppressed">' in html


def test_sections_with_their_inputs_have_no_note(city: Path) -> None:
    ws = Workspace.open(city)
    with open_workspace_engine(ws) as eng:
        rep = build(eng, "2025", truth=ws.truth_path)
    assert set(rep.notes) == {"workload"}  # popweave assign was not run
    assert "popweave assign" in rep.notes["workload"]
    assert "AUROC" in rep.html and "difference-in-differences" in rep.html
    assert "programme in area A" in rep.html


def test_missing_inputs_give_notes_not_a_crash(bare: Path, tmp_path: Path) -> None:
    out = tmp_path / "bare.html"
    text = cli("report", "--out", out, "--workspace", bare)
    html = out.read_text(encoding="utf-8")
    c = parse(html)
    assert c.errors == [] and c.h2 == list(SECTIONS.values())
    for sid in ("measures", "risk", "evaluation", "workload"):
        assert f"section {sid} not shown" in text
    assert "Not shown: no measure_result table in the warehouse: run `popweave run measures" in html
    assert "Not shown: no risk_score table in the warehouse: run `popweave run risk`" in html
    assert "truth.json is not in the workspace" in html


def test_programme_options_override_truth(city: Path) -> None:
    # On this city the matched comparison for A3 fails (singular matrix): the section says
    # so, naming the programme, and the rest of the report stands.
    with open_workspace_engine(Workspace.open(city)) as eng:
        rep = build(eng, "2025", pilot=Pilot(["A3"], dt.date(2024, 7, 1)))
    assert "A3" in rep.html and "2024-07-01" in rep.html
    assert set(rep.notes) <= {"evaluation", "workload"}


def test_programme_area_without_start_is_a_one_line_error(city: Path) -> None:
    res = CliRunner().invoke(app, ["report", "--programme-area", "A1", "--workspace", str(city)])
    assert res.exit_code == 2
    assert "--programme-start" in res.output


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.html"
    write("old", out)

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write("new", out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
