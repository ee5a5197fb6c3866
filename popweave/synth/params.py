"""Defaults of the synthetic city, each with the published figure it imitates.

Rates are national US figures; the city spreads them over areas by deprivation. A source line
names where each default comes from; tests check that generated cities land in these ranges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

# Share of the population by 5-year age band, 0-4 ... 80-84, 85+.
# Source: US Census Bureau, 2020 Census Demographic and Housing Characteristics (national).
AGE_BAND_SHARES: tuple[float, ...] = (
    0.057, 0.060, 0.064, 0.065, 0.064, 0.068, 0.069, 0.066, 0.063,
    0.060, 0.062, 0.065, 0.064, 0.055, 0.044, 0.030, 0.019, 0.019,
)  # fmt: skip

FEMALE_SHARE = 0.505  # Census 2020: 50.5% female.

# Race / ethnicity shares (OMB categories). Source: Census 2020 redistricting data (P.L. 94-171).
RACE_ETHNICITY_SHARES: dict[str, float] = {
    "white": 0.578,
    "black": 0.121,
    "asian": 0.059,
    "american_indian_alaska_native": 0.007,
    "native_hawaiian_pacific_islander": 0.002,
    "multiple": 0.046,
    "hispanic": 0.187,
}
# How each group's share tilts with area deprivation (log-odds per SD), giving segregation.
RACE_DEPRIVATION_TILT: dict[str, float] = {
    "white": -0.45,
    "black": 0.65,
    "asian": -0.10,
    "american_indian_alaska_native": 0.3,
    "native_hawaiian_pacific_islander": 0.3,
    "multiple": 0.0,
    "hispanic": 0.40,
}


@dataclass(frozen=True)
class ConditionSpec:
    """A chronic condition: its ICD-10-CM code and a logistic prevalence model."""

    name: str
    icd10: str
    description: str
    target_adult_prevalence: float
    cited_range: tuple[float, float]
    source: str
    age_per_decade: float
    female: float
    deprivation: float
    depends_on: dict[str, float] = field(default_factory=dict)


# Order matters: a condition may depend on conditions listed before it.
CONDITIONS: tuple[ConditionSpec, ...] = (
    ConditionSpec(
        "obesity",
        "E66.9",
        "Obesity, unspecified",
        0.419,
        (0.36, 0.46),
        "NHANES 2017-Mar 2020: 41.9% of US adults have obesity (CDC NCHS)",
        0.05,
        0.05,
        0.30,
    ),
    ConditionSpec(
        "diabetes",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        0.113,
        (0.09, 0.14),
        "CDC National Diabetes Statistics Report 2023: 11.3% of adults diagnosed",
        0.45,
        -0.15,
        0.30,
        {"obesity": 1.0},
    ),
    ConditionSpec(
        "hypertension",
        "I10",
        "Essential (primary) hypertension",
        0.324,
        (0.27, 0.38),
        "CDC BRFSS 2021: 32.4% of adults ever told they have high blood pressure",
        0.55,
        -0.10,
        0.25,
        {"obesity": 0.7, "diabetes": 0.8},
    ),
    ConditionSpec(
        "ckd",
        "N18.30",
        "Chronic kidney disease, stage 3 unspecified",
        0.05,
        (0.025, 0.08),
        "CDC CKD in the US 2023 (14% have CKD, most undiagnosed); USRDS 2023 ADR",
        0.65,
        0.05,
        0.20,
        {"diabetes": 1.0, "hypertension": 0.9},
    ),
    ConditionSpec(
        "cad",
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery",
        0.055,
        (0.04, 0.075),
        "AHA Heart Disease and Stroke Statistics 2024; CDC: about 1 in 20 adults",
        0.70,
        -0.60,
        0.20,
        {"diabetes": 0.7, "hypertension": 0.8},
    ),
    ConditionSpec(
        "heart_failure",
        "I50.9",
        "Heart failure, unspecified",
        0.025,
        (0.015, 0.035),
        "AHA Heart Disease and Stroke Statistics 2024: 6.7 million US adults (~2.5%)",
        0.80,
        -0.30,
        0.20,
        {"cad": 1.2, "hypertension": 0.7, "diabetes": 0.4},
    ),
    ConditionSpec(
        "copd",
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
        0.05,
        (0.035, 0.075),
        "CDC BRFSS 2021: 4.6%-6.0% of adults report a COPD diagnosis",
        0.50,
        0.05,
        0.40,
    ),
    ConditionSpec(
        "asthma",
        "J45.909",
        "Unspecified asthma, uncomplicated",
        0.08,
        (0.06, 0.10),
        "CDC National Health Interview Survey 2021: current asthma 8.0% of adults",
        -0.05,
        0.30,
        0.25,
    ),
    ConditionSpec(
        "depression",
        "F32.A",
        "Depression, unspecified",
        0.184,
        (0.15, 0.22),
        "CDC BRFSS 2020: 18.4% of adults ever diagnosed with depression",
        -0.05,
        0.55,
        0.20,
    ),
)


@dataclass(frozen=True)
class Params:
    """Every tunable of the generator. ``truth.json`` records the values used."""

    end_date: dt.date = dt.date(2025, 12, 31)
    years: int = 3
    people_per_area: int = 3000
    min_areas: int = 12
    city_name: str = "Riverton"
    county: str = "Riverton County"
    centre_lat: float = 39.96
    centre_lon: float = -75.17

    # Area indicators: national means, spread by deprivation (log-odds or log per SD).
    # Source: ACS 2022 1-year estimates (median household income $74,755; poverty 11.5%;
    # households without a vehicle 8.3%; adults 25+ without high school 10.4%);
    # HUD CHAS / ACS: about 30% of households housing-cost burdened;
    # USDA ERS Food Access Research Atlas: urban low-access threshold 1 mile.
    median_income: float = 74755.0
    pct_poverty: float = 11.5
    pct_no_vehicle: float = 8.3
    pct_no_high_school: float = 10.4
    housing_cost_burden: float = 30.0
    food_access_miles: float = 1.0

    # Individual social needs. Food insecurity: USDA ERS 2022, 12.8% of households.
    # Housing instability: CMS Accountable Health Communities screening, ~10% of screened.
    food_insecure: float = 0.128
    housing_unstable: float = 0.10
    screening_per_year: float = 0.55  # share of people screened for social needs in a year

    # Coverage. KFF 2023: Medicaid/CHIP ~21%; ACS 2022 uninsured 8.0%; Medicare at 65.
    medicaid_under_65: float = 0.19
    uninsured_19_64: float = 0.10
    dual_65_plus: float = 0.12
    # Churn: probability of leaving Medicaid in a half-year (MACPAC 2021: ~10-20%/yr churn).
    medicaid_exit_half_year: float = 0.09

    # Utilisation. NAMCS 2019: ~3 office visits per person-year (more with age);
    # NHAMCS 2021: 42 ED visits per 100 persons; HCUP 2019: ~80 non-maternal stays per 1,000.
    ambulatory_per_year: float = 3.0
    ed_per_year: float = 0.42
    inpatient_per_1000: float = 80.0
    mean_length_of_stay: float = 4.6  # HCUP 2019 mean LOS, days

    # 30-day readmission. CMS Hospital-Wide Readmission measure: ~14.5-15.5% nationally.
    readmission_rate: float = 0.145
    readmission_rr_no_vehicle: float = 1.50  # planted: households without a vehicle
    readmission_rr_deprived: float = 1.30  # planted: most deprived quintile of areas

    # Pilot programme in one deprived neighbourhood, from mid-period.
    pilot_readmission_rr: float = 0.70
    pilot_start: dt.date | None = None  # default: the period's midpoint

    # Opt-in unequal access to care (off by default): people of ``access_gap_group`` (a key of
    # RACE_ETHNICITY_SHARES) have their ambulatory, ED and hospital-stay intensities multiplied
    # by (1 - access_gap) at equal need, so they use and cost less while being as sick. Models
    # the mechanism behind the label-choice bias in Obermeyer et al., Science 2019;366:447-53.
    access_gap: float = 0.0
    access_gap_group: str = "black"

    # Diabetes control: HEDIS 2022 HbA1c > 9% ~ 27% (commercial) to 38% (Medicaid, untested
    # counted as poor); among tested patients ~ 15-25%.
    hba1c_tests_per_visit: float = 0.6
    # Screening. BRFSS 2020: mammography in 2 years 76% of women 50-74; colorectal up to date
    # 72% of adults 50-75; HEDIS 2022 diabetic eye exam ~ 55%.
    mammography_2y: float = 0.76
    colorectal_up_to_date: float = 0.70
    eye_exam_year: float = 0.55

    # Mortality by age band per year. Source: CDC NVSS US life tables 2021 (q_x, rounded).
    mortality_under_45: float = 0.0015
    mortality_45_64: float = 0.007
    mortality_65_74: float = 0.02
    mortality_75_84: float = 0.05
    mortality_85_plus: float = 0.14

    @property
    def start_date(self) -> dt.date:
        return dt.date(self.end_date.year - self.years + 1, 1, 1)

    @property
    def pilot_start_date(self) -> dt.date:
        if self.pilot_start:
            return self.pilot_start
        mid = self.start_date + (self.end_date - self.start_date) / 2
        return dt.date(mid.year, 7 if mid.month > 3 else 1, 1)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in d.items()}
