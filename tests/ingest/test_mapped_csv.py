"""The mapped-CSV importer: any CSV into one canonical table through a YAML mapping.

Success: the shipped example roster loads; value maps, constants, defaults, date formats,
another delimiter and encoding work; re-running is skipped. Failure: bad rows (unreadable
date, unmapped value, missing required value, broken CSV line) are quarantined with file,
line, field and reason while the good rows load; a broken mapping file is one clear line
naming the file and the key, through the API and the command line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from popweave.errors import PopweaveError
from popweave.ingest import importers, run
from popweave.ingest.mapped_csv import MappedCsvImporter, load_mapping
from popweave.model import quarantine
from popweave.warehouse import open_engine
from tests.ingest._cli import cli

EXAMPLES = Path(__file__).parents[2] / "popweave" / "ingest" / "examples"
ROSTER, ROSTER_MAP = EXAMPLES / "patient_roster.csv", EXAMPLES / "patient_roster.yaml"


def ingest(tmp: Path, csv: Path, mapping: Path) -> tuple[dict[str, int], dict[str, int]]:
    with open_engine("duckdb:///w.duckdb", tmp) as eng:
        r = run(MappedCsvImporter(csv, mapping=mapping), eng, quarantine_dir=tmp / "q").report
    assert r is not None
    return r.accepted, r.rejected


def sql(tmp: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(tmp / "w.duckdb"), read_only=True)
    try:
        return con.sql(query).fetchall()
    finally:
        con.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_registered_under_its_name() -> None:
    assert importers()["mapped_csv"] is MappedCsvImporter


def test_example_roster_loads(tmp_path: Path) -> None:
    accepted, rejected = ingest(tmp_path, ROSTER, ROSTER_MAP)
    assert accepted == {"person": 5} and rejected == {"person": 0}
    rows = sql(
        tmp_path,
        "select person_id, birth_date::varchar, sex, race, ethnicity, language, zip "
        "from person order by 1",
    )
    assert rows[0] == ("100234", "1958-03-14", "female", "white", "hispanic", "es", "07102")
    assert rows[3] == ("100237", "1975-01-01", "other", "unknown", "unknown", "en", "07105")
    assert rows[4][5] == "en"  # blank Language: the mapping's default


def test_bad_rows_are_quarantined_and_good_rows_load(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "roster.csv",
        "MRN,Last Name,First Name,DOB,Gender,Race,Hispanic,ZIP Code,Language,Clinic\n"
        "1,A,a,03/14/1958,F,White,Y,07102,English,\n"  # line 2: good
        "2,B,b,13/45/1990,M,White,N,07102,English,\n"  # line 3: impossible date
        "3,C,c,01/02/1990,Q,White,N,07102,English,\n"  # line 4: sex Q is not mapped
        ",D,d,01/02/1990,F,White,N,07102,English,\n"  # line 5: no MRN (required)
        "\n"  # line 6: blank, skipped
        "6,E,e,01/02/1990,F,White,N,07102\n"  # line 7: too few fields
        "7,F,f,01/02/1990,M,,,07102,,\n",  # line 8: good (optional blanks)
    )
    accepted, rejected = ingest(tmp_path, csv, ROSTER_MAP)
    assert accepted == {"person": 2}
    assert rejected == {"person": 4}
    q = quarantine.read(tmp_path / "q").to_pylist()
    got = sorted((x["line"], x["field"], x["reason"], x["value"]) for x in q)
    assert got == [
        (3, "birth_date", "wrong_type", "13/45/1990"),
        (4, "sex", "unmapped_value", "Q"),
        (5, "person_id", "missing_required", None),
        (7, None, "unparsable_record", None),
    ]
    assert {x["file"] for x in q} == {str(csv)}
    assert all(x["record"] for x in q)
    assert sql(tmp_path, "select person_id from person order by 1") == [("1",), ("7",)]


def test_encounters_with_tabs_latin1_constants_and_datetime_format(tmp_path: Path) -> None:
    # A person first (encounters reference people), then visits from a tab-separated,
    # Latin-1 file with US date-times and a constant class.
    ingest(tmp_path, ROSTER, ROSTER_MAP)
    visits = write(
        tmp_path / "visits.tsv",
        "Visit\tPatient\tWhen\tLeft\tNote\n"
        "Vé1\t100234\t03/01/2023 08:15\t03/01/2023 09:00\tcafé\n"
        "Vè2\t100235\t2023-03-02\t\tcrème\n",  # line 3: not in the mapping's format
        encoding="latin-1",
    )
    mapping = write(
        tmp_path / "visits.yaml",
        "source: ED visit log (tab-separated, Latin-1)\n"
        "table: encounter\n"
        "delimiter: tab\n"
        "encoding: latin-1\n"
        'datetime_format: "%m/%d/%Y %H:%M"\n'
        "columns:\n"
        "  encounter_id: Visit\n"
        "  person_id: Patient\n"
        "  start_time: When\n"
        "  end_time: Left\n"
        "  encounter_class: {constant: emergency}\n",
    )
    accepted, rejected = ingest(tmp_path, visits, mapping)
    assert accepted == {"encounter": 1} and rejected == {"encounter": 1}
    assert sql(
        tmp_path, "select encounter_id, encounter_class, start_time::varchar from encounter"
    ) == [("Vé1", "emergency", "2023-03-01 08:15:00")]
    (bad,) = [x for x in quarantine.read(tmp_path / "q").to_pylist() if x["line"] == 3]
    assert (bad["field"], bad["reason"], bad["value"]) == ("start_time", "wrong_type", "2023-03-02")
    assert '"Vè2"' in bad["record"]  # the source row (its mapped columns), decoded


def test_values_keep_yaml_words_as_text(tmp_path: Path) -> None:
    # yes / no / 01 are text in a mapping, as they are in the CSV.
    csv = write(tmp_path / "p.csv", "id,born,male\n01,1970-01-01,yes\n02,1971-01-01,no\n")
    mapping = write(
        tmp_path / "p.yaml",
        "source: test\ntable: person\ncolumns:\n  person_id: id\n  birth_date: born\n"
        "  sex: {column: male, values: {yes: male, no: female}}\n",
    )
    assert ingest(tmp_path, csv, mapping)[0] == {"person": 2}
    assert sql(tmp_path, "select person_id, sex from person order by 1") == [
        ("01", "male"),
        ("02", "female"),
    ]


def test_rerun_is_skipped_but_a_changed_mapping_is_a_new_load(tmp_path: Path) -> None:
    ingest(tmp_path, ROSTER, ROSTER_MAP)
    with open_engine("duckdb:///w.duckdb", tmp_path) as eng:
        again = run(MappedCsvImporter(ROSTER, mapping=ROSTER_MAP), eng, quarantine_dir=None)
    assert again.report is None and again.skipped_as
    changed = write(tmp_path / "m.yaml", ROSTER_MAP.read_text() + "# edited\n")
    with open_engine("duckdb:///w.duckdb", tmp_path) as eng:
        third = run(MappedCsvImporter(ROSTER, mapping=changed), eng, quarantine_dir=tmp_path / "q")
    assert third.report is not None
    assert third.report.rejected == {"person": 5}  # same people again: duplicate_id
    assert sql(tmp_path, "select count(*) from person") == [(5,)]


def test_progress_counts_every_input_byte(tmp_path: Path) -> None:
    importer = MappedCsvImporter(ROSTER, mapping=ROSTER_MAP)
    seen: list[int] = []
    with open_engine("duckdb:///w.duckdb", tmp_path) as eng:
        run(importer, eng, quarantine_dir=None, progress=seen.append)
    assert sum(seen) == ROSTER.stat().st_size + ROSTER_MAP.stat().st_size


# --- mapping-file errors ------------------------------------------------------------------------

GOOD = (
    "source: roster\ntable: person\ncolumns:\n  person_id: MRN\n  birth_date: DOB\n"
    "  sex: {column: Gender, values: {F: female, M: male}}\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "  birthdate: DOB\n", "columns.birthdate: 'birthdate' is not a column of person"),
        (GOOD.replace("  birth_date: DOB\n", ""), "columns: required column(s) of person not"),
        (GOOD.replace("table: person", "table: patients"), "table: unknown table 'patients'"),
        (GOOD.replace("source: roster\n", ""), "source: missing (required)"),
        (GOOD + "  zip: {column: ZIP, constant: x}\n", "columns.zip: give exactly one of"),
        (GOOD + "  zip: {col: ZIP}\n", "columns.zip.col: unknown key"),
        (GOOD + "delimiter: ';;'\n", "delimiter: must be one character"),
        (GOOD + "encoding: klingon\n", "encoding: unknown encoding 'klingon'"),
        (GOOD + "  zip: {column: ZIP, format: '%Y'}\n", "columns.zip.format: zip is not a date"),
        ("source: [unclosed\n", "not valid YAML at line"),
        ("- a list\n", "a mapping file is a YAML mapping"),
    ],
)
def test_mapping_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "map.yaml", text)
    with pytest.raises(PopweaveError) as err:
        load_mapping(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and message in msg, msg
    assert "\n" not in msg


def test_unknown_source_column_is_named(tmp_path: Path) -> None:
    mapping = write(tmp_path / "map.yaml", GOOD.replace("Gender", "Sex"))
    with pytest.raises(PopweaveError) as err:
        MappedCsvImporter(ROSTER, mapping=mapping).check()
    msg = str(err.value)
    assert msg.startswith(f"{mapping}: columns.sex: source column 'Sex' is not in the header")
    assert "Gender" in msg  # the header is shown


def test_missing_mapping_option_or_file(tmp_path: Path) -> None:
    with pytest.raises(PopweaveError, match="needs a column mapping: --mapping"):
        MappedCsvImporter(ROSTER).check()
    with pytest.raises(PopweaveError, match="mapping file not found"):
        MappedCsvImporter(ROSTER, mapping=tmp_path / "nope.yaml").check()
    with pytest.raises(PopweaveError, match="no such file"):
        MappedCsvImporter(tmp_path / "nope.csv", mapping=ROSTER_MAP).check()


# --- the command line ---------------------------------------------------------------------------


def test_cli_ingest_csv_end_to_end(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert cli("init", ws, cwd=tmp_path).returncode == 0
    res = cli("ingest", "csv", ROSTER, "--mapping", ROSTER_MAP, "--workspace", ws, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "person" in res.stdout and "quarantined" not in res.stdout
    again = cli("ingest", "csv", ROSTER, "--mapping", ROSTER_MAP, "--workspace", ws, cwd=tmp_path)
    assert again.returncode == 0 and "was loaded before" in again.stdout
    for args, expected in [
        ((), "needs a column mapping"),
        (("--mapping", write(tmp_path / "bad.yaml", GOOD + "  nope: X\n")), "columns.nope"),
    ]:
        bad = cli("ingest", "csv", ROSTER, *args, "--workspace", ws, cwd=tmp_path)
        assert bad.returncode != 0
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], bad.stderr
        assert "Traceback" not in bad.stderr
