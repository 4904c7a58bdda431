"""The Redfish side of a virtual BMC: its resources over the same state as its IPMI side.

Power goes through the IPMI side's chassis control (`power_control`), the boot override is
the IPMI boot flags (parameter 5) read and written in Redfish words, the accounts are the
IPMI user slots. So a change made over either protocol shows on the other at once.

`RedfishModel.handle` takes a parsed request and returns a `Response`; the HTTPS server
around it (`server.py`) only moves bytes. Sessions (SessionService) and HTTP Basic are both
accepted; ETags are a hash of each resource's JSON and `If-Match` is honoured on PATCH.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from racker.sim.vbmc.chassis import BootDevice
from racker.sim.vbmc.commands import power_control
from racker.sim.vbmc.engine import BmcEngine
from racker.sim.vbmc.redfish.accounts import ROLES, apply_account, slot
from racker.sim.vbmc.state import FLAG_EFI, FLAG_PERSISTENT, FLAG_VALID, User

ROOT = "/redfish/v1"
MANAGER_ID = "BMC"
TARGETS = {"None": BootDevice.NONE, "Pxe": BootDevice.PXE, "Hdd": BootDevice.DISK,
           "Cd": BootDevice.CDROM, "BiosSetup": BootDevice.BIOS, "Diags": BootDevice.DIAG}
TARGET_WORDS = {v: k for k, v in TARGETS.items()}
MODES = ("UEFI", "Legacy")
ENABLED = ("Disabled", "Once", "Continuous")
RESETS = {"On": 1, "ForceOn": 1, "ForceOff": 0, "GracefulShutdown": 5, "ForceRestart": 3,
          "GracefulRestart": 3, "PowerCycle": 2, "Nmi": 4}
"""ResetType → IPMI chassis control directive (the one power path of the BMC)."""
SESSION_TIMEOUT = 300.0
SESSION_LIMIT = 16


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, message_id: str = "Base.1.8.GeneralError") -> Response:
    """A Redfish error body (`error` with `@Message.ExtendedInfo`)."""
    return Response(status, {"error": {"code": message_id, "message": message,
                                       "@Message.ExtendedInfo": [{"MessageId": message_id,
                                                                  "Message": message}]}})


def etag(doc: Mapping[str, Any]) -> str:
    """A resource's ETag: a hash of its JSON."""
    return 'W/"' + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16] + '"'


@dataclass
class _Session:
    ident: str
    user: str
    last_used: float


@dataclass
class RedfishModel:
    """The Redfish resources of one virtual BMC (called on the BMC's event-loop thread)."""

    engine: BmcEngine
    system_id: str
    settings_only: bool = False
    """Boot override accepted only through the system's @Redfish.Settings resource."""
    model: str = "racker-sim vBMC"
    serial: str = ""
    clock: Callable[[], float] = time.monotonic
    sessions: dict[str, _Session] = field(default_factory=dict)
    events: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=50))

    @property
    def system(self) -> str:
        return f"{ROOT}/Systems/{self.system_id}"

    # -- requests -----------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: Any) -> Response:
        """One request: authenticate, route, answer."""
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path in (ROOT, "/redfish"):
            if path == "/redfish":
                return Response(200, {"v1": f"{ROOT}/"})
            return self._doc(self.service_root())
        if method == "POST" and path == f"{ROOT}/SessionService/Sessions":
            return self.login(body)
        user = self.authenticate(headers)
        if user is None:
            return error(401, "authentication required or credentials refused",
                         "Base.1.8.NoValidSession")
        route = self._routes().get((method, path))
        if route is not None:
            return route(headers, body)
        if method == "GET":
            doc = self._get(path)
            return self._doc(doc) if doc is not None else error(404, f"{path} not found",
                                                                "Base.1.8.ResourceMissingAtURI")
        return self._write(method, path, headers, body)

    def _routes(self) -> dict[tuple[str, str], Callable[[Mapping[str, str], Any], Response]]:
        s = self.system
        return {
            ("PATCH", s): self.patch_system,
            ("PATCH", f"{s}/Settings"): self.patch_settings,
            ("POST", f"{s}/Actions/ComputerSystem.Reset"): lambda _h, b: self.reset(b),
            ("POST", f"{ROOT}/AccountService/Accounts"): lambda _h, b: self.create_account(b),
        }

    def _write(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> Response:
        accounts = f"{ROOT}/AccountService/Accounts/"
        sessions = f"{ROOT}/SessionService/Sessions/"
        if method == "PATCH" and path.startswith(accounts):
            return self.patch_account(path[len(accounts):], headers, body)
        if method == "DELETE" and path.startswith(sessions):
            return self.logout(path[len(sessions):])
        if method == "DELETE" and path.startswith(accounts):
            return self.delete_account(path[len(accounts):])
        return error(405, f"{method} is not allowed on {path}", "Base.1.8.OperationNotAllowed")

    def _doc(self, doc: dict[str, Any]) -> Response:
        return Response(200, doc, {"ETag": etag(doc)})

    # -- authentication -----------------------------------------------------------------

    def _check(self, name: str, password: str) -> User | None:
        if self.engine.faults.reject_auth:
            return None
        for uid, u in sorted(self.engine.users.slots.items()):
            if (uid >= 2 and u.name == name.encode() and u.enabled
                    and u.password == password.encode()[:u.password_len]
                    and u.privilege in ROLES):
                return u
        return None

    def authenticate(self, headers: Mapping[str, str]) -> str | None:
        """The user a request acts as (X-Auth-Token, else HTTP Basic), or None."""
        token = headers.get("x-auth-token")
        now = self.clock()
        self._expire(now)
        if token:
            session = self.sessions.get(token)
            if session is None or self.engine.faults.reject_auth:
                return None
            session.last_used = now
            return session.user
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return None
            return name if self._check(name, password) is not None else None
        return None

    def _expire(self, now: float) -> None:
        for token, s in list(self.sessions.items()):
            if now - s.last_used > SESSION_TIMEOUT:
                del self.sessions[token]

    def login(self, body: Any) -> Response:
        """POST SessionService/Sessions: a token and the session's URI."""
        body = body if isinstance(body, dict) else {}
        name, password = str(body.get("UserName", "")), str(body.get("Password", ""))
        if self._check(name, password) is None:
            return error(401, "invalid user name or password", "Base.1.8.NoValidSession")
        if self.engine.faults.no_session or len(self.sessions) >= SESSION_LIMIT:
            return error(503, "no free session", "Base.1.8.SessionLimitExceeded")
        token = secrets.token_hex(16)
        ident = secrets.token_hex(4)
        self.sessions[token] = _Session(ident, name, self.clock())
        uri = f"{ROOT}/SessionService/Sessions/{ident}"
        self.record("OK", f"session {ident} opened by {name}")
        return Response(201, self._session_doc(ident, name),
                        {"X-Auth-Token": token, "Location": uri})

    def logout(self, ident: str) -> Response:
        """DELETE a session."""
        for token, s in list(self.sessions.items()):
            if s.ident == ident:
                del self.sessions[token]
                return Response(204)
        return error(404, f"no session {ident}", "Base.1.8.ResourceMissingAtURI")

    # -- resources ----------------------------------------------------------------------

    def service_root(self) -> dict[str, Any]:
        """GET /redfish/v1."""
        return {"@odata.id": f"{ROOT}/", "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
                "Id": "RootService", "Name": "racker-sim Redfish service",
                "RedfishVersion": "1.11.0", "UUID": str(self.system_id),
                "Systems": {"@odata.id": f"{ROOT}/Systems"},
                "Managers": {"@odata.id": f"{ROOT}/Managers"},
                "AccountService": {"@odata.id": f"{ROOT}/AccountService"},
                "SessionService": {"@odata.id": f"{ROOT}/SessionService"},
                "Links": {"Sessions": {"@odata.id": f"{ROOT}/SessionService/Sessions"}}}

    def _get(self, path: str) -> dict[str, Any] | None:
        s = self.system
        docs: dict[str, Callable[[], dict[str, Any]]] = {
            f"{ROOT}/Systems": lambda: _collection(f"{ROOT}/Systems", "ComputerSystem",
                                                   [s]),
            s: self.system_doc,
            f"{s}/Settings": self.settings_doc,
            f"{s}/LogServices": lambda: _collection(f"{s}/LogServices", "LogService",
                                                    [f"{s}/LogServices/Log"]),
            f"{s}/LogServices/Log": lambda: {
                "@odata.id": f"{s}/LogServices/Log", "@odata.type": "#LogService.v1_1_0."
                "LogService", "Id": "Log", "Name": "System event log",
                "Entries": {"@odata.id": f"{s}/LogServices/Log/Entries"}},
            f"{s}/LogServices/Log/Entries": self.entries_doc,
            f"{ROOT}/Managers": lambda: _collection(f"{ROOT}/Managers", "Manager",
                                                    [f"{ROOT}/Managers/{MANAGER_ID}"]),
            f"{ROOT}/Managers/{MANAGER_ID}": self.manager_doc,
            f"{ROOT}/AccountService": self.account_service_doc,
            f"{ROOT}/AccountService/Accounts": self.accounts_doc,
            f"{ROOT}/SessionService": lambda: {
                "@odata.id": f"{ROOT}/SessionService", "@odata.type":
                "#SessionService.v1_1_8.SessionService", "Id": "SessionService",
                "ServiceEnabled": True, "SessionTimeout": int(SESSION_TIMEOUT),
                "Sessions": {"@odata.id": f"{ROOT}/SessionService/Sessions"}},
            f"{ROOT}/SessionService/Sessions": lambda: _collection(
                f"{ROOT}/SessionService/Sessions", "Session",
                [f"{ROOT}/SessionService/Sessions/{x.ident}" for x in self.sessions.values()]),
        }
        make = docs.get(path)
        if make is not None:
            return make()
        prefix = f"{ROOT}/AccountService/Accounts/"
        if path.startswith(prefix):
            return self.account_doc(path[len(prefix):])
        prefix = f"{ROOT}/SessionService/Sessions/"
        for x in self.sessions.values():
            if path == prefix + x.ident:
                return self._session_doc(x.ident, x.user)
        return None

    def boot_words(self, flags: bytes) -> dict[str, Any]:
        """Boot flags (parameter 5) in Redfish words."""
        valid = bool(flags[0] & FLAG_VALID)
        try:
            device = BootDevice((flags[1] >> 2) & 0x0F)
        except ValueError:
            device = BootDevice.NONE
        enabled = "Disabled" if not valid else (
            "Continuous" if flags[0] & FLAG_PERSISTENT else "Once")
        return {"BootSourceOverrideTarget": TARGET_WORDS.get(device, "None") if valid else
                "None",
                "BootSourceOverrideEnabled": enabled,
                "BootSourceOverrideMode": "UEFI" if flags[0] & FLAG_EFI else "Legacy"}

    def system_doc(self) -> dict[str, Any]:
        """GET the ComputerSystem."""
        e = self.engine
        e.boot.expire(e.clock())
        boot = {**self.boot_words(bytes(e.boot.flags)),
                "BootSourceOverrideTarget@Redfish.AllowableValues": list(TARGETS),
                "BootSourceOverrideMode@Redfish.AllowableValues": list(MODES)}
        doc: dict[str, Any] = {
            "@odata.id": self.system, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
            "Id": self.system_id, "Name": "racker-sim node", "UUID": self.system_id,
            "Manufacturer": "racker-sim", "Model": self.model, "SerialNumber": self.serial,
            "BiosVersion": "racker-sim BIOS 1.0", "SystemType": "Physical",
            "PowerState": "On" if e.chassis.is_powered_on() else "Off",
            "Status": {"State": "Enabled", "Health": "OK"}, "Boot": boot,
            "LogServices": {"@odata.id": f"{self.system}/LogServices"},
            "Links": {"ManagedBy": [{"@odata.id": f"{ROOT}/Managers/{MANAGER_ID}"}]},
            "Actions": {"#ComputerSystem.Reset": {
                "target": f"{self.system}/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": list(RESETS)}}}
        if self.settings_only:
            doc["@Redfish.Settings"] = {
                "@odata.type": "#Settings.v1_3_0.Settings",
                "SettingsObject": {"@odata.id": f"{self.system}/Settings"}}
        return doc

    def settings_doc(self) -> dict[str, Any]:
        """GET the system's pending settings (what the next reset applies)."""
        pending = self.engine.boot.pending
        flags = pending if pending is not None else bytes(self.engine.boot.flags)
        return {"@odata.id": f"{self.system}/Settings", "Id": "Settings",
                "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
                "Boot": self.boot_words(flags)}

    def manager_doc(self) -> dict[str, Any]:
        """GET the BMC."""
        return {"@odata.id": f"{ROOT}/Managers/{MANAGER_ID}",
                "@odata.type": "#Manager.v1_10_0.Manager", "Id": MANAGER_ID,
                "Name": "racker-sim vBMC", "ManagerType": "BMC",
                "FirmwareVersion": "racker-sim vBMC 1.0", "Model": self.model,
                "UUID": self.system_id, "Status": {"State": "Enabled", "Health": "OK"},
                "Links": {"ManagerForServers": [{"@odata.id": self.system}]}}

    def entries_doc(self) -> dict[str, Any]:
        """GET the system event log's entries (inline, oldest first)."""
        uri = f"{self.system}/LogServices/Log/Entries"
        members = [{"@odata.id": f"{uri}/{i + 1}", "Id": str(i + 1), **e}
                   for i, e in enumerate(self.events)]
        return {"@odata.id": uri, "@odata.type": "#LogEntryCollection.LogEntryCollection",
                "Name": "Log entries", "Members@odata.count": len(members), "Members": members}

    def record(self, severity: str, message: str) -> None:
        """An entry of the system event log."""
        self.events.append({"Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "Severity": severity, "Message": message, "EntryType": "Event"})

    def account_service_doc(self) -> dict[str, Any]:
        """GET AccountService."""
        return {"@odata.id": f"{ROOT}/AccountService",
                "@odata.type": "#AccountService.v1_5_0.AccountService", "Id": "AccountService",
                "ServiceEnabled": True, "MaxPasswordLength": 20, "MinPasswordLength": 1,
                "Accounts": {"@odata.id": f"{ROOT}/AccountService/Accounts"}}

    def accounts_doc(self) -> dict[str, Any]:
        """GET Accounts: every user slot but the fixed null user, named or free (as iDRAC)."""
        uids = sorted(uid for uid in self.engine.users.slots if uid >= 2)
        return _collection(f"{ROOT}/AccountService/Accounts", "ManagerAccount",
                           [f"{ROOT}/AccountService/Accounts/{uid}" for uid in uids])

    def account_doc(self, ident: str) -> dict[str, Any] | None:
        """GET one account (the password is never shown)."""
        user = slot(self.engine.users, ident)
        if user is None:
            return None
        return {"@odata.id": f"{ROOT}/AccountService/Accounts/{ident}",
                "@odata.type": "#ManagerAccount.v1_4_0.ManagerAccount", "Id": ident,
                "UserName": user.name.decode(errors="replace"), "Password": None,
                "RoleId": ROLES.get(user.privilege, "NoAccess"), "Enabled": bool(user.enabled),
                "Locked": False}

    @staticmethod
    def _session_doc(ident: str, user: str) -> dict[str, Any]:
        return {"@odata.id": f"{ROOT}/SessionService/Sessions/{ident}",
                "@odata.type": "#Session.v1_3_0.Session", "Id": ident, "UserName": user}

    # -- changes ------------------------------------------------------------------------

    def _precondition(self, headers: Mapping[str, str], doc: dict[str, Any] | None
                      ) -> Response | None:
        wanted = headers.get("if-match")
        if wanted and doc is not None and wanted not in ("*", etag(doc)):
            return error(412, "the resource changed since it was read (ETag mismatch)",
                         "Base.1.8.PreconditionFailed")
        return None

    def _boot_flags(self, body: Any, current: bytes) -> bytes | Response:
        boot = body.get("Boot") if isinstance(body, dict) else None
        if not isinstance(boot, dict) or not boot:
            return error(400, "a Boot object is required", "Base.1.8.PropertyMissing")
        words = {**self.boot_words(current), **boot}
        target, enabled = words["BootSourceOverrideTarget"], words["BootSourceOverrideEnabled"]
        mode = words["BootSourceOverrideMode"]
        for name, value, allowed in (("BootSourceOverrideTarget", target, TARGETS),
                                     ("BootSourceOverrideEnabled", enabled, ENABLED),
                                     ("BootSourceOverrideMode", mode, MODES)):
            if value not in allowed:
                return error(400, f"{value} is not an allowed value of {name}",
                             "Base.1.8.PropertyValueNotInList")
        if enabled == "Disabled" or target == "None":
            return bytes(5)
        first = FLAG_VALID | (FLAG_PERSISTENT if enabled == "Continuous" else 0) | (
            FLAG_EFI if mode == "UEFI" else 0)
        return bytes([first, TARGETS[target] << 2, 0, 0, 0])

    def patch_system(self, headers: Mapping[str, str], body: Any) -> Response:
        """PATCH the system's Boot override (refused here when the BMC wants its Settings)."""
        if self.settings_only:
            return error(400, "Boot properties are read-only here; PATCH the resource in "
                              "@Redfish.Settings", "Base.1.8.PropertyNotWritable")
        bad = self._precondition(headers, self.system_doc())
        if bad is not None:
            return bad
        flags = self._boot_flags(body, bytes(self.engine.boot.flags))
        if isinstance(flags, Response):
            return flags
        if self.engine.faults.ignore_boot_flags:
            self.engine.log("Redfish boot override ignored (fault ignore_boot_flags)")
        else:
            self.engine.boot.set_override(flags)
        self.record("OK", f"boot override set to {_words(self.boot_words(flags))}")
        return Response(204)

    def patch_settings(self, headers: Mapping[str, str], body: Any) -> Response:
        """PATCH the pending settings: applied at the next power-up or reset."""
        bad = self._precondition(headers, self.settings_doc())
        if bad is not None:
            return bad
        pending = self.engine.boot.pending
        flags = self._boot_flags(body, pending if pending is not None
                                 else bytes(self.engine.boot.flags))
        if isinstance(flags, Response):
            return flags
        self.engine.boot.pending = flags
        self.record("OK", f"boot override staged: {_words(self.boot_words(flags))}")
        return Response(204)

    def reset(self, body: Any) -> Response:
        """POST ComputerSystem.Reset."""
        kind = body.get("ResetType") if isinstance(body, dict) else None
        directive = RESETS.get(str(kind))
        if directive is None:
            return error(400, f"ResetType {kind} is not allowed",
                         "Base.1.8.ActionParameterValueNotInList")
        code = power_control(self.engine, directive)
        if code:
            return error(409, f"cannot {kind} in the present power state",
                         "Base.1.8.ActionNotSupported")
        self.record("OK", f"reset {kind}")
        return Response(204)

    def patch_account(self, ident: str, headers: Mapping[str, str], body: Any) -> Response:
        """PATCH an account: UserName, Password, RoleId, Enabled."""
        user = slot(self.engine.users, ident)
        if user is None or not isinstance(body, dict):
            return error(404, f"no account {ident}", "Base.1.8.ResourceMissingAtURI")
        bad = self._precondition(headers, self.account_doc(ident))
        if bad is not None:
            return bad
        problem = apply_account(user, body)
        if problem:
            return error(400, problem, "Base.1.8.PropertyValueFormatError")
        self.record("OK", f"account {ident} changed")
        return Response(204)

    def create_account(self, body: Any) -> Response:
        """POST Accounts: the new account in the lowest free slot."""
        if not isinstance(body, dict) or not body.get("UserName") or not body.get("Password"):
            return error(400, "UserName and Password are required", "Base.1.8.PropertyMissing")
        free = next((uid for uid, u in sorted(self.engine.users.slots.items())
                     if uid >= 2 and not u.name), None)
        if free is None:
            return error(507, "no free account slot", "Base.1.8.InsufficientStorage")
        user = self.engine.users.slots[free]
        problem = apply_account(user, {"RoleId": "Administrator", "Enabled": True, **body})
        if problem:
            self.engine.users.slots[free] = User()
            return error(400, problem, "Base.1.8.PropertyValueFormatError")
        user.ipmi_messaging = user.link_auth = True
        uri = f"{ROOT}/AccountService/Accounts/{free}"
        return Response(201, self.account_doc(str(free)), {"Location": uri})

    def delete_account(self, ident: str) -> Response:
        """DELETE an account (its slot becomes free)."""
        if slot(self.engine.users, ident) is None:
            return error(404, f"no account {ident}", "Base.1.8.ResourceMissingAtURI")
        self.engine.users.slots[int(ident)] = User()
        return Response(204)


def _words(boot: Mapping[str, Any]) -> str:
    """Boot override words for the event log: `Pxe/Continuous/UEFI`."""
    return "/".join(str(boot[k]) for k in ("BootSourceOverrideTarget",
                                            "BootSourceOverrideEnabled",
                                            "BootSourceOverrideMode"))


def _collection(uri: str, kind: str, members: list[str]) -> dict[str, Any]:
    return {"@odata.id": uri, "@odata.type": f"#{kind}Collection.{kind}Collection",
            "Name": f"{kind} collection", "Members@odata.count": len(members),
            "Members": [{"@odata.id": m} for m in members]}
