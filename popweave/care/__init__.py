"""Care coordination: care plans, tasks, transitions of care, referrals, programmes, outreach."""

from popweave.care.store import CareStore, open_store, upgrade

__all__ = ["CareStore", "open_store", "upgrade"]
