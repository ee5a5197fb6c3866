"""YAML for definitions, keeping the line of every mapping key so errors can name it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from popweave.errors import SpecError


class Located(dict[str, Any]):
    """A mapping read from YAML that remembers its file and the line of each key."""

    file: str = "<string>"
    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"

    def fail(self, message: str, key: str | None = None) -> SpecError:
        return SpecError(f"{self.where(key)}: {message}")


class LocatedList(list[Any]):
    file: str = "<string>"
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    out = Located()
    out.file = loader.name
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key = str(key)
        if key in out:
            raise SpecError(f"{loader.name}:{key_node.start_mark.line + 1}: {key!r} given twice")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    out = LocatedList(loader.construct_object(n, deep=True) for n in node.value)
    out.file = loader.name
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


# Dates stay text, so that a bad one is reported with its line instead of failing the parse.
def _text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _text)


def load_text(text: str, name: str = "<string>") -> Located:
    """Parse one YAML document whose top level is a mapping."""
    loader = _Loader(text)
    loader.name = name
    try:
        doc = loader.get_single_data()
    except SpecError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise SpecError(f"{name}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(doc, Located):
        raise SpecError(f"{name}:1: expected a mapping of fields at the top level")
    return doc


def load_file(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_text(text, str(path))


def check_keys(
    node: Located, allowed: set[str] | list[str], what: str, required: tuple[str, ...] = ()
) -> None:
    """Unknown keys and missing required keys are errors that suggest the closest name."""
    for key in node:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(allowed))
            raise node.fail(f"unknown field {key!r} in {what}{hint}; known: {known}", key)
    for key in required:
        if key not in node:
            raise node.fail(f"{what} needs {key!r}")
