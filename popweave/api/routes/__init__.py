"""The REST API: one router per resource under ``/api``."""
