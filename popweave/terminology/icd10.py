"""ICD-10-CM codes: validity, official descriptions and formatting.

Thin wrappers over the maintained package ``simple-icd-10-cm``, which ships the CMS ICD-10-CM
tabular list (the release it carries is given by :func:`release`). Codes are written the way
the canonical model stores them: upper case, with the dot after the third character
(``E11.9``, ``W19.XXXA``); three-character categories have no dot (``I10``).

The package reads its data (about two seconds) the first time a function here is called, not
when this module is imported.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from typing import Any

PACKAGE = "simple-icd-10-cm"


@cache
def _cm() -> Any:
    with warnings.catch_warnings():
        # The package reads its data files through a deprecated importlib.resources call.
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("simple_icd_10_cm")


def release() -> str:
    """The package and version the ICD-10-CM data come from, e.g. ``simple-icd-10-cm 1.5.0``."""
    return f"{PACKAGE} {metadata.version(PACKAGE)}"


def normalise(code: str) -> str:
    """``code`` upper case, without spaces, with the dot after the third character.

    Purely textual (works for invalid codes too): ``" e119 "`` -> ``"E11.9"``,
    ``"i10"`` -> ``"I10"``, ``"E11.9"`` -> ``"E11.9"``.
    """
    bare = "".join(code.split()).upper().replace(".", "")
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def is_valid(code: str) -> bool:
    """True if ``code`` (after :func:`normalise`) is an ICD-10-CM category or code.

    Chapters and blocks (``I10-I1A``) are not codes. Use :func:`is_billable` to require a code
    with no subdivisions, the level claims must carry.
    """
    n = normalise(code)
    return bool(n) and bool(_cm().is_valid_item(n)) and bool(_cm().is_category_or_subcategory(n))


def is_billable(code: str) -> bool:
    """True if ``code`` is a valid ICD-10-CM code with no subdivisions (billable)."""
    return is_valid(code) and bool(_cm().is_leaf(normalise(code)))


def describe(code: str) -> str | None:
    """The official description of ``code``, or None if it is not a valid ICD-10-CM code."""
    if not is_valid(code):
        return None
    return str(_cm().get_description(normalise(code)))


@cache
def _billable_codes() -> tuple[str, ...]:
    cm = _cm()
    return tuple(c for c in cm.get_all_codes(with_dots=True) if _is_code(c) and cm.is_leaf(c))


def _is_code(item: str) -> bool:
    return bool(_cm().is_category_or_subcategory(item))


def _bare(code: str) -> str:
    return normalise(code).replace(".", "")


def _matcher(spec: str) -> tuple[str, str] | str:
    """A prefix (``E11``, ``I70.2``) or an inclusive range of categories (``O00-O9A``)."""
    if "-" in spec:
        low, high = (normalise(p) for p in spec.split("-", 1))
        for end in (low, high):
            if not (len(end) == 3 and _cm().is_valid_item(end) and _cm().is_category(end)):
                raise ValueError(f"range {spec!r}: {end!r} is not an ICD-10-CM category")
        if low > high:
            raise ValueError(f"range {spec!r} runs backwards")
        return (low, high)
    if not is_valid(spec):
        raise ValueError(f"{spec!r} is not an ICD-10-CM category or code")
    return _bare(spec)


def _matches(code: str, matcher: tuple[str, str] | str) -> bool:
    if isinstance(matcher, tuple):
        return matcher[0] <= code[:3] <= matcher[1]
    return code.replace(".", "").startswith(matcher)


def expand(include: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Every billable ICD-10-CM code under ``include`` and not under ``exclude``, in list order.

    Each entry is a category or subcategory prefix (``E11``, ``I70.2``, ``N18.6``) or an
    inclusive range of three-character categories (``I20-I25``, ``O00-O9A``). Raises
    ValueError for an entry that is not a valid ICD-10-CM category or code.
    """
    inc = [_matcher(s) for s in include]
    exc = [_matcher(s) for s in exclude]
    return [
        c
        for c in _billable_codes()
        if any(_matches(c, m) for m in inc) and not any(_matches(c, m) for m in exc)
    ]


__all__ = ["describe", "expand", "is_billable", "is_valid", "normalise", "release"]
