"""Importers to the canonical tables: Synthea CSV, FHIR R4, OMOP CDM, mapped CSV."""

from __future__ import annotations

import importlib

from popweave.ingest.base import REGISTRY, Importer, IngestResult, register, run

BUILTIN = ("synthea", "fhir", "omop", "mapped_csv")
"""Modules of the built-in importers; each registers itself through ``register``."""


def importers() -> dict[str, type[Importer]]:
    """Every registered importer by name, the built-in ones included."""
    for mod in BUILTIN:
        try:
            importlib.import_module(f"popweave.ingest.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"popweave.ingest.{mod}":
                raise
    return dict(REGISTRY)


__all__ = ["REGISTRY", "Importer", "IngestResult", "importers", "register", "run"]
