"""Measure specs: the shipped library loads; mistakes are reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from popweave import measures
from popweave.errors import SpecError
from popweave.measures.run import logic_registry
from popweave.measures.spec import LIBRARY, load_specs

REQUIRED = {
    "hba1c_poor_control",
    "hba1c_control",
    "controlling_bp",
    "breast_cancer_screening",
    "colorectal_screening",
    "diabetic_eye_exam",
    "statin_therapy_cvd",
    "readmission_30d",
    "ed_visits_per_1000",
    "pmpm_cost",
    "followup_7d",
    "followup_30d",
    "med_rec_post_discharge",
}


def test_library_has_every_measure_with_a_source() -> None:
    specs = load_specs(logic_names=set(logic_registry()))
    assert {s.id for s in specs} >= REQUIRED
    for s in specs:
        assert len(s.info.source) > 30, s.id
        assert s.file.startswith(str(LIBRARY))


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.yaml").write_text(text)
    return tmp_path


BASE = """id: m
title: T
kind: proportion
source: somewhere
denominator:
  - age: {min: 18}
numerator:
"""


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (BASE.replace("kind:", "knd:"), 3, "did you mean 'kind'"),
        (BASE + "  - condition: {valueset: diabetis}\n", 8, "diabetes"),
        (BASE + "  - lab: {valueset: hba1c_result, window: {from: 2024-02-30}}\n", 8, "not a date"),
        (BASE + "  - procedure: {valueset: mammography, lookbak: 2y}\n", 8, "'lookback'"),
        (BASE.replace("kind: proportion", "kind: ratio"), 3, "proportion or rate"),
        (BASE + "  - age: {min: 1}\nstratifiers: [age_band, income]\n", 9, "income"),
        (BASE + "  - age: {min: 1}\nlogic: nonsense\n", 9, "not built in"),
        (BASE + "  - cohort: me\n", 8, "unknown cohort"),
        (BASE + "  - age: {min: 1}\nexclusions:\n  Bad Reason: {age: {min: 3}}\n", 10, "reason"),
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, words: str, engine: object
) -> None:
    folder = write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        measures.run(engine, 2024, spec_folders=(folder,), save=False)
    msg = str(exc.value)
    assert msg.startswith(f"{folder / 'm.yaml'}:{line}:"), msg
    assert words in msg, msg


def test_cyclic_cohort_reference_in_a_measure(tmp_path: Path, engine: object) -> None:
    (tmp_path / "a.yaml").write_text("name: a\ncriteria:\n  - cohort: b\n")
    (tmp_path / "b.yaml").write_text("name: b\ncriteria:\n  - cohort: a\n")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "m.yaml").write_text(BASE + "  - cohort: a\n")
    from popweave.cohorts import Library

    with pytest.raises(SpecError, match=r"b.yaml:3: cohort 'a' refers back to itself: a -> b -> a"):
        measures.run(engine, 2024, spec_folders=(specs,), save=False, library=Library(tmp_path))
