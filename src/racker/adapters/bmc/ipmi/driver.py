"""The IPMI 2.0 lanplus driver on pyghmi: pooled sessions, timeouts, retries, concurrency.

One pyghmi session per (address, port, user), reused for every call and logged out on close.
pyghmi is blocking (its own I/O thread plus callers that wait), so each call runs in a bounded
thread pool and asyncio gives the concurrency across BMCs; every call has a deadline and
transient failures are retried with exponential backoff. Failures become the `BmcFailure`
subclasses of `racker.adapters.bmc.errors`, each naming the node and the BMC address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from racker.adapters.bmc.errors import (
    BmcAuthFailed,
    BmcCommandFailed,
    BmcFailure,
    BmcNoFreeSession,
    BmcTimeout,
    BmcUnreachable,
    BootFlagsNotKept,
    Unsupported,
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
from racker.adapters.bmc.ipmi import codec, sol
from racker.adapters.bmc.ipmi import pyghmi_glue as glue
from racker.adapters.bmc.ipmi.codec import ErrorKind
from racker.adapters.bmc.ipmi.daemonpool import DaemonPool

log = logging.getLogger(__name__)
T = TypeVar("T")

_ERROR_CLASS: dict[ErrorKind, type[BmcFailure]] = {
    ErrorKind.UNREACHABLE: BmcUnreachable,
    ErrorKind.AUTH: BmcAuthFailed,
    ErrorKind.TIMEOUT: BmcTimeout,
    ErrorKind.NO_SESSION: BmcNoFreeSession,
    ErrorKind.UNSUPPORTED: Unsupported,
    ErrorKind.BUSY: BmcCommandFailed,
    ErrorKind.REJECTED: BmcCommandFailed,
    ErrorKind.FAILED: BmcCommandFailed,
}


class BootReadback(StrEnum):
    STRICT = "strict"
    """Device, valid, persistent and EFI bits must all read back as written."""
    DEVICE = "device"
    """Only the device selector must read back (for BMCs that report no flag bits)."""


@dataclass(frozen=True)
class IpmiSettings:
    timeout: float = 5.0
    """Seconds one attempt of one call may take, login included."""
    retries: int = 2
    """Further attempts after a transient failure (timeout, busy, lost session)."""
    backoff: float = 0.25
    """Seconds before the first retry; doubles for each further one."""
    probe_timeout: float = 1.5
    """Seconds to wait for the BMC to answer a sessionless ping before calling it unreachable."""
    max_workers: int = 64
    """Blocking pyghmi calls running at the same time (each session has its own thread)."""
    boot_readback: BootReadback = BootReadback.STRICT
    channel: int = 1
    idle_relogin: float = 20.0
    """Seconds a session may sit unused before racker logs in anew (BMCs expire idle ones)."""
    session_wait: float = 65.0
    """Seconds a login waits for a free session slot before it reports none: a BMC frees an
    idle session after 60 s (the spec's default), sooner a half-open one that a lost datagram
    left behind."""


class _Transient(Exception):
    """An attempt failed in a way worth retrying; carries the kind and the words."""

    def __init__(self, kind: ErrorKind, detail: str, *, drop_session: bool = False):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.drop_session = drop_session


Key = tuple[str, int, str]


class IpmiDriver(Driver):
    """Hands out `IpmiBmc` handles; owns the session pool and the worker threads."""

    def __init__(self, settings: IpmiSettings | None = None):
        self.settings = settings or IpmiSettings()
        self._slots = asyncio.Semaphore(self.settings.max_workers)
        self._pool: dict[Key, glue.PyghmiSession] = {}
        self._opening: dict[Key, asyncio.Lock] = {}
        self.logins = 0
        """Sessions opened so far (tests check reuse with it)."""

    # --- pool ---------------------------------------------------------------------------

    @property
    def open_sessions(self) -> int:
        """Sessions in the pool now."""
        return len(self._pool)

    async def open(self, target: BmcTarget) -> IpmiBmc:
        """A handle for `target`; logs in now so that bad credentials show up at once."""
        await self._session(target)
        return IpmiBmc(self, target)

    async def _run(self, executor: Executor, fn: Callable[[], T], timeout: float) -> T:
        """Run blocking `fn` on `executor` within `timeout`; at most max_workers at a time."""
        loop = asyncio.get_running_loop()
        async with self._slots:
            return await asyncio.wait_for(loop.run_in_executor(executor, fn), timeout)

    async def _probe(self, target: BmcTarget) -> None:
        """Raise BmcUnreachable unless the BMC answers a sessionless ping in time."""
        problem = await glue.probe(target.address, target.port, self.settings.probe_timeout)
        if problem is not None:
            raise BmcUnreachable(target.node, _where(target), problem)

    def _new_command(self, target: BmcTarget) -> Any:
        # NOTE: racker stops waiting after `timeout`; the login itself ends a little later, so
        # that racker sees the timeout, not the login's own failure
        return glue.new_command(target.address, target.user, target.password, target.port,
                                give_up_after=self.settings.timeout + glue.GRACE)

    async def _session(self, target: BmcTarget) -> glue.PyghmiSession:
        key: Key = (target.address, target.port, target.user)
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            old = self._pool.get(key)
            if old is not None and old.password == target.password and (
                    old.busy or time.monotonic() - old.last_used < self.settings.idle_relogin):
                return old
            if old is not None:
                # NOTE: nothing sends keepalives between racker's calls, and a BMC drops an
                # idle session after its inactivity timeout (60 s by the spec, less on some);
                # a call on it would only time out. Log in again instead.
                await self._drop(key)
            await self._probe(target)
            command, executor = await self._login(target)
            session = glue.PyghmiSession(command, target.password, executor)
            self._pool[key] = session
            self.logins += 1
            log.debug("%s %s: logged in as %s", target.node, _where(target), target.user)
            return session

    async def _login(self, target: BmcTarget) -> tuple[Any, Executor]:
        """A logged-in pyghmi Command and the one thread it runs on, or the BmcFailure why not.

        Lost datagrams of the login exchange are retried; a BMC without a free session slot
        is asked again, with growing pauses, until `session_wait` has passed."""
        s = self.settings
        timeouts = reasonless = 0
        waited = 0.0
        pause = 0.5
        while True:
            executor = DaemonPool(1, "racker-ipmi")
            login = executor.submit(self._new_command, target)
            try:
                async with self._slots:
                    command = await asyncio.wait_for(asyncio.wrap_future(login), s.timeout)
                return command, executor
            except TimeoutError:
                # NOTE: the login goes on in its thread; one that completes after racker gave
                # up is logged out there, or pyghmi would keep it alive and hold one of the
                # BMC's few session slots for as long as racker runs
                login.add_done_callback(glue.forget_login)
                executor.shutdown(wait=False)
                timeouts += 1
                if timeouts > s.retries:
                    raise BmcTimeout(target.node, _where(target),
                                     f"no session within {s.timeout:g} s, {timeouts} attempts",
                                     ) from None
                # it answered the probe: a lost datagram of the login (RAKP) exchange, which
                # pyghmi gives up on; a new login on a new thread
            except glue.PYGHMI_ERRORS as e:
                executor.shutdown(wait=False)
                message = str(e.args[0]) if e.args and e.args[0] else None
                reasonless += message is None
                if message is None and reasonless <= 1 + s.retries:
                    # it answered the probe: a reasonless failure is a race, or a lost datagram
                    # pyghmi gave up on (a lossy link); a new login
                    continue
                kind = codec.login_error_kind(message)
                if kind is ErrorKind.NO_SESSION and waited + pause <= s.session_wait:
                    if not waited:
                        log.info("%s %s: no free session slot; waiting up to %g s for one",
                                 target.node, _where(target), s.session_wait)
                    await asyncio.sleep(pause)
                    waited += pause
                    pause = min(pause * 2, 8.0)
                    continue
                if kind is ErrorKind.NO_SESSION and waited:
                    message = f"{message}; none freed within {waited:g} s"
                raise _ERROR_CLASS[kind](target.node, _where(target),
                                         message or "no session established") from None

    async def _drop(self, key: Key) -> None:
        """Forget a session and log it out (waits for a call still running on it)."""
        session = self._pool.pop(key, None)
        if session is not None:
            try:
                await self._run(session.executor, session.logout, self.settings.timeout)
            except TimeoutError:
                log.debug("logout of %s timed out", key)
            finally:
                session.executor.shutdown(wait=False)

    async def release(self, target: BmcTarget) -> None:
        """Log out of `target`'s session (the handle's close)."""
        await self._drop((target.address, target.port, target.user))

    async def aclose(self) -> None:
        """Log out of every session, then stop the worker threads."""
        await asyncio.gather(*(self._drop(k) for k in list(self._pool)))

    async def __aenter__(self) -> IpmiDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- calls --------------------------------------------------------------------------

    async def call(self, target: BmcTarget, netfn: int, cmd: int, data: bytes = b"", *,
                   check: bool = True) -> RawResponse:
        """Send one request, with timeout and retries; raise on failure (and on a non-zero
        completion code when `check`)."""
        s = self.settings
        delay = s.backoff
        last: _Transient | None = None
        for attempt in range(s.retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                rsp = await self._attempt(target, netfn, cmd, data)
            except BmcUnreachable as e:
                if last is None:
                    raise
                # it answered before: report the timeout, and that it is gone now
                raise BmcTimeout(target.node, _where(target),
                                 f"{last.detail}, then unreachable: {e.detail}") from None
            except _Transient as t:
                last = t
                log.debug("%s %s: attempt %d of %02x/%02x: %s", target.node, _where(target),
                          attempt + 1, netfn, cmd, t.detail)
                if t.drop_session:
                    await self._drop((target.address, target.port, target.user))
                continue
            if check and rsp.completion_code:
                kind, words = codec.completion_code_kind(netfn, cmd, rsp.completion_code)
                if kind.transient and attempt < s.retries:
                    last = _Transient(kind, words)
                    continue
                raise _ERROR_CLASS[kind](
                    target.node, _where(target),
                    f"{words} (netfn 0x{netfn:02x} cmd 0x{cmd:02x}, "
                    f"code 0x{rsp.completion_code:02x})")
            return rsp
        assert last is not None
        tries = f"after {s.retries + 1} attempts of {s.timeout:g} s"
        raise _ERROR_CLASS[last.kind](target.node, _where(target), f"{last.detail}, {tries}")

    async def _attempt(self, target: BmcTarget, netfn: int, cmd: int, data: bytes) -> RawResponse:
        session = await self._session(target)
        try:
            async with session.turn:
                # NOTE: pyghmi waits this long before it first resends the request, then
                # resends on its own timer (about 1.5 s, 2.5 s, ...). Given the whole attempt's
                # timeout it never resent within the attempt, so one lost datagram cost a whole
                # attempt and the next one queued behind it: a BMC that drops 30 % of its
                # datagrams failed most calls. A third of the attempt still lets a slow BMC
                # (1.5 s) answer before a duplicate goes out.
                first_wait = self.settings.timeout / 3
                # NOTE: a blocked call ends its session in pyghmi once every attempt of the
                # call would have timed out (`raw`); the next call then logs in anew
                give_up = self.settings.timeout * (self.settings.retries + 1) + glue.GRACE
                rsp = await self._run(
                    session.executor,
                    lambda: session.raw(netfn, cmd, data, first_wait, give_up),
                    self.settings.timeout)
        except TimeoutError:
            # NOTE: the session stays: the blocked call still owns it (and pyghmi would hand
            # the same session to a new login), and ends it once its retransmits are spent
            # (`glue._giving_up`). Later attempts queue behind it on the session's thread.
            log.debug("%s %s: no answer to %02x/%02x within %g s; pyghmi: %s", target.node,
                      _where(target), netfn, cmd, self.settings.timeout, session.describe())
            raise _Transient(ErrorKind.TIMEOUT, f"no answer within {self.settings.timeout:g} s",
                             drop_session=session.broken) from None
        except glue.PYGHMI_ERRORS as e:  # pyghmi signals a lost session by exception
            raise _Transient(ErrorKind.TIMEOUT, f"session lost ({e})", drop_session=True) from None
        code = int(rsp.get("code", 0))
        if code == 0xFFFF or (rsp.get("error") and "timeout" in str(rsp.get("error"))):
            raise _Transient(ErrorKind.TIMEOUT, "no answer", drop_session=session.broken)
        session.last_used = time.monotonic()
        return RawResponse(completion_code=code, data=bytes(rsp.get("data", b"")))


def _where(target: BmcTarget) -> str:
    return target.address if target.port == 623 else f"{target.address}:{target.port}"


class IpmiBmc(Bmc):
    """One BMC over IPMI: every interface, on the driver's pooled session."""

    def __init__(self, driver: IpmiDriver, target: BmcTarget):
        self._driver = driver
        self._target = target

    @property
    def target(self) -> BmcTarget:
        return self._target

    async def _call(self, netfn: int, cmd: int, data: bytes = b"") -> bytes:
        return (await self._driver.call(self._target, netfn, cmd, data)).data

    # Power
    async def power_status(self) -> PowerState:
        return (await self.chassis_status()).power

    async def _control(self, action: int) -> None:
        await self._call(codec.NETFN_CHASSIS, codec.CMD_CHASSIS_CONTROL,
                         codec.chassis_control_request(action))

    async def power_on(self) -> None:
        await self._control(codec.CONTROL_POWER_ON)

    async def power_off(self) -> None:
        await self._control(codec.CONTROL_POWER_OFF)

    async def power_cycle(self) -> None:
        await self._control(codec.CONTROL_POWER_CYCLE)

    # Chassis
    async def chassis_status(self) -> ChassisStatus:
        data = await self._call(codec.NETFN_CHASSIS, codec.CMD_GET_CHASSIS_STATUS)
        return self._decode(codec.decode_chassis_status, data)

    def _decode(self, fn: Callable[[bytes], T], data: bytes) -> T:
        try:
            return fn(data)
        except ValueError as e:
            raise BmcCommandFailed(self._target.node, _where(self._target),
                                   f"malformed answer: {e}") from None

    # Boot device
    async def get_boot_device(self) -> BootSetting:
        data = await self._call(codec.NETFN_CHASSIS, codec.CMD_GET_BOOT_OPTIONS,
                                codec.GET_BOOT_FLAGS_REQUEST)
        return self._decode(codec.decode_boot_flags_response, data)

    async def set_boot_device(self, target: BootTarget, *, persistent: bool = True,
                              efi: bool = True) -> BootSetting:
        # NOTE: the bytes are sent raw: pyghmi's set_bootdev writes parameter 3 = 0x08 only
        # (the 60 s timer would still clear the valid bit) and ipmitool 1.8.18 keeps only one
        # of persistent/efiboot. Parameter 3 = 0x1f first, then parameter 5, then read back.
        await self._call(codec.NETFN_CHASSIS, codec.CMD_SET_BOOT_OPTIONS,
                         codec.boot_timer_request())
        wanted = codec.boot_flags(target, persistent=persistent, efi=efi)
        await self._call(codec.NETFN_CHASSIS, codec.CMD_SET_BOOT_OPTIONS, bytes([5]) + wanted)
        got = await self.get_boot_device()
        diffs = codec.boot_flags_differences(wanted, got.raw)
        if self._driver.settings.boot_readback is BootReadback.DEVICE:
            diffs = [d for d in diffs if d.startswith("device")]
        if diffs:
            raise BootFlagsNotKept(self._target.node, _where(self._target),
                                   f"wrote {wanted.hex()}, read back {got.raw.hex()}: "
                                   + ", ".join(diffs))
        return got

    # Users
    async def _user_access(self, uid: int, channel: int) -> codec.UserAccess:
        data = await self._call(codec.NETFN_APP, codec.CMD_GET_USER_ACCESS,
                                codec.get_user_access_request(uid, channel))
        return self._decode(codec.decode_user_access, data)

    async def _user_name(self, uid: int) -> str:
        rsp = await self._driver.call(self._target, codec.NETFN_APP, codec.CMD_GET_USER_NAME,
                                      bytes([uid]), check=False)
        # slot 1 (anonymous) and unnamed slots may answer with an error: no name
        return "" if rsp.completion_code else codec.decode_user_name(rsp.data)

    async def list_users(self, channel: int = 1) -> Sequence[BmcUser]:
        first = await self._user_access(1, channel)
        users = [codec.user_from(1, await self._user_name(1), first)]
        for uid in range(2, first.max_users + 1):
            access = await self._user_access(uid, channel)
            users.append(codec.user_from(uid, await self._user_name(uid), access))
        return users

    async def set_user_name(self, uid: int, name: str) -> None:
        await self._call(codec.NETFN_APP, codec.CMD_SET_USER_NAME,
                         codec.set_user_name_request(uid, name))

    async def set_user_password(self, uid: int, password: str) -> None:
        await self._call(codec.NETFN_APP, codec.CMD_SET_USER_PASSWORD,
                         codec.set_user_password_request(uid, codec.PASSWORD_SET, password))

    async def set_user_access(self, uid: int, privilege: Privilege, channel: int = 1, *,
                              callin: bool = True, link_auth: bool = False,
                              ipmi_messaging: bool = True) -> None:
        await self._call(codec.NETFN_APP, codec.CMD_SET_USER_ACCESS,
                         codec.set_user_access_request(uid, privilege, channel, callin=callin,
                                                       link_auth=link_auth,
                                                       ipmi_messaging=ipmi_messaging))

    async def enable_user(self, uid: int) -> None:
        await self._call(codec.NETFN_APP, codec.CMD_SET_USER_PASSWORD,
                         codec.set_user_password_request(uid, codec.PASSWORD_ENABLE))

    async def disable_user(self, uid: int) -> None:
        await self._call(codec.NETFN_APP, codec.CMD_SET_USER_PASSWORD,
                         codec.set_user_password_request(uid, codec.PASSWORD_DISABLE))

    # Raw
    async def raw(self, netfn: int, command: int, data: bytes = b"") -> RawResponse:
        return await self._driver.call(self._target, netfn, command, data, check=False)

    async def serial_console(self, *, take_over: bool = True) -> AsyncIterator[bytes]:
        """The host's serial console over a SOL session of its own (`sol.SolStream`; close
        it with `aclose`)."""
        return await sol.open_sol(self._target, self._driver.settings.timeout * 2,
                                  take_over=take_over)

    async def session_info(self) -> tuple[int, int]:
        """(session slots, active sessions) as the BMC counts them, this one included."""
        data = await self._call(codec.NETFN_APP, codec.CMD_GET_SESSION_INFO, b"\x00")
        return self._decode(codec.decode_session_info, data)

    async def system_guid(self) -> bytes:
        data = await self._call(codec.NETFN_APP, codec.CMD_GET_SYSTEM_GUID)
        return self._decode(codec.decode_system_guid, data)

    async def close(self) -> None:
        await self._driver.release(self._target)

