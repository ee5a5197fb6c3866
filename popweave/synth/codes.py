"""Codes the generator writes: ICD-10-CM reasons, CPT/HCPCS services, LOINC, RxNorm.

RxNorm codes are those Synthea exports carry (see tests' real Synthea data) where possible.
"""

from __future__ import annotations

# Reasons for ambulatory visits without a chronic focus (ICD-10-CM, FY2024 valid codes).
AMBULATORY_REASONS: tuple[tuple[str, str], ...] = (
    ("Z00.00", "Encounter for general adult medical examination without abnormal findings"),
    ("J06.9", "Acute upper respiratory infection, unspecified"),
    ("M54.50", "Low back pain, unspecified"),
    ("R10.9", "Unspecified abdominal pain"),
    ("Z23", "Encounter for immunization"),
    ("R05.9", "Cough, unspecified"),
)
CHILD_VISIT = (
    "Z00.129",
    "Encounter for routine child health examination without abnormal findings",
)

ED_REASONS: tuple[tuple[str, str], ...] = (
    ("R07.9", "Chest pain, unspecified"),
    ("R10.9", "Unspecified abdominal pain"),
    ("J06.9", "Acute upper respiratory infection, unspecified"),
    ("S93.401A", "Sprain of unspecified ligament of right ankle, initial encounter"),
    ("R51.9", "Headache, unspecified"),
    ("N39.0", "Urinary tract infection, site not specified"),
    ("K08.89", "Other specified disorders of teeth and supporting structures"),
)
INPATIENT_REASONS: tuple[tuple[str, str], ...] = (
    ("J18.9", "Pneumonia, unspecified organism"),
    ("A41.9", "Sepsis, unspecified organism"),
    ("N17.9", "Acute kidney failure, unspecified"),
    ("K80.20", "Calculus of gallbladder without cholecystitis without obstruction"),
    ("S72.001A", "Fracture of unspecified part of neck of right femur, initial encounter"),
)
# Exacerbation codes used when a chronic condition causes the ED visit or stay.
EXACERBATION: dict[str, str] = {
    "heart_failure": "I50.9",
    "copd": "J44.1",
    "asthma": "J45.901",
    "diabetes": "E11.65",
    "cad": "I21.4",
    "hypertension": "I16.9",
    "ckd": "N18.30",
    "depression": "F32.A",
    "obesity": "E66.9",
}

# CPT services (2024 code set).
CPT = {
    "office_low": "99213",
    "office_mod": "99214",
    "child_preventive": "99392",
    "ed_low": "99283",
    "ed_mod": "99284",
    "ed_high": "99285",
    "inpatient_initial": "99223",
    "tcm_7": "99496",
    "tcm_14": "99495",
    "hba1c": "83036",
    "lipid_panel": "80061",
    "creatinine": "82565",
    "mammography": "77067",
    "colonoscopy": "45378",
    "fit": "82274",
    "eye_exam": "92250",
    "med_rec": "1111F",
}

# LOINC codes (and LOINC answer codes) for observations.
LOINC = {
    "systolic": ("8480-6", "Systolic blood pressure", "mm[Hg]"),
    "diastolic": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2"),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%"),
    "egfr": ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted", "mL/min/{1.73_m2}"),
    "ldl": (
        "18262-6",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
        "mg/dL",
    ),
    "transport": (
        "93030-5",
        "Has lack of transportation kept you from medical appointments, "
        "meetings, work, or from getting things needed for daily living?",
        "",
    ),
    "food": ("88124-3", "Food insecurity risk [HVS]", ""),
    "housing": ("93033-9", "Are you worried about losing your housing?", ""),
}
ANSWERS = {
    "transport": (("LA33-6", "Yes"), ("LA32-8", "No")),
    "food": (("LA19952-3", "At risk"), ("LA19983-8", "No risk")),
    "housing": (("LA33-6", "Yes"), ("LA32-8", "No")),
}

# Maintenance drugs per condition (RxNorm SCD codes).
DRUGS: dict[str, tuple[str, str, int]] = {
    # condition: (rxcui, description, unit price per 90-day fill in USD)
    "diabetes": ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", 12),
    "hypertension": ("314076", "lisinopril 10 MG Oral Tablet", 9),
    "statin": ("259255", "Atorvastatin 80 MG Oral Tablet", 15),
    "heart_failure": ("313988", "furosemide 40 MG Oral Tablet", 8),
    "copd": ("2123111", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", 60),
    "asthma": (
        "895994",
        "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        90,
    ),
    "depression": ("312938", "sertraline 50 MG Oral Tablet", 10),
    "cad": ("309362", "Clopidogrel 75 MG Oral Tablet", 14),
}
