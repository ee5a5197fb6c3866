"""Who may do what: one table of roles, operations and scopes, checked in one place.

A scope says which patients an allowed operation reaches: ``ALL`` patients, the user's
``PANEL`` (patients whose care team the user is on) or ``NONE`` (denied). Operations that do
not concern one patient (managing users, aggregates) are allowed when the scope is not
``NONE``. Analysts never see patient rows: they get de-identified, suppressed aggregates.

>>> POLICY[Role.CARE_MANAGER][Operation.READ_PATIENT]
<Scope.PANEL: 'panel'>
>>> POLICY[Role.ANALYST][Operation.READ_PATIENT]
<Scope.NONE: 'none'>
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from popweave.errors import PopweaveError
from popweave.security.models import Role


class AccessDenied(PopweaveError):
    """The acting user may not do this (to this patient)."""


class Scope(StrEnum):
    """Which patients an operation reaches for a role."""

    ALL = "all"
    PANEL = "panel"
    NONE = "none"


class Operation(StrEnum):
    """Everything the service layer does that the policy decides on."""

    READ_PATIENT = "read_patient"
    WRITE_CARE_PLAN = "write_care_plan"
    WRITE_TASK = "write_task"
    RECORD_OUTREACH = "record_outreach"
    REFER = "refer"
    ENROL = "enrol"
    SET_CONSENT = "set_consent"
    MANAGE_USERS = "manage_users"
    ASSIGN_PANEL = "assign_panel"
    MANAGE_PROGRAMMES = "manage_programmes"
    AGGREGATES = "aggregates"
    READ_AUDIT = "read_audit"
    RUN_TRANSITIONS = "run_transitions"


_A, _P, _N = Scope.ALL, Scope.PANEL, Scope.NONE
_O = Operation
#              admin pm  cm  chw analyst
_TABLE: dict[Operation, tuple[Scope, Scope, Scope, Scope, Scope]] = {
    _O.READ_PATIENT: (_A, _A, _P, _P, _N),
    _O.WRITE_CARE_PLAN: (_A, _N, _P, _N, _N),
    _O.WRITE_TASK: (_A, _A, _P, _P, _N),
    _O.RECORD_OUTREACH: (_A, _N, _P, _P, _N),
    _O.REFER: (_A, _N, _P, _P, _N),
    _O.ENROL: (_A, _A, _P, _N, _N),
    _O.SET_CONSENT: (_A, _N, _P, _N, _N),
    _O.MANAGE_USERS: (_A, _N, _N, _N, _N),
    _O.ASSIGN_PANEL: (_A, _A, _N, _N, _N),
    _O.MANAGE_PROGRAMMES: (_A, _A, _N, _N, _N),
    _O.AGGREGATES: (_A, _A, _N, _N, _A),
    _O.READ_AUDIT: (_A, _N, _N, _N, _N),
    _O.RUN_TRANSITIONS: (_A, _A, _N, _N, _N),
}
_ROLES = (
    Role.ADMIN,
    Role.PROGRAMME_MANAGER,
    Role.CARE_MANAGER,
    Role.COMMUNITY_HEALTH_WORKER,
    Role.ANALYST,
)

#: role -> operation -> scope.
POLICY: dict[Role, dict[Operation, Scope]] = {
    role: {op: scopes[i] for op, scopes in _TABLE.items()} for i, role in enumerate(_ROLES)
}


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf a service function runs.

    ``user_id`` is ``None`` for the local operator of the command line, who owns the
    workspace files and acts as an admin; the audit log names them by ``username``.
    """

    user_id: int | None
    username: str
    role: Role

    @classmethod
    def operator(cls, name: str) -> Actor:
        """The local command-line operator (an admin without a user row)."""
        return cls(None, name, Role.ADMIN)


def scope(actor: Actor, op: Operation) -> Scope:
    """The scope of ``op`` for ``actor``'s role."""
    return POLICY[actor.role][op]


def require(actor: Actor, op: Operation) -> Scope:
    """The scope of ``op`` for ``actor``; :class:`AccessDenied` when it is ``NONE``."""
    s = scope(actor, op)
    if s is Scope.NONE:
        raise AccessDenied(f"{actor.username} ({actor.role}) may not {op.replace('_', ' ')}")
    return s
