"""Claim lines: one professional/facility claim per encounter plus lab and procedure lines,
and one pharmacy claim per fill, priced by service and payer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from popweave.synth import _vec as v
from popweave.synth.clinical import OBS_KEYS, Rows
from popweave.synth.codes import CPT, DRUGS
from popweave.synth.coverage import (
    COMMERCIAL,
    DUAL,
    MEDICAID,
    MEDICARE,
    PAYERS,
    UNINSURED,
    Coverage,
)
from popweave.synth.utilisation import (
    AMBULATORY,
    EMERGENCY,
    FOLLOWUP_7,
    FOLLOWUP_30,
    INPATIENT,
    Encounters,
)

# Medicare-like allowed amounts in USD (CMS Physician Fee Schedule 2024 national rates for
# E/M and labs, rounded; ED and inpatient include facility payment: HCUP 2019 mean cost per
# stay ~ $13,000 over 4.6 days; HCCI 2021 average ED visit ~ $1,200-2,200).
PRICE = {
    "office_low": 92.0, "office_mod": 131.0, "child_preventive": 120.0,
    "ed_low": 900.0, "ed_mod": 1500.0, "ed_high": 2400.0,
    "inpatient_day": 2800.0, "tcm_7": 275.0, "tcm_14": 200.0,
    "hba1c": 13.0, "lipid_panel": 19.0, "creatinine": 7.0,
    "mammography": 140.0, "colonoscopy": 700.0, "fit": 20.0, "eye_exam": 45.0, "med_rec": 0.0,
}  # fmt: skip
# Price level relative to Medicare (RAND 2022: private insurers pay ~ 1.4-2.2x Medicare;
# Medicaid pays ~ 0.75x: KFF Medicaid-to-Medicare fee index 2019). Uninsured: list charges.
LEVEL_BY_PAYER = {MEDICARE: 1.0, MEDICAID: 0.75, DUAL: 1.0, COMMERCIAL: 1.45, UNINSURED: 2.0}
# Share of the allowed amount the payer pays (the rest is cost sharing); self-pay: nothing.
PAID_BY_PAYER = {MEDICARE: 0.80, MEDICAID: 0.97, DUAL: 0.97, COMMERCIAL: 0.82, UNINSURED: 0.0}
PAYER_LEVEL = np.array([LEVEL_BY_PAYER[i] for i in range(len(PAYERS))])
PAID_SHARE = np.array([PAID_BY_PAYER[i] for i in range(len(PAYERS))])

# ED visits are billed at one of three levels (share of visits at each).
ED_LEVELS = ("ed_low", "ed_mod", "ed_high")
ED_LEVEL_SHARE = (0.35, 0.45, 0.20)
# Allowed amounts carry log-normal noise (SD of the log): stays, other lines, pharmacy fills.
NOISE_SD_INPATIENT, NOISE_SD_OTHER, NOISE_SD_PHARMACY = 0.35, 0.15, 0.1

SERVICES = tuple(PRICE) + tuple(f"rx:{k}" for k in DRUGS)
LAB_SERVICE = {"hba1c": "hba1c", "egfr": "creatinine", "ldl": "lipid_panel"}
PROC_SERVICE = ("mammography", "colonoscopy", "fit", "eye_exam", "med_rec")


def claim_lines(
    rng: np.random.Generator,
    enc: Encounters,
    obs: Rows,
    procs: Rows,
    meds: Rows,
    cov: Coverage,
    chronic_dx: np.ndarray,
    child_dx: int,
    chunk_rows: int = 1_000_000,
) -> Iterator[pa.Table]:
    """All claim lines, sorted by claim and line number, in chunks of ``chunk_rows``."""
    svc = {name: i for i, name in enumerate(SERVICES)}
    # Line 1 of each encounter's claim: the visit or stay itself.
    main = _main_services(enc, chronic_dx, child_dx)
    ed = enc.cls == EMERGENCY
    main[ed] = np.array([svc[k] for k in ED_LEVELS])[
        rng.choice(len(ED_LEVELS), ed.sum(), p=list(ED_LEVEL_SHARE))
    ]
    e, s, u = _encounter_lines(enc, obs, procs, main)
    order = np.lexsort((s, e))
    e, s, u = e[order], s[order], u[order]
    line = v.rank_within(e) + 1

    person = enc.person[e]
    day = enc.start_day[e]
    payer = cov.payer_on(person, day)
    prices = np.array([PRICE.get(name, 0.0) for name in SERVICES])
    noise_sd = np.where(enc.cls[e] == INPATIENT, NOISE_SD_INPATIENT, NOISE_SD_OTHER)
    allowed = prices[s] * u * PAYER_LEVEL[payer] * np.exp(rng.normal(0, 1, len(e)) * noise_sd)
    pos = np.select([enc.cls[e] == AMBULATORY, enc.cls[e] == EMERGENCY], [0, 2], 1)
    codes = [CPT.get(name, "") for name in SERVICES]
    for lo in range(0, len(e), chunk_rows):
        c = slice(lo, lo + chunk_rows)
        yield _table(
            claim_id=v.take_ids("K", e[c] + 1),
            line=line[c],
            person=person[c],
            encounter=v.take_ids("E", e[c] + 1),
            day=day[c],
            payer=payer[c],
            system=np.zeros(len(e[c]), np.int8),
            code=v.labels(codes, s[c]),
            dx=v.labels(enc.dx_codes.codes, enc.dx[e[c]]),
            pos=v.labels(("11", "21", "23"), pos[c]),
            allowed=allowed[c],
            paid_share=PAID_SHARE[payer[c]],
        )

    # Pharmacy claims: one per fill.
    m = meds.n
    mpayer = cov.payer_on(meds.cols["person"], meds.cols["day"])
    drug_price = np.array([DRUGS[k][2] for k in DRUGS], dtype=np.float64)
    mallowed = (
        drug_price[meds.cols["drug"]]
        * PAYER_LEVEL[mpayer]
        * np.exp(rng.normal(0, NOISE_SD_PHARMACY, m))
    )
    drug_codes = [d[0] for d in DRUGS.values()]
    for lo in range(0, m, chunk_rows):
        c = slice(lo, min(lo + chunk_rows, m))
        k = c.stop - c.start
        yield _table(
            claim_id=v.ids("RX", k, lo + 1),
            line=np.ones(k, np.int64),
            person=meds.cols["person"][c],
            encounter=pa.nulls(k, pa.string()),
            day=meds.cols["day"][c],
            payer=mpayer[c],
            system=np.ones(k, np.int8),
            code=v.labels(drug_codes, meds.cols["drug"][c]),
            dx=pa.nulls(k, pa.string()),
            pos=v.labels(("01",), np.zeros(k, np.int8)),
            allowed=mallowed[c],
            paid_share=PAID_SHARE[mpayer[c]],
        )


def _main_services(enc: Encounters, chronic_dx: np.ndarray, child_dx: int) -> np.ndarray:
    """Service of line 1 of each encounter's claim (ED visits: ``ed_mod`` until leveled)."""
    svc = {name: i for i, name in enumerate(SERVICES)}
    main = np.full(enc.n, svc["office_low"], dtype=np.int16)
    main[np.isin(enc.dx, chronic_dx)] = svc["office_mod"]
    main[enc.dx == child_dx] = svc["child_preventive"]
    main[enc.kind == FOLLOWUP_7] = svc["tcm_7"]
    main[enc.kind == FOLLOWUP_30] = svc["office_mod"]
    main[enc.cls == EMERGENCY] = svc["ed_mod"]
    main[enc.cls == INPATIENT] = svc["inpatient_day"]
    return main


def _encounter_lines(
    enc: Encounters, obs: Rows, procs: Rows, main: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(encounter, service, units) of every encounter claim line, unsorted: the visit or
    stay itself, a lab line per laboratory observation, a line per procedure at a visit."""
    svc = {name: i for i, name in enumerate(SERVICES)}
    ip = enc.cls == INPATIENT
    enc_idx = [np.arange(enc.n)]
    service = [main]
    unit_parts = [np.where(ip, enc.end_day - enc.start_day + 1, 1).astype(np.float64)]
    lab_key = np.array([svc.get(LAB_SERVICE.get(k, ""), -1) for k in OBS_KEYS])
    lab = lab_key[obs.cols["key"]]
    is_lab = lab >= 0
    enc_idx.append(obs.cols["enc"][is_lab])
    service.append(lab[is_lab].astype(np.int16))
    unit_parts.append(np.ones(is_lab.sum()))
    at_enc = procs.cols["enc"] >= 0
    proc_svc = np.array([svc[s] for s in PROC_SERVICE], dtype=np.int16)
    enc_idx.append(procs.cols["enc"][at_enc])
    service.append(proc_svc[procs.cols["proc"][at_enc]])
    unit_parts.append(np.ones(at_enc.sum()))
    return np.concatenate(enc_idx), np.concatenate(service), np.concatenate(unit_parts)


def expected_cost(
    enc: Encounters,
    obs: Rows,
    procs: Rows,
    meds: Rows,
    cov: Coverage,
    chronic_dx: np.ndarray,
    child_dx: int,
    lo: int,
    hi: int,
) -> tuple[float, float]:
    """Expected total (allowed, paid) of the claim lines :func:`claim_lines` writes with a
    service date in [lo, hi] on a covered day, given the services: the ED level and the
    log-normal price noise are averaged out (paid before rounding to cents)."""
    svc = {name: i for i, name in enumerate(SERVICES)}
    prices = np.array([PRICE.get(name, 0.0) for name in SERVICES])
    main = _main_services(enc, chronic_dx, child_dx)
    ed_price = float(np.dot([PRICE[k] for k in ED_LEVELS], ED_LEVEL_SHARE))
    price_of = prices.copy()
    price_of[svc["ed_mod"]] = ed_price  # the placeholder stands for the mix of ED levels
    e, s, u = _encounter_lines(enc, obs, procs, main)
    # ED placeholder only on main lines: procedure/lab lines never use the ED services.
    day = enc.start_day[e]
    keep = (day >= lo) & (day <= hi)
    e, s, u, day = e[keep], s[keep], u[keep], day[keep]
    payer = cov.payer_on(enc.person[e], day)
    noise = np.where(
        enc.cls[e] == INPATIENT,
        np.exp(NOISE_SD_INPATIENT**2 / 2),
        np.exp(NOISE_SD_OTHER**2 / 2),
    )
    allowed = price_of[s] * u * PAYER_LEVEL[payer] * noise * (payer != UNINSURED)
    mday = meds.cols["day"]
    mk = (mday >= lo) & (mday <= hi)
    mpayer = cov.payer_on(meds.cols["person"][mk], mday[mk])
    drug_price = np.array([DRUGS[k][2] for k in DRUGS], dtype=np.float64)
    mallowed = (
        drug_price[meds.cols["drug"][mk]]
        * PAYER_LEVEL[mpayer]
        * np.exp(NOISE_SD_PHARMACY**2 / 2)
        * (mpayer != UNINSURED)
    )
    total = float(allowed.sum() + mallowed.sum())
    paid = float((allowed * PAID_SHARE[payer]).sum() + (mallowed * PAID_SHARE[mpayer]).sum())
    return total, paid


def _table(
    *,
    claim_id: pa.Array,
    line: np.ndarray,
    person: np.ndarray,
    encounter: pa.Array,
    day: np.ndarray,
    payer: np.ndarray,
    system: np.ndarray,
    code: pa.Array,
    dx: pa.Array,
    pos: pa.Array,
    allowed: np.ndarray,
    paid_share: np.ndarray,
) -> pa.Table:
    cents = np.round(allowed * 100).astype(np.int64)
    paid = np.round(cents * paid_share).astype(np.int64)
    return pa.table(
        {
            "claim_id": claim_id,
            "line_number": pa.array(line.astype(np.int64)),
            "person_id": v.take_ids("P", person + 1),
            "encounter_id": encounter,
            "service_date": v.dates(day),
            "payer": v.labels(PAYERS, payer),
            "code_system": v.labels(("CPT", "RXNORM"), system),
            "code": code,
            "diagnosis_code": dx,
            "place_of_service": pos,
            "allowed_amount": _money(cents),
            "paid_amount": _money(paid),
        }
    )


def _money(cents: np.ndarray) -> pa.Array:
    """DECIMAL(14,2) from integer cents, exactly."""
    buf = pa.py_buffer(_cents_to_dec128(cents))
    return pa.Array.from_buffers(pa.decimal128(14, 2), len(cents), [None, buf])


def _cents_to_dec128(cents: np.ndarray) -> bytes:
    """Little-endian 128-bit two's complement of each value (decimal scale 2 = cents)."""
    out = np.zeros((len(cents), 2), dtype=np.int64)
    out[:, 0] = cents
    out[:, 1] = np.where(cents < 0, -1, 0)
    return out.tobytes()
