"""The pyghmi side of the IPMI driver: its session object, two workarounds, a fast ping.

pyghmi is blocking and keeps process-wide state; everything that knows about its internals is
here, so `racker.adapters.bmc.ipmi.driver` only deals with asyncio, retries and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from typing import Any

from pyghmi.exceptions import PyghmiException

from racker.adapters.bmc.ipmi import codec

log = logging.getLogger(__name__)

PYGHMI_ERRORS = (PyghmiException, OSError)
"""What pyghmi raises for a failed login or a lost session."""


class PyghmiSession:
    """One logged-in pyghmi session with its own worker thread.

    pyghmi matches replies to the one command a session has in flight, so every call of a
    session runs on that session's single thread, one at a time (`turn` on the asyncio side,
    `lock` on the thread side). Different BMCs run on different threads at once.
    """

    def __init__(self, command: Any, password: str, executor: Executor):
        self.command = command
        self.password = password
        self.executor = executor
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.turn = asyncio.Lock()
        """Taken before a call's deadline starts, so waiting behind another call on the same
        BMC does not eat into it."""

    def raw(self, netfn: int, cmd: int, data: bytes, timeout: float,
            give_up_after: float) -> dict[str, Any]:
        """Send one request and wait for its answer (blocking): pyghmi's response dict.

        After `give_up_after` seconds the session ends (pyghmi's IpmiException). NOTE: on a
        lossy link pyghmi logs in again inside the call and bounds that at about two minutes;
        every later call on the session queued behind it and timed out (a BMC answered none
        of its calls for 15 s at 30 % loss)."""
        with self.lock, _bounded(give_up_after, self.command.ipmi_session, "answer"):
            rsp: dict[str, Any] = self.command.raw_command(
                netfn=netfn, command=cmd, data=tuple(data), timeout=timeout)
            return rsp

    @property
    def busy(self) -> bool:
        """A call holds this session now."""
        return self.turn.locked()

    @property
    def broken(self) -> bool:
        """pyghmi gave this session up; a new login is needed."""
        return bool(getattr(self.command.ipmi_session, "broken", False))

    def describe(self) -> str:
        """pyghmi's view of this session and of its I/O thread, in one line (for the debug log
        of a call that got no answer: which side lost it)."""
        from pyghmi.ipmi.private import session as ps

        s = self.command.ipmi_session
        now = ps._monotonic_time()
        routes = ps.Session.bmc_handlers.get(getattr(s, "sockaddr", None), {})
        port = s.socket.getsockname()[1] if getattr(s, "socket", None) else None
        due = getattr(s, "incommand", False)
        answered = getattr(s, "racker_answered", None)
        return (f"state={getattr(s, 'sessioncontext', None)} logged={getattr(s, 'logged', None)} "
                f"broken={self.broken} in_command={f'{due - now:.1f}s' if due else 'no'} "
                f"last_answer={f'{time.monotonic() - answered:.1f}s_ago' if answered else 'none'} "
                f"retransmit_wait={getattr(s, 'timeout', 0):.1f}s "
                f"awaiting_retransmit={s in ps.Session.waiting_sessions} "
                f"queued_packets={len(s.pktqueue)} routed_here={routes.get(port) is s} "
                f"io_thread_alive={bool(ps.iothread and ps.iothread.is_alive())} "
                f"sessions_queued={len(ps.sessionqueue)} io_waits={len(ps.ioqueue)}")

    def logout(self) -> None:
        """Close the session on the BMC (blocking, waits for a call in flight)."""
        with self.lock:
            try:
                self.command.ipmi_session.logout()
            except PYGHMI_ERRORS as e:  # a failed logout must not hide the real result
                log.debug("logout failed: %s", e)


def forget_login(login: Future[Any]) -> None:
    """Log out the session of a login racker stopped waiting for (a done-callback: it runs in
    the login's own thread once the login ends, whichever way)."""
    if login.cancelled() or login.exception() is not None:
        return
    try:
        login.result().ipmi_session.logout()
    except PYGHMI_ERRORS as e:  # the BMC forgets it after its idle timeout: no keepalives go
        log.debug("logout of an abandoned login failed: %s", e)


class _Probe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if codec.is_channel_auth_reply(data) and not self.answer.done():
            self.answer.set_result("ok")

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_result(f"{exc.strerror or exc} (nothing listens on the IPMI port)"
                                   if isinstance(exc, OSError) else str(exc))


async def probe(address: str, port: int, timeout: float) -> str | None:
    """Ping the BMC without a session (Get Channel Authentication Capabilities), resending
    a few times within `timeout`. None when it answered, else why it is unreachable."""
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(
            _Probe, remote_addr=(address, port))
    except OSError as e:
        return str(e)
    try:
        deadline = loop.time() + timeout
        seq = 1
        while loop.time() < deadline:
            transport.sendto(codec.channel_auth_probe(seq))
            wait = min(0.3 * seq, deadline - loop.time())
            done, _ = await asyncio.wait({proto.answer}, timeout=max(wait, 0.0))
            if done:
                result = proto.answer.result()
                return None if result == "ok" else result
            seq += 1
        return f"no answer within {timeout:g} s"
    finally:
        transport.close()


GRACE = 0.5
"""Seconds a login or call goes on in pyghmi after racker stopped waiting, before it ends
itself (so that racker sees its own timeout, not pyghmi's failure)."""

_work = threading.local()
"""The login or call this thread runs: its pyghmi session (None until a login has made it)
and when it gives up."""


@contextlib.contextmanager
def _bounded(seconds: float, session: Any, missing: str) -> Iterator[None]:
    """End `session` (pyghmi's IpmiException "no MISSING within SECONDS s") if this thread's
    work in it is still waiting for I/O after `seconds` (see `_bounded_by_work`)."""
    _work.deadline, _work.session = time.monotonic() + seconds, session
    _work.failure = f"no {missing} within {seconds:g} s"
    try:
        yield
    finally:
        _work.deadline = _work.session = None


def new_command(bmc: str, userid: str, password: str, port: int, give_up_after: float) -> Any:
    """A logged-in pyghmi Command (blocking; run it on the session's own thread).

    The login ends (pyghmi's IpmiException) once `give_up_after` seconds have passed. NOTE:
    pyghmi's login waits for as long as its session is logging in, and a lost datagram can
    drop the session's retransmit entry while it is: the thread then waited for good. A bootstrap
    on a lossy link gathered dozens of such threads; each woke for every packet of the process,
    handled other sessions' replies, and new logins timed out with the link good again.
    """
    patch_pyghmi()
    from pyghmi.ipmi import command  # imported late: pyghmi is slow to import

    with _fresh_login(bmc, userid, password, port), \
            _bounded(give_up_after, None, "session"):
        return command.Command(bmc=bmc, userid=userid, password=password, port=port,
                               keepalive=True)


@contextlib.contextmanager
def _fresh_login(bmc: str, userid: str, password: str, port: int) -> Iterator[None]:
    """A login that does not wait on an earlier one of the same credentials.

    NOTE: pyghmi files a logging-in session under (bmc, user, password, port, kg) as str but
    removes it as bytes, so the entry stays. The next login with the same credentials (a
    command session after a logout, a second driver, a console opened again) was handed that
    stale session and waited on it for good, its thread running pyghmi's loop meanwhile: a
    console reopened to the same BMC never came up (a stress of 4 consoles closed and
    reopened: 8 of 32 opens came up). Drop the entry before and after each login."""
    from pyghmi.ipmi.private import session

    stale = (bmc, userid, password, port, None)
    session.Session.initting_sessions.pop(stale, None)
    # NOTE: pyghmi marks a failed login broken before it stores the reason; the logging-in
    # thread can look in between and fail with AttributeError (seen ~1 run in 20 with wrong
    # credentials). A class default makes that a login failure without a reason, which the
    # driver tries once more to learn the reason.
    if not hasattr(session.Session, "errormsg"):
        session.Session.errormsg = None
    try:
        yield
    finally:
        session.Session.initting_sessions.pop(stale, None)


def _bounded_by_work(timeout: float) -> float | None:
    """How long this thread may wait for I/O: `timeout`, or less when the login or call it runs
    is due sooner; None when that work was overdue and its session has just been ended."""
    deadline = getattr(_work, "deadline", None)
    if deadline is None:
        return timeout
    left: float = deadline - time.monotonic()
    if left > 0:
        return min(timeout, left)
    s = _work.session
    if s is None or s.broken:
        return timeout
    # NOTE: this thread's own command is what other threads' commands on the session wait for
    # (holding the session's lock meanwhile)
    _let_go(s)
    s._mark_broken(_work.failure)
    return None


_patched = False
_patching = threading.Lock()


def patch_pyghmi() -> None:
    """Mend six faults of pyghmi's process-wide state before the first session (idempotent,
    and once only when many threads log in at once: each application wraps the last one).

    1. A lost wake-up: pyghmi's I/O thread wakes a waiting caller only for packets read in the
       same round as the caller registered; a reply faster than that (a quick BMC on a short
       path) sat in the session's queue until the retransmit timer, 0.5-1 s later (measured
       against ipmi_sim: 25 of 300 Get Session Info calls took 0.5-1 s). A call's wait for
       its reply is also woken by the thread that stores the reply (`_woken_waits`).
    2. A deadlock: pyghmi guards its keepalive and retransmit tables with two locks taken in
       both orders (`send_payload` holds KEEPALIVE_SESSIONS and takes WAITING_SESSIONS for a
       delayed send; `wait_for_rsp` holds WAITING_SESSIONS while a timed-out session resends,
       which takes KEEPALIVE_SESSIONS). Two threads (a session's calls and the SOL pump) met
       that way on a lossy link and every BMC call of the process hung for good (a bootstrap
       stopped for 15 minutes, all of its threads in `protect.__enter__`). One re-entrant lock
       for both tables cannot be taken in two orders; neither is held across a wait for I/O.
    3. A race: `Session.__new__` looks for a session to share and deletes broken ones from a
       process-wide table without a lock; two logins at once (a BMC's command session and its
       console) deleted the same entry and one failed with KeyError. `__new__` does no I/O
       (the login is `__init__`'s): it runs under a lock. A logout also deletes its entry,
       from another thread and without that lock; `__new__` then looks again.
    4. A race that ended pyghmi's I/O thread, and every BMC call of the process with it: a
       packet of a session that a logout was ending (`_surviving`).
    5. A call that outlives its retransmits held up every BMC of the process, or the consoles
       (`_giving_up`).
    6. A race that stopped pyghmi's I/O thread, and every BMC call of the process with it, until
       a packet came to one quiet socket (`_never_blocking_recv`).

    Every wait for I/O also ends a login or call that racker gave up on (`_bounded`), and a
    login never spins without waiting (`_bounded_rounds`).
    """
    global _patched
    with _patching:
        if not _patched:
            _patch()
            _patched = True


def _patch() -> None:
    from pyghmi.ipmi.private import session

    session.WAITING_SESSIONS = session.KEEPALIVE_SESSIONS
    find_or_make = session.Session.__new__
    table_lock = threading.Lock()

    def locked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        with table_lock:
            while True:
                try:
                    made = find_or_make(cls, *args, **kwargs)
                    break
                except KeyError:  # a logout removed the entry it was about to drop
                    continue
        if getattr(_work, "deadline", None) is not None and _work.session is None:
            _work.session = made  # the session of this thread's login (`new_command`)
        return made

    session.Session.__new__ = locked_new
    session._io_wait = _woken_waits(session, session._io_wait)
    session._io_graball = _surviving(session._io_graball)
    session._io_recvfrom = _never_blocking_recv
    session.Session._timedout = _giving_up(session.Session._timedout)
    session.Session.wait_for_rsp = _bounded_rounds(session.Session.wait_for_rsp)


def _surviving(graball: Any) -> Any:
    """pyghmi's `_io_graball` (its I/O thread reading every socket), surviving a session that
    ends while one of its packets is routed.

    NOTE: the I/O thread looks a packet's session up in a process-wide table, checking and then
    indexing it, without a lock; a logout on another thread deletes its entry. In between, the
    KeyError ended the I/O thread, and with it every BMC call of the process: each waits for a
    wake-up that only that thread gives. The packet whose session is gone is dropped; the rest
    are read on. Anything else that fails a round is logged, and the next round goes on."""

    def surviving(sockets: Any, waiters: Any) -> list[Any]:
        while True:
            try:
                return list(graball(sockets, waiters))
            except KeyError:  # its session ended under it: read on
                continue
            except Exception:  # the I/O thread must outlive any one packet
                log.warning("pyghmi's I/O thread: a round failed", exc_info=True)
                return []

    return surviving


def _never_blocking_recv(sock: Any, size: int) -> Any:
    """pyghmi's `_io_recvfrom` (its I/O thread reading a socket until it is empty): a datagram
    waiting on `sock`, or None at once.

    NOTE: pyghmi makes the socket non-blocking, then reads; a thread that sends on the socket
    meanwhile makes it blocking again (`_io_sendto`), and the read then waited for the socket's
    next datagram. On a socket whose sessions had ended that never came: every BMC call and
    login of the process waits for a wake-up from the I/O thread, and none came up for 30 s (a
    stack dump of the lossy integration test: the I/O thread in `recvfrom` on one socket, 59
    logins waiting for it). The flag on the read does not depend on the socket's mode."""
    try:
        return sock.recvfrom(size, socket.MSG_DONTWAIT)
    except OSError:  # nothing waiting (EAGAIN), or an ICMP error of an earlier send
        return None


ROUND_MAX = 0.5
"""Seconds one round of pyghmi's loop waits at most on a thread whose work racker bounds."""


def _bounded_rounds(wait_for_rsp: Any) -> Any:
    """pyghmi's `Session.wait_for_rsp` (a round of its loop), waiting for I/O at most until the
    calling thread's login or call is due (`_bounded`), which it then ends.

    NOTE: pyghmi's login waits `while self.logging: Session.wait_for_rsp()`, and a round
    without a timeout returns at once, without waiting, when no session has a retransmit or a
    keepalive due. A login whose retransmit entry was lost (a datagram lost at the wrong step)
    spun there for good, never reaching the wait that ends it, and every later login with the
    same credentials joined its session (pyghmi shares a session that is logging in): after a
    lossy spell no new session to any of three BMCs came up for 30 s (the lossy integration
    test, once in a fresh-clone run and once in 4 runs by hand)."""

    def bounded(cls: Any, timeout: float | None = None, callout: bool = True) -> Any:
        if getattr(_work, "deadline", None) is not None:
            left = _bounded_by_work(ROUND_MAX if timeout is None else timeout)
            if left is None:  # overdue: its session has just been ended
                return 0
            timeout = left
        return wait_for_rsp(timeout, callout)

    return classmethod(bounded)


def _giving_up(timedout: Any) -> Any:
    """pyghmi's `Session._timedout` (a request's retransmit timer ran out), ending an
    established session at once when its retransmits are spent, without waiting for anything.

    NOTE: pyghmi logged in again inside the call instead; whichever thread handled the BMC's
    last login reply (often the SOL pump) then waited for the call's own deadline (about 18 s)
    before it resent the request: every console of the process stood still meanwhile. Measured
    with consoles open to four virtual BMCs, one of them not answering for 7 s out of 11:
    calls to the other three took up to 6.8 s. Now the call fails at once ("session lost");
    the driver logs in anew on its next attempt, the console capture opens the console again.

    NOTE: pyghmi gives a session up (`_mark_broken`, whose logout sends a Close Session) while
    the calling thread holds the lock of the session tables, and the logout first waits for
    the session's command in flight. Woken to find the session free, another thread's command
    went out on it first, and the logout waited for that one (up to 18 s) holding the lock:
    every BMC call and login of the process stood still (a stack dump of the lossy integration
    test, where no new session to any BMC came up for 30 s). The session is closed without a
    wait here, and marked logged out before anyone waiting on it wakes (they fail "no longer
    connected")."""

    def giving_up(self: Any) -> None:
        if self.sessioncontext == "ESTABLISHED":
            self.logontries = 0
        if not (self.lastpayload and self.timeout + 1 > self.maxtimeout
                and not self.logontries):
            timedout(self)  # a retransmit, or a login's next try
            return
        self.timeout += 1
        _let_go(self)
        self.ipmicallback({"error": "timeout", "code": 0xFFFF})  # as pyghmi answers the call
        self.lastresponse = None  # the waiting call fails "no longer connected", as in pyghmi
        self.nowait = False
        self._mark_broken()

    return giving_up


def _let_go(s: Any) -> None:
    """Let go of session `s`, which is being given up (`_mark_broken` next): close it without
    waiting, and mark it logged out before the commands waiting on it wake (they fail "no
    longer connected" instead of going out on it). NOTE: pyghmi's own logout waits for the
    session's command in flight first: one that a woken waiter sent held that logout up to
    ~18 s (see `_giving_up`)."""
    if s.logged:
        _close_without_waiting(s)
    s.logged = 0
    s.incommand = False
    while s.evq:
        s.evq.popleft().set()


def _close_without_waiting(s: Any) -> None:
    """Send the session's Close Session once, expecting no answer (the BMC answered nothing
    for seconds; it forgets the session after its idle timeout anyway)."""
    s.lastpayload = None  # the spent request: the close goes out now, not after it
    try:
        s._send_ipmi_net_payload(netfn=0x06, command=0x3C,
                                 data=tuple(struct.pack("<I", s.sessionid)), retry=False)
    except PYGHMI_ERRORS as e:
        log.debug("closing a session given up failed: %s", e)


def _woken_waits(session: Any, original: Any) -> Any:
    """pyghmi's `_io_wait`, for a call waiting for its reply (`Session.awaitresponse`), woken
    by the reply itself. NOTE: the I/O thread wakes only the waiters registered when it reads
    a packet; another thread may be handling the reply at that moment (pyghmi's rounds run on
    whichever thread waits: the SOL pump, other logins), and the call that registers then
    found no reply yet and slept until its retransmit timer, 0.5-1 s. Measured: 48 command
    logins and calls at once took 1.8 s, and 2-16 of 48 SOL logins were 0.6-1.1 s late in
    every run. Now the thread that stores a reply (`_generic_callback`) also sets the event of
    the call waiting for it; the event is in place before the call looks for its reply, so
    one of the two sees the other. Other waits (the SOL pump's, a call queued behind another)
    keep pyghmi's own."""
    waiting = threading.local()
    awaitresponse = session.Session.awaitresponse
    generic_callback = session.Session._generic_callback

    def awaiting(self: Any, retry: Any, netfn: int, command: int) -> Any:
        outer = getattr(waiting, "call", None)
        waiting.call = (self, netfn, command)
        try:
            return awaitresponse(self, retry, netfn, command)
        finally:
            waiting.call = outer

    def stored(self: Any, response: Any) -> None:
        generic_callback(self, response)
        self.racker_answered = time.monotonic()
        wake = getattr(self, "racker_wake", None)
        if wake is not None:
            wake.set()

    def io_wait(timeout: float, myaddr: Any = None, evq: Any = None) -> None:
        bounded = _bounded_by_work(timeout)  # every wait passes here first, once
        if bounded is None:
            return
        timeout = bounded
        call = getattr(waiting, "call", None)
        # NOTE: only the wait of `awaitresponse` itself (no event queue): a call that waits
        # behind another (`_cmdwait`, with the session's queue) on a session of the same BMC,
        # nested inside this thread's `awaitresponse`, must not read the outer call's reply as
        # its own and spin until its deadline
        if myaddr is None or evq is not None or call is None or call[0].sockaddr != myaddr:
            original(timeout, myaddr, evq)
            return
        s, netfn, command = call
        evt = threading.Event()
        s.racker_wake = evt
        try:
            # a new packet, or the reply (a stale one, a late retransmit's, does not count)
            if s.pktqueue or not session.unmatched(s.lastresponse, netfn, command):
                return
            deadline = timeout + session._monotonic_time()
            session.ioqueue.append((deadline, evt, myaddr))
            if deadline < session.selectdeadline:  # wake the I/O thread for an earlier one
                intsock = session.iosockets[0]
                intsock.sendto(b"\x01", (session.myself, intsock.getsockname()[1]))
            evt.wait(max(0.0, timeout))
        finally:
            s.racker_wake = None

    session.Session.awaitresponse = awaiting
    session.Session._generic_callback = stored
    return io_wait
