"""Users, roles, passwords, access policy, consent and the append-only audit log."""

from popweave.security.audit import AuditError, guard_append_only
from popweave.security.models import (
    SENSITIVE_CATEGORIES,
    AuditEvent,
    Base,
    Consent,
    PanelAssignment,
    Role,
    TeamRole,
    User,
)
from popweave.security.passwords import hash_password, verify_password
from popweave.security.policy import POLICY, AccessDenied, Actor, Operation, Scope

__all__ = [
    "POLICY",
    "SENSITIVE_CATEGORIES",
    "AccessDenied",
    "Actor",
    "AuditError",
    "AuditEvent",
    "Base",
    "Consent",
    "Operation",
    "PanelAssignment",
    "Role",
    "Scope",
    "TeamRole",
    "User",
    "guard_append_only",
    "hash_password",
    "verify_password",
]
