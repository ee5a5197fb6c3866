"""Regenerate the value set CSVs from index.yaml and write docs/valuesets.md.

Usage: python scripts/build_valuesets.py
"""

from __future__ import annotations

from pathlib import Path

from popweave.terminology.valuesets import build, render_docs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "valuesets.md"


def main() -> None:
    changed = build()
    print(f"value sets rewritten: {', '.join(changed) if changed else 'none'}")
    text = render_docs()
    if not DOCS.exists() or DOCS.read_text(encoding="utf-8") != text:
        DOCS.write_text(text, encoding="utf-8")
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
