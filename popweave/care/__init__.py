"""Care coordination: care plans, tasks, transitions of care, referrals, programmes, outreach.

Every function that reads or writes patient data is keyword-only, takes the acting user
(``actor``) and a reason, and goes through one guard (:mod:`popweave.care._guard`) that
checks the role and panel, hides sensitive rows without consent and writes the audit log.
Modules: :mod:`~popweave.care.plans`, :mod:`~popweave.care.tasks`,
:mod:`~popweave.care.transitions`, :mod:`~popweave.care.referrals`,
:mod:`~popweave.care.engagement`, :mod:`~popweave.care.team`,
:mod:`~popweave.care.aggregates`.
"""

from popweave.care._guard import ConflictError, NotFound
from popweave.care.calendar import BusinessCalendar, us_federal_holidays
from popweave.care.referrals import InvalidTransition
from popweave.care.store import CareStore, open_store, upgrade

__all__ = [
    "BusinessCalendar",
    "CareStore",
    "ConflictError",
    "InvalidTransition",
    "NotFound",
    "open_store",
    "upgrade",
    "us_federal_holidays",
]
