"""The exporter contract and its registry: the warehouse written back out in a source format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from popweave.warehouse import Engine


class Exporter(ABC):
    """Writes the warehouse's canonical tables to ``out`` in one format.

    ``write`` reads through the engine in chunks (never the whole warehouse in memory), writes
    files atomically (temp name, then rename) and returns the files it wrote with row counts.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def write(
        self, engine: Engine, out: Path, progress: Callable[[str, int], None] | None = None
    ) -> dict[Path, int]: ...


REGISTRY: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make an exporter available to ``popweave export``."""
    REGISTRY[cls.name] = cls
    return cls
