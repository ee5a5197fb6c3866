"""The data-model document: generated from the table definitions, and committed up to date."""

from __future__ import annotations

import re
from pathlib import Path

from popweave.model import ALL_TABLES, CODE_SYSTEMS, REASONS
from popweave.model.docs import data_model_markdown, main

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    return {p.split("\n", 1)[0].strip("`"): p for p in parts[1:]}


def test_every_table_and_column_is_documented_in_its_section() -> None:
    sections = _sections(data_model_markdown())
    for t in ALL_TABLES:
        assert t.name in sections, f"no section for {t.name}"
        body = sections[t.name]
        assert t.description in body
        assert f"Key: `{', '.join(t.key)}`." in body
        rows = [line for line in body.splitlines() if line.startswith("| `")]
        assert [r.split("`")[1] for r in rows] == t.column_names
        for col in t.columns:
            row = next(r for r in rows if r.startswith(f"| `{col.name}` |"))
            assert f"| {col.kind.value} |" in row
            assert ("| yes |" in row) == col.required
            for value in col.allowed:
                assert f"`{value}`" in row
            if col.references:
                assert f"references `{col.references}`" in row


def test_code_systems_and_reasons_are_listed() -> None:
    sections = _sections(data_model_markdown())
    for name, uri in CODE_SYSTEMS.items():
        assert f"| `{name}` | {uri} |" in sections["Code systems"]
    for reason, meaning in REASONS.items():
        assert f"| `{reason}` | {meaning} |" in sections["Reasons a row is rejected"]


def test_table_rows_have_five_cells() -> None:
    for line in data_model_markdown().splitlines():
        if line.startswith("| `") and line.count("`") >= 2 and "|---" not in line:
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            assert len(cells) in (2, 5), line


def test_committed_document_is_up_to_date() -> None:
    assert DOC.is_file(), "docs/data-model.md is missing; run python -m popweave.model.docs"
    assert DOC.read_text(encoding="utf-8") == data_model_markdown(), (
        "docs/data-model.md is stale; regenerate it with "
        "`python -m popweave.model.docs docs/data-model.md`"
    )


def test_main_writes_the_document(tmp_path: Path) -> None:
    out = tmp_path / "data-model.md"
    main([str(out)])
    assert out.read_text(encoding="utf-8") == data_model_markdown()
