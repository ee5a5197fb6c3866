"""Generate docs/data-model.md from the table definitions."""

from __future__ import annotations

import sys
from pathlib import Path

from popweave.model.tables import ALL_TABLES, CODE_SYSTEMS
from popweave.model.validate import REASONS, RECORD_REASONS


def data_model_markdown() -> str:
    """The data model as Markdown: one section per table, then code systems and reasons."""
    out = [
        "# popweave data model",
        "",
        "Generated from `popweave/model/tables.py` by `popweave docs`",
        "(or `python -m popweave.model.docs docs/data-model.md`); do not edit by hand.",
        "Codes are always a pair (code_system, code); dates are dates; money is DECIMAL(14,2).",
        "",
    ]
    for t in ALL_TABLES:
        out += [f"## `{t.name}`", "", t.description, "", f"Key: `{', '.join(t.key)}`.", ""]
        out += ["| column | type | required | rules | description |", "|---|---|---|---|---|"]
        for c in t.columns:
            rules = []
            if c.allowed:
                rules.append("one of " + ", ".join(f"`{a}`" for a in c.allowed))
            if c.references:
                rules.append(f"references `{c.references}`")
            if c.minimum is not None:
                rules.append(f">= {c.minimum:g}")
            if c.maximum is not None:
                rules.append(f"<= {c.maximum:g}")
            if c.not_future:
                rules.append("not after the load date")
            if c.not_before:
                rules.append(f"not before {c.not_before}")
            if c.icd10cm:
                rows_ = "" if c.icd10cm == "always" else f" (rows whose `{c.icd10cm}` is ICD10CM)"
                rules.append(f"ICD-10-CM codes{rows_} stored as `E11.9`, `I10`")
            req = "yes" if c.required else ""
            cells = [f"`{c.name}`", c.kind.value, req, "; ".join(rules), c.description]
            out.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        for early, late in t.ordered:
            out.append("")
            out.append(f"`{late}` may not precede `{early}`.")
        out.append("")
    out += ["## Code systems", "", "| name | URI |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in CODE_SYSTEMS.items()]
    out += ["", "## Reasons a row is rejected", "", "| reason | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_cell(v)} |" for k, v in {**REASONS, **RECORD_REASONS}.items()]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: list[str] | None = None) -> None:
    """Write the data model to the path given (or print it)."""
    args = sys.argv[1:] if argv is None else argv
    text = data_model_markdown()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
