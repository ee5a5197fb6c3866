"""Errors a person can act on: each says what is wrong and what to do."""


class PopweaveError(Exception):
    """A user-facing error; the CLI prints its message on one line and exits non-zero."""


class WorkspaceError(PopweaveError):
    """The workspace is missing, unwritable, already present or malformed."""


class LoadError(PopweaveError):
    """A warehouse load failed; the warehouse is left as it was before the load."""


class SpecError(PopweaveError):
    """A cohort or measure definition is invalid; the message names the file and line."""
