"""Exporters: the warehouse back out as Synthea CSV or FHIR R4 NDJSON (round-trip tests)."""

from __future__ import annotations

import importlib

from popweave.export.base import REGISTRY, Exporter, register

BUILTIN = ("synthea", "fhir")


def exporters() -> dict[str, type[Exporter]]:
    """Every registered exporter by name, the built-in ones included."""
    for mod in BUILTIN:
        try:
            importlib.import_module(f"popweave.export.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"popweave.export.{mod}":
                raise
    return dict(REGISTRY)


__all__ = ["REGISTRY", "Exporter", "exporters", "register"]
