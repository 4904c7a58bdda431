"""The Redfish driver on sushy: one session per BMC for a run, timeouts, retries, TLS pinned.

sushy (Ironic's Redfish client) is blocking, so, as with the IPMI driver, every call runs on
the BMC's own worker thread under a deadline and asyncio gives the concurrency across BMCs.
sushy logs in with a Redfish session (SessionService) and falls back to HTTP Basic where the
BMC has none; `aclose` deletes the sessions. The system is the first member of the Systems
collection, never a hard-coded `Systems/1`. sushy failures become the `BmcFailure` subclasses
of `racker.adapters.bmc.errors`, each naming the node and the BMC.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sushy
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from racker.adapters.bmc.errors import (
    BmcAuthFailed,
    BmcCommandFailed,
    BmcFailure,
    BmcTimeout,
    BmcTlsFailed,
    BootFlagsNotKept,
    RedfishUnreachable,
)
from racker.adapters.bmc.interfaces import (
    Bmc,
    BmcTarget,
    BmcUser,
    BootSetting,
    BootTarget,
    ChassisStatus,
    Driver,
    PowerState,
    Privilege,
    RawResponse,
)
from racker.adapters.bmc.redfish import codec, tls
from racker.adapters.bmc.redfish.accounts import Accounts
from racker.adapters.bmc.redfish.facts import Facts, read_facts

log = logging.getLogger(__name__)
T = TypeVar("T")

# NOTE: sushy logs its retries and its fallback to HTTP Basic as warnings and errors ("Please
# check credentials" while falling back, on every Basic-only BMC). Without a handler of its
# own those reach the operator's terminal through logging's last-resort handler; racker
# reports every failure itself, naming the node. A configured root handler still gets them.
logging.getLogger("sushy").addHandler(logging.NullHandler())

REDFISH_PORT = 443


@dataclass(frozen=True)
class RedfishSettings:
    timeout: float = 5.0
    """Seconds one attempt of one request may take (connect and read each)."""
    retries: int = 2
    """Further attempts after a transient failure (timeout, refused, 5xx)."""
    backoff: float = 0.25
    """Seconds between attempts."""
    pins: tls.PinStore | None = None
    """Where BMC certificates are pinned (trust on first use)."""
    ca_bundle: Path | None = None
    """A site CA bundle to verify BMC certificates against instead of pinning them."""


@dataclass
class _Session:
    """One BMC's sushy root, its system and manager, and the thread its calls run on."""

    root: Any
    auth: Any
    conn: Any
    system_path: str
    password: str
    executor: ThreadPoolExecutor
    fingerprint: str | None
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def uses_session(self) -> bool:
        """Whether sushy logged in with a Redfish session (else HTTP Basic)."""
        return bool(self.auth.get_session_resource_id()) if hasattr(
            self.auth, "get_session_resource_id") else False


Key = tuple[str, int, str]


class RedfishDriver(Driver):
    """Hands out `RedfishBmc` handles; owns the sessions and their threads."""

    def __init__(self, settings: RedfishSettings | None = None):
        self.settings = settings or RedfishSettings()
        self._pool: dict[Key, _Session] = {}
        self._opening: dict[Key, asyncio.Lock] = {}
        self.logins = 0
        """Sessions opened so far (tests check reuse with it)."""

    @property
    def open_sessions(self) -> int:
        """Sessions open now."""
        return len(self._pool)

    async def open(self, target: BmcTarget) -> RedfishBmc:
        """A handle for `target`; logs in now so that bad credentials or a changed
        certificate show up at once."""
        await self._session(target)
        return RedfishBmc(self, target)

    def _deadline(self) -> float:
        s = self.settings
        # sushy retries inside one call: allow every attempt and the pauses between them
        return (s.timeout * 2 + s.backoff) * (s.retries + 1) + 1.0

    async def _session(self, target: BmcTarget) -> _Session:
        key: Key = (target.address, target.port, target.user)
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            old = self._pool.get(key)
            if old is not None and old.password == target.password:
                return old
            if old is not None:
                await self._drop(key)
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="racker-redfish")
            loop = asyncio.get_running_loop()
            try:
                session = await asyncio.wait_for(
                    loop.run_in_executor(executor, lambda: self._connect(target, executor)),
                    self._deadline())
            except TimeoutError:
                executor.shutdown(wait=False)
                raise BmcTimeout(target.node, _where(target),
                                 f"no Redfish session within {self._deadline():g} s") from None
            except BaseException:
                executor.shutdown(wait=False)
                raise
            self._pool[key] = session
            self.logins += 1
            log.debug("%s %s: logged in as %s (%s)", target.node, _where(target), target.user,
                      "session" if session.uses_session else "basic")
            return session

    def _connector(self, target: BmcTarget) -> tuple[Any, str | None]:
        """sushy's connector for `target` with its TLS check: the site CA, or the pin."""
        s = self.settings
        url = f"https://{_host(target.address)}:{target.port}"
        common: dict[str, Any] = {
            "server_side_retries": s.retries + 1, "server_side_retries_delay": s.backoff,
            "default_request_timeout": s.timeout, "connect_timeout": s.timeout}
        if s.ca_bundle is not None:
            conn = sushy_connector.Connector(url, verify=str(s.ca_bundle), **common)
            tls.keep_alive(conn)
            return conn, None
        if s.pins is None:
            raise BmcTlsFailed(target.node, _where(target),
                               "no state folder to pin the BMC's certificate in and no CA bundle",
                               hint="set RACKER_STATE_DIR (pinning) or RACKER_BMC_CA_BUNDLE")
        seen = tls.check_pin(target, s.pins, s.timeout)
        return tls.PinnedConnector(url, seen, **common), seen

    def _connect(self, target: BmcTarget, executor: ThreadPoolExecutor) -> _Session:
        """Blocking: TLS check, login (session, else Basic), the system and manager paths."""
        conn, seen = self._connector(target)
        auth = sushy_auth.SessionOrBasicAuth(username=target.user, password=target.password)
        try:
            root = sushy.Sushy(f"https://{_host(target.address)}:{target.port}",
                               auth=auth, connector=conn)
            systems = sorted(root.get_system_collection().members_identities)
            if not systems:
                raise BmcCommandFailed(target.node, _where(target),
                                       "the Systems collection is empty")
        except sushy_exc.SushyError as e:
            raise self._failure(target, e, seen) from None
        return _Session(root, auth, conn, systems[0], target.password, executor, seen)

    def _failure(self, target: BmcTarget, e: Exception, pinned: str | None) -> BmcFailure:
        """A sushy failure as the BmcFailure an operator can act on."""
        where = _where(target)
        text = getattr(e, "message", None) or str(e)
        if isinstance(e, sushy_exc.AccessError):
            return BmcAuthFailed(target.node, where, f"Redfish refused the login ({text})",
                                 hint="check the user and password in ipmi_user / "
                                      "ipmi_password; the account needs the Administrator role")
        if isinstance(e, sushy_exc.ConnectionError):
            if "Fingerprints did not match" in text and pinned is not None:
                return self._changed_now(target, pinned)
            if "SSL" in text or "certificate" in text.lower():
                return BmcTlsFailed(target.node, where, text)
            if "timed out" in text.lower() or "timeout" in text.lower():
                return BmcTimeout(target.node, where, text)
            return RedfishUnreachable(target.node, where, text)
        return BmcCommandFailed(target.node, where, text)

    def _changed_now(self, target: BmcTarget, pinned: str) -> BmcFailure:
        """The certificate changed during the run: read it again to name both fingerprints."""
        try:
            seen = codec.fingerprint(tls.presented_certificate(target, self.settings.timeout))
        except BmcFailure as e:
            return e
        return tls.certificate_changed(target, pinned, seen)

    async def _drop(self, key: Key) -> None:
        """Forget a session and delete it on the BMC (where it is a Redfish session)."""
        session = self._pool.pop(key, None)
        if session is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(session.executor, session.auth.close),
                                   self.settings.timeout + 1.0)
        except (TimeoutError, sushy_exc.SushyError) as e:
            log.debug("closing the session of %s: %s", key, e)
        finally:
            session.executor.shutdown(wait=False)

    async def release(self, target: BmcTarget) -> None:
        """Close `target`'s session (the handle's close)."""
        await self._drop((target.address, target.port, target.user))

    async def aclose(self) -> None:
        """Delete every session, then stop the worker threads."""
        await asyncio.gather(*(self._drop(k) for k in list(self._pool)))

    async def __aenter__(self) -> RedfishDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, target: BmcTarget, fn: Callable[[_Session], T]) -> T:
        """Run blocking `fn` on the BMC's session under the deadline; sushy retries transient
        failures inside (connection refused or reset, 5xx), racker bounds the whole."""
        session = await self._session(target)
        loop = asyncio.get_running_loop()
        try:
            async with session.turn:
                return await asyncio.wait_for(
                    loop.run_in_executor(session.executor, lambda: fn(session)),
                    self._deadline())
        except TimeoutError:
            raise BmcTimeout(target.node, _where(target),
                             f"no answer within {self._deadline():g} s") from None
        except sushy_exc.SushyError as e:
            raise self._failure(target, e, session.fingerprint) from None


def _where(target: BmcTarget) -> str:
    return target.address if target.port == REDFISH_PORT else f"{target.address}:{target.port}"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class RedfishBmc(Bmc):
    """One BMC over Redfish: power, boot override, accounts and facts on the pooled session."""

    def __init__(self, driver: RedfishDriver, target: BmcTarget):
        self._driver = driver
        self._target = target
        self._pending: dict[int, dict[str, Any]] = {}
        """Fields of a slot whose account is created once it has a name and a password."""

    @property
    def target(self) -> BmcTarget:
        return self._target

    async def _call(self, fn: Callable[[_Session], T]) -> T:
        return await self._driver.call(self._target, fn)

    def _fail(self, detail: str) -> BmcCommandFailed:
        return BmcCommandFailed(self._target.node, _where(self._target), detail)

    # Power
    async def power_status(self) -> PowerState:
        def get(s: _Session) -> PowerState:
            doc = s.conn.get(s.system_path).json()
            return codec.power_state(doc.get("PowerState"))
        return await self._call(get)

    async def system_guid(self) -> bytes:
        """The system's `UUID` (its SMBIOS UUID) as RFC 4122 bytes."""
        def get(s: _Session) -> str:
            return str(s.conn.get(s.system_path).json().get("UUID") or "")
        text = await self._call(get)
        try:
            return uuidlib.UUID(text).bytes
        except ValueError:
            raise self.unsupported(f"reading the system UUID (the system says {text[:40]!r})"
                                   ) from None

    async def _reset(self, choices: Sequence[str], what: str) -> None:
        def reset(s: _Session) -> None:
            doc = s.conn.get(s.system_path).json()
            action = doc.get("Actions", {}).get("#ComputerSystem.Reset", {})
            uri = action.get("target")
            if not uri:
                raise self._fail("the system has no ComputerSystem.Reset action")
            allowable = action.get("ResetType@Redfish.AllowableValues") or []
            word = codec.pick_reset(choices, allowable)
            if word is None:
                raise self.unsupported(f"{what} (ResetType {'/'.join(choices)} not among "
                                       f"{', '.join(allowable)})")
            s.conn.post(uri, data={"ResetType": word})
        await self._call(reset)

    async def power_on(self) -> None:
        if await self.power_status() is PowerState.ON:
            return  # NOTE: Redfish BMCs answer On to a running host with an error (IPMI: no-op)
        await self._reset(codec.RESET_ON, "power on")

    async def power_off(self) -> None:
        if await self.power_status() is PowerState.OFF:
            return
        await self._reset(codec.RESET_OFF, "power off")

    async def power_cycle(self) -> None:
        if await self.power_status() is PowerState.OFF:
            await self._reset(codec.RESET_ON, "power on")  # as IPMI's cycle of an off host
            return
        await self._reset(codec.RESET_CYCLE, "power cycle")

    # Chassis: Redfish has no IPMI chassis status; the interfaces it maps onto come from facts
    async def chassis_status(self) -> ChassisStatus:
        raise self.unsupported("IPMI chassis status (Redfish BMC: see 'ipmi NODE diag')")

    # Boot device
    async def get_boot_device(self) -> BootSetting:
        def get(s: _Session) -> BootSetting:
            return codec.boot_setting(_boot_in_force(s))
        return await self._call(get)

    async def set_boot_device(self, target: BootTarget, *, persistent: bool = True,
                              efi: bool = True) -> BootSetting:
        try:
            word = codec.target_word(target)
        except ValueError as e:
            raise self.unsupported(str(e)) from None
        wanted = codec.BootWords(word, codec.ENABLED_CONTINUOUS if persistent
                                 else codec.ENABLED_ONCE, codec.mode_word(efi))

        def apply(s: _Session) -> BootSetting:
            system = s.root.get_system(s.system_path)
            boot = system.json.get("Boot") or {}
            for name, value in (("BootSourceOverrideTarget", wanted.target),
                                ("BootSourceOverrideMode", wanted.mode)):
                allowable = boot.get(f"{name}@Redfish.AllowableValues") or []
                if not codec.allowed(value, allowable):
                    raise self.unsupported(f"{name} {value} (the BMC allows "
                                           f"{', '.join(allowable)})")
            system.set_system_boot_options(
                target=sushy.BootSource(wanted.target),
                enabled=sushy.BootSourceOverrideEnabled(wanted.enabled),
                mode=sushy.BootSourceOverrideMode(wanted.mode))
            got = _boot_in_force(s)
            diffs = codec.boot_differences(wanted, got)
            if diffs:
                raise BootFlagsNotKept(
                    self._target.node, _where(self._target),
                    f"set {wanted.target}/{wanted.enabled}/{wanted.mode}, read back "
                    f"{got.target}/{got.enabled}/{got.mode}: " + ", ".join(diffs),
                    hint="check the system's Boot object and its @Redfish.Settings on the BMC, "
                         "or update the BMC firmware")
            return codec.boot_setting(got)
        return await self._call(apply)

    # Users: the AccountService's accounts
    def _accounts(self, s: _Session) -> Accounts:
        return Accounts(s.conn, self._target, self._fail, self.unsupported)

    async def _patch_account(self, uid: int, body: dict[str, Any]) -> None:
        await self._call(lambda s: self._accounts(s).patch(uid, body, self._pending))

    async def list_users(self, channel: int = 1) -> Sequence[BmcUser]:
        return await self._call(lambda s: self._accounts(s).list())

    async def set_user_name(self, uid: int, name: str) -> None:
        await self._patch_account(uid, {"UserName": name})

    async def set_user_password(self, uid: int, password: str) -> None:
        await self._patch_account(uid, {"Password": password})

    async def set_user_access(self, uid: int, privilege: Privilege, channel: int = 1, *,
                              callin: bool = True, link_auth: bool = False,
                              ipmi_messaging: bool = True) -> None:
        role = codec.ROLES.get(privilege)
        if role is None:
            raise self.unsupported(f"privilege {privilege.name} as a Redfish role")
        await self._patch_account(uid, {"RoleId": role})

    async def enable_user(self, uid: int) -> None:
        await self._patch_account(uid, {"Enabled": True})

    async def disable_user(self, uid: int) -> None:
        await self._patch_account(uid, {"Enabled": False})

    # Raw IPMI has no Redfish equivalent
    async def raw(self, netfn: int, command: int, data: bytes = b"") -> RawResponse:
        raise self.unsupported("raw IPMI commands (this BMC is driven over Redfish)")

    # Facts for diag
    async def facts(self) -> Facts:
        """Model, serial, BIOS and BMC firmware, health and the tail of the event log."""
        def read(s: _Session) -> Facts:
            managers = sorted(s.root.get_manager_collection().members_identities)
            return read_facts(s.conn, s.system_path, managers[0] if managers else None)
        return await self._call(read)

    async def uses_session(self) -> bool:
        """Whether racker holds a Redfish session on this BMC (False: HTTP Basic)."""
        return (await self._driver._session(self._target)).uses_session

    async def close(self) -> None:
        await self._driver.release(self._target)


def _boot_in_force(s: _Session) -> codec.BootWords:
    """The override the BMC will apply: its pending Settings object's where it has one that
    says something, else the system's own Boot object."""
    doc = s.conn.get(s.system_path).json()
    settings_uri = ((doc.get("@Redfish.Settings") or {}).get("SettingsObject") or {}).get(
        "@odata.id")
    if settings_uri:
        pending = (s.conn.get(settings_uri).json().get("Boot") or {})
        if pending.get("BootSourceOverrideTarget"):
            return codec.boot_words({**(doc.get("Boot") or {}), **pending})
    return codec.boot_words(doc.get("Boot") or {})
