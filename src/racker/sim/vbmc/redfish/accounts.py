"""A virtual BMC's accounts as Redfish sees them: its IPMI user slots. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from racker.sim.vbmc.state import (
    PRIV_ADMIN,
    PRIV_NO_ACCESS,
    PRIV_OPERATOR,
    PRIV_USER,
    User,
    UserTable,
)

ROLES = {PRIV_ADMIN: "Administrator", PRIV_OPERATOR: "Operator", PRIV_USER: "ReadOnly"}
PRIVILEGES = {v: k for k, v in ROLES.items()}


def slot(users: UserTable, ident: str) -> User | None:
    """The user slot an account Id names (slot 1, the null user, is no account)."""
    if not ident.isdigit() or int(ident) < 2:
        return None
    return users.slots.get(int(ident))


def apply_account(user: User, body: Mapping[str, Any]) -> str | None:
    """Apply account properties to an IPMI user slot; a problem in words, or None."""
    name = body.get("UserName")
    if name is not None and (not isinstance(name, str) or len(name.encode()) > 16):
        return "UserName must be a string of up to 16 bytes"
    password = body.get("Password")
    if password is not None and (not isinstance(password, str) or len(password.encode()) > 20):
        return "Password must be a string of up to 20 bytes"
    role = body.get("RoleId")
    if role is not None and role not in PRIVILEGES:
        return f"RoleId must be one of {', '.join(PRIVILEGES)}"
    if name is not None:
        user.name = name.encode()
    if password is not None:
        user.password = password.encode()
        user.password_len = 20 if len(user.password) > 16 else 16
    if role is not None:
        user.privilege = PRIVILEGES[role]
        user.ipmi_messaging = True
    if "Enabled" in body:
        user.enabled = bool(body["Enabled"])
    if user.privilege == PRIV_NO_ACCESS and name:
        user.privilege = PRIV_USER
    return None
