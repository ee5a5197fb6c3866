"""Value sets: load, valid codes, no drift from index.yaml, cover what the synthetic city emits."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from popweave.model.tables import CODE_SYSTEMS as MODEL_CODE_SYSTEMS
from popweave.synth.codes import ANSWERS, CPT, DRUGS, EXACERBATION, INPATIENT_REASONS, LOINC
from popweave.synth.params import CONDITIONS
from popweave.terminology import (
    UnknownValueSet,
    ValueSet,
    all_valuesets_arrow,
    icd10,
    valueset,
    valueset_names,
)
from popweave.terminology.valuesets import CODE_SYSTEMS, expected_codes, render_docs, to_csv

DOCS = Path(__file__).resolve().parents[2] / "docs" / "valuesets.md"
DATA = Path(icd10.__file__).parent / "data" / "valuesets"

REQUIRED = {
    "diabetes", "hypertension", "heart_failure", "copd", "asthma", "ckd", "depression",
    "ascvd", "obesity", "esrd", "pregnancy", "hospice_palliative", "advanced_illness_frailty",
    "bilateral_mastectomy", "colorectal_cancer", "total_colectomy", "hba1c_test",
    "hba1c_result", "systolic_bp", "diastolic_bp", "mammography", "colonoscopy", "fobt",
    "flexible_sigmoidoscopy", "ct_colonography", "stool_dna", "diabetic_eye_exam", "med_rec",
    "tcm", "outpatient_visit", "ed_visit", "inpatient_visit", "statins",
    "planned_readmission_always", "planned_readmission_procedures",
    "acute_readmission_diagnoses", "sdoh_transport", "sdoh_food", "sdoh_housing",
    "sdoh_positive_answers",
}  # fmt: skip

# Synthetic-city condition name -> the value set its codes must land in.
CONDITION_SET = {"cad": "ascvd"}


def test_every_required_set_exists_and_loads() -> None:
    names = valueset_names()
    assert names == sorted(names)
    assert set(names) >= REQUIRED, REQUIRED - set(names)
    for name in names:
        vs = valueset(name)
        assert isinstance(vs, ValueSet)
        assert vs.name == name and vs.description and vs.source
        assert vs.codes, name


def test_code_systems_are_the_models() -> None:
    assert set(CODE_SYSTEMS) <= set(MODEL_CODE_SYSTEMS)
    for name in valueset_names():
        assert valueset(name).systems() <= set(CODE_SYSTEMS), name


def test_codes_unique_and_described_per_set() -> None:
    for name in valueset_names():
        vs = valueset(name)
        keys = [(c.code_system, c.code) for c in vs.codes]
        assert len(keys) == len(set(keys)), name
        for c in vs.codes:
            assert c.code == c.code.strip() and c.code, (name, c)
            assert c.description.strip(), (name, c)


def test_every_icd10cm_code_is_billable_with_its_official_description() -> None:
    for name in valueset_names():
        for c in valueset(name).codes:
            if c.code_system != "ICD10CM":
                continue
            assert icd10.is_billable(c.code), (name, c.code)
            assert c.code == icd10.normalise(c.code), (name, c.code)  # stored with the dot
            assert c.description == icd10.describe(c.code), (name, c.code)


def test_csvs_equal_a_fresh_regeneration() -> None:
    for name in valueset_names():
        shipped = (DATA / f"{name}.csv").read_text(encoding="utf-8")
        assert shipped == to_csv(expected_codes(name)), f"{name}.csv drifted; run build_valuesets"
    assert {p.stem for p in DATA.glob("*.csv")} == set(valueset_names())


def test_regeneration_drops_hand_edited_icd_rows(tmp_path: Path) -> None:
    from popweave.terminology.valuesets import Code

    with pytest.raises(ValueError, match="generated"):
        expected_codes("hba1c_test", hand=[Code("ICD10CM", "E11.9", "x")])
    with pytest.raises(ValueError, match="malformed"):
        expected_codes("hba1c_test", hand=[Code("CPT", "8303", "x")])


def test_docs_are_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_docs(), "run scripts/build_valuesets.py"
    for name in valueset_names():
        assert f"`{name}`" in DOCS.read_text(encoding="utf-8")


def test_synthetic_city_condition_codes_land_in_their_sets() -> None:
    for cond in CONDITIONS:
        target = valueset(CONDITION_SET.get(cond.name, cond.name))
        assert cond.icd10 in target.codes_for("ICD10CM"), (cond.name, cond.icd10)
        exac = EXACERBATION[cond.name]
        assert exac in target.codes_for("ICD10CM"), (cond.name, exac)


def test_synthetic_city_services_land_in_their_sets() -> None:
    cpt = {
        "hba1c_test": ["hba1c"],
        "mammography": ["mammography"],
        "colonoscopy": ["colonoscopy"],
        "fobt": ["fit"],
        "diabetic_eye_exam": ["eye_exam"],
        "med_rec": ["med_rec", "tcm_7", "tcm_14"],
        "tcm": ["tcm_7", "tcm_14"],
        "outpatient_visit": ["office_low", "office_mod", "child_preventive"],
        "ed_visit": ["ed_low", "ed_mod", "ed_high"],
        "inpatient_visit": ["inpatient_initial"],
    }
    for name, keys in cpt.items():
        for k in keys:
            assert CPT[k] in valueset(name).codes_for("CPT"), (name, k)
    loinc = {
        "systolic_bp": "systolic",
        "diastolic_bp": "diastolic",
        "hba1c_result": "hba1c",
        "hba1c_test": "hba1c",
        "sdoh_transport": "transport",
        "sdoh_food": "food",
        "sdoh_housing": "housing",
    }
    for name, k in loinc.items():
        assert LOINC[k][0] in valueset(name).codes_for("LOINC"), (name, k)
    positive = valueset("sdoh_positive_answers").codes_for("LOINC")
    for answers in ANSWERS.values():
        (yes, _), (no, _) = answers
        assert yes in positive and no not in positive
    assert DRUGS["statin"][0] in valueset("statins").codes_for("RXNORM")
    acute = valueset("acute_readmission_diagnoses").codes_for("ICD10CM")
    for code in ("J18.9", "A41.9", "N17.9"):
        assert code in acute and code in dict(INPATIENT_REASONS)


def test_crosswalk_snomed_codes_follow_their_icd_codes() -> None:
    diabetes = valueset("diabetes")
    assert "44054006" in diabetes.codes_for("SNOMED")  # Diabetes mellitus type 2 -> E11.9
    assert "59621000" in valueset("hypertension").codes_for("SNOMED")  # Hypertension -> I10
    assert "46177005" in valueset("esrd").codes_for("SNOMED")  # ESRD -> N18.6
    assert "SNOMED" not in valueset("obesity").systems() or all(
        c != "E66.3" for c in valueset("obesity").codes_for("ICD10CM")
    )


def test_unknown_valueset_names_close_matches() -> None:
    with pytest.raises(UnknownValueSet) as err:
        valueset("diabetis")
    assert isinstance(err.value, KeyError)
    assert "diabetes" in str(err.value)
    assert err.value.close_matches[0] == "diabetes"
    with pytest.raises(KeyError, match="known"):
        valueset("zzzzzz")


def test_arrow_tables() -> None:
    t = valueset("statins").to_arrow()
    assert t.column_names == ["valueset", "code_system", "code", "description"]
    assert set(t["valueset"].to_pylist()) == {"statins"}
    allv = all_valuesets_arrow()
    assert allv.schema == t.schema
    assert all(f.type == pa.string() for f in allv.schema)
    assert allv.num_rows == sum(len(valueset(n).codes) for n in valueset_names())


def test_value_set_accessors() -> None:
    vs = valueset("hba1c_test")
    assert vs.systems() == {"LOINC", "CPT"}
    assert "83036" in vs.codes_for("CPT") and "3044F" in vs.codes_for("CPT")
    assert vs.codes_for("RXNORM") == []
    assert "I10" in valueset("hypertension").codes_for("ICD10CM")
    assert valueset("essential_hypertension").codes_for("ICD10CM") == ["I10"]
    assert "E66.3" not in valueset("obesity").codes_for("ICD10CM")


def test_icd10_helpers() -> None:
    assert icd10.normalise(" e119 ") == "E11.9"
    assert icd10.normalise("i10") == "I10"
    assert icd10.normalise("W19.xxxa") == "W19.XXXA"
    assert icd10.is_valid("E11") and not icd10.is_billable("E11")
    assert icd10.is_valid("e11.9") and icd10.is_billable("E119")
    assert not icd10.is_valid("E11.99") and not icd10.is_valid("I10-I1A") and not icd10.is_valid("")
    assert icd10.describe("I10") == "Essential (primary) hypertension"
    assert icd10.describe("X99.999") is None
    assert icd10.expand(["E66"], ["E66.3"]) == valueset("obesity").codes_for("ICD10CM")
    assert icd10.expand(["I10-I1A"])[0] == "I10"
    with pytest.raises(ValueError):
        icd10.expand(["E99.99"])
    with pytest.raises(ValueError):
        icd10.expand(["I25-I20"])
