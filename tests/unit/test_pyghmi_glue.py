"""The mends to pyghmi's process-wide state: applied once however many threads log in at
once, and a session lookup that a logout on another thread cannot break.

Each case runs in a child interpreter: pyghmi's state is per process, and other tests of
this process may have patched it already.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_threads_that_log_in_at_once_patch_pyghmi_once() -> None:
    # NOTE: pyghmi is not imported yet, as in a bootstrap's first logins: its slow first
    # import is where threads that all found the patch missing used to meet
    out = _run("""
        import threading
        from racker.adapters.bmc.ipmi import pyghmi_glue

        start = threading.Barrier(32)

        def login():
            start.wait()
            pyghmi_glue.patch_pyghmi()

        threads = [threading.Thread(target=login) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        from pyghmi.ipmi.private import session

        def wraps_pyghmis_own(f):  # a wrapper closes over the function it wraps
            inner = [c.cell_contents for c in f.__closure__ or () if callable(c.cell_contents)]
            return [g.__module__ for g in inner] == ["pyghmi.ipmi.private.session"]

        print(*(wraps_pyghmis_own(f) for f in (session.Session.__new__, session._io_wait,
                                                session._io_graball, session.Session._timedout)))
    """)
    assert out == "True True True True", "the patch wrapped an earlier application of itself"


def test_a_logout_between_lookup_and_cleanup_does_not_fail_a_new_session() -> None:
    # NOTE: a logout on another thread deletes its entry from pyghmi's table without the
    # lock `__new__` holds; here the broken entry deletes itself when `__new__` reads it,
    # just before `__new__` deletes it too
    out = _run("""
        import socket
        from pyghmi.ipmi.private import session
        from racker.adapters.bmc.ipmi import pyghmi_glue

        pyghmi_glue.patch_pyghmi()
        table = session.Session.bmc_handlers
        keys = [r[4] for r in socket.getaddrinfo("127.0.0.1", 6230, 0, socket.SOCK_DGRAM)]
        keys += [("::ffff:127.0.0.1", 6230, 0, 0)]

        class LoggingOut:
            broken = True
            logging = False

            @property
            def logged(self):
                for key in keys:
                    table.get(key, {}).pop(40000, None)
                return False

        for key in keys:
            table[key] = {40000: LoggingOut()}
        new = session.Session.__new__(session.Session, "127.0.0.1", "admin", "pw", 6230)
        print(type(new).__name__, any(40000 in table.get(key, {}) for key in keys))
    """)
    assert out == "Session False"


def test_the_io_thread_outlives_a_session_that_ends_while_its_packet_is_routed() -> None:
    # NOTE: pyghmi's I/O thread checks that a packet's session is in its table, then indexes
    # it; a logout on another thread deletes the entry. Here the entry is gone at the index,
    # as if the logout ran in between. The thread must live on and route the next packet.
    out = _run("""
        import collections, socket, time
        from pyghmi.ipmi.private import session
        from racker.adapters.bmc.ipmi import pyghmi_glue

        pyghmi_glue.patch_pyghmi()
        mine = session.Session._assignsocket()  # starts pyghmi's I/O thread
        port = mine.getsockname()[1]
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        keys = [("127.0.0.1", peer.getsockname()[1]),
                ("::ffff:127.0.0.1", peer.getsockname()[1], 0, 0)]

        class LoggedOut(dict):  # the check finds the session, the lookup does not
            def __contains__(self, key):
                return True

            def __getitem__(self, key):
                raise KeyError(key)

        for key in keys:
            session.Session.bmc_handlers[key] = LoggedOut()
        peer.sendto(b"\\x06\\x00\\xff\\x07 gone", ("127.0.0.1", port))
        time.sleep(0.5)
        alive = session.iothread.is_alive()

        class Live:
            pktqueue = collections.deque()

        live = Live()
        for key in keys:
            session.Session.bmc_handlers[key] = {port: live}
        peer.sendto(b"\\x06\\x00\\xff\\x07 next", ("127.0.0.1", port))
        deadline = time.monotonic() + 5
        while not live.pktqueue and time.monotonic() < deadline:
            time.sleep(0.01)
        print(alive, [bytes(p[0]) for p in live.pktqueue])
    """)
    assert out == "True [b'\\x06\\x00\\xff\\x07 next']"


def test_the_io_thread_never_waits_on_a_socket_another_thread_made_blocking() -> None:
    # NOTE: pyghmi's I/O thread makes a socket non-blocking, then reads it; a thread that sends
    # on it in between (pyghmi's `_io_sendto`) makes it blocking again, and the read waited for
    # the socket's next datagram: on a quiet socket, for good, and every BMC call with it. Here
    # the other thread's send comes exactly in between, every time.
    out = _run("""
        import socket, threading
        from pyghmi.ipmi.private import session
        from racker.adapters.bmc.ipmi import pyghmi_glue

        pyghmi_glue.patch_pyghmi()

        class SentOnMeanwhile(socket.socket):
            def setblocking(self, flag):
                super().setblocking(flag)
                super().setblocking(True)  # another thread's send, right after

        quiet = SentOnMeanwhile(socket.AF_INET, socket.SOCK_DGRAM)
        quiet.bind(("127.0.0.1", 0))
        quiet.setblocking(True)
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.sendto(b"a reply", quiet.getsockname())
        reads = []
        reader = threading.Thread(target=lambda: reads.extend(
            session._io_recvfrom(quiet, 3000) for _ in range(2)), daemon=True)
        reader.start()
        reader.join(5)
        print(reader.is_alive(), [r if r is None else r[0] for r in reads])
    """)
    assert out == "False [b'a reply', None]", "the read waited on a quiet socket"
