"""The boot server over real loopback HTTP (uvicorn and the sendfile protocol) while 32 clients
stall it: a node still installs, and every stalled connection is closed in bounded time."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from racker.adapters.fs.store import Store
from racker.adapters.http.requests import MAX_BODY
from racker.adapters.http.serve import Limits
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from tests.bootthread import boot_server_thread

NODE = BootNode("aa:bb:cc:00:00:02", "127.0.0.100", "node-0", b'{"i": 1}', b'{"i": 2}')
LIMITS = Limits(header_timeout=2.0, send_wait=3.0, transfer_deadline=20.0)
BIG = 48 << 20  # far more than loopback's socket buffers hold


@dataclass
class Served:
    port: int
    db: Path
    server: uvicorn.Server

    def connections(self) -> int:
        """Connections the server holds (a dropped one is gone, whatever the client does)."""
        return len(self.server.server_state.connections)

    def connect(self, source: str, rcvbuf: int | None = None) -> socket.socket:
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.bind((source, 0))
        s.settimeout(30)
        s.connect(("127.0.0.1", self.port))
        return s


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path, LIMITS) as s:
        yield s


@contextlib.contextmanager
def serving(tmp_path: Path, limits: Limits) -> Iterator[Served]:
    """The boot server on loopback in a thread of its own, stopped after the block (it must
    end within 15 s whatever its clients do)."""
    assets = tmp_path / "assets" / "flatcar" / "1.0.0"
    assets.mkdir(parents=True)
    with (assets / "image.bin.bz2").open("wb") as f:
        f.write(os.urandom(1 << 20) * (BIG >> 20))
    (assets / "kernel").write_bytes(os.urandom(300_000))
    db = tmp_path / "racker.db"
    with Store(db) as store:  # racker is installing the node
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")
    with boot_server_thread(tmp_path / "assets", db, [NODE], limits=limits) as running:
        yield Served(running.port, db, running.server)
    assert not running.thread.is_alive(), "the boot server did not stop"


def closed_by_server(s: socket.socket) -> bool:
    """Reads what is left; True once the server closed the connection."""
    s.settimeout(0.2)
    try:
        while s.recv(1 << 20):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def wait_until(what: str, cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"


def node_installs(port: int) -> float:
    """What a node's installer fetches and reports; the seconds it took."""
    start = time.monotonic()
    transport = httpx.HTTPTransport(local_address=NODE.ip)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport,
                      timeout=30) as c:
        assert c.get("/ipxe?mac=aa-bb-cc-00-00-02").status_code == 200
        assert c.get("/ignition?mac=aa-bb-cc-00-00-02&os=installer").json() == {"i": 1}
        assert len(c.get("/assets/flatcar/1.0.0/kernel").content) == 300_000
        r = c.get("/assets/flatcar/1.0.0/image.bin.bz2")
        assert r.status_code == 200 and len(r.content) == BIG
        r = c.post("/racker/v1/self/events", json={"event": "installed"})
        assert r.status_code == 200, r.text
    return time.monotonic() - start


def test_a_node_installs_while_32_clients_stall_the_server(served: Served) -> None:
    stalled: dict[str, list[socket.socket]] = {"download": [], "header": [], "silent": [],
                                               "body": []}
    try:
        for i in range(16):  # downloads that never read, from 16 addresses
            s = served.connect(f"127.0.1.{i + 1}", rcvbuf=4096)
            s.sendall(b"GET /assets/flatcar/1.0.0/image.bin.bz2 HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled["download"].append(s)
        for i in range(8):  # half a request line
            s = served.connect(f"127.0.2.{i + 1}")
            s.sendall(b"GET /boot.ipxe HTTP/1.1\r\nHost: ")
            stalled["header"].append(s)
        for i in range(4):  # nothing at all
            stalled["silent"].append(served.connect(f"127.0.3.{i + 1}"))
        for i in range(4):  # a report whose body never comes
            s = served.connect(f"127.0.4.{i + 1}")
            s.sendall(b"POST /racker/v1/self/events HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 40\r\n\r\n{\"ev")
            stalled["body"].append(s)
        time.sleep(0.5)  # every stalled download has filled its socket by now

        took = node_installs(served.port)
        print(f"RESULT node install under 32 stalled clients: {took:.2f} s")

        # the half-sent requests are closed after header_timeout, the stalled downloads after
        # send_wait: nothing holds the server for ever (the clients still hold their sockets)
        wait_until("every stalled connection dropped", lambda: served.connections() == 0,
                   max(LIMITS.header_timeout, LIMITS.send_wait) + 15)
        for kind in ("header", "silent", "body"):
            for s in stalled[kind]:
                wait_until(f"a {kind} connection closed", functools.partial(closed_by_server, s),
                           10)
    finally:
        for group in stalled.values():
            for s in group:
                s.close()
    with Store(served.db) as store:
        kinds = [e.kind for e in store.events(NODE.mac)]
    assert EventKind.INSTALLED in kinds


def test_downloads_per_client_and_request_body_are_bounded(served: Served) -> None:
    assert served.server.config.limit_concurrency == LIMITS.concurrency  # beyond: 503
    held = []
    try:
        for _ in range(4):
            s = served.connect("127.0.5.1", rcvbuf=4096)
            s.sendall(b"GET /assets/flatcar/1.0.0/image.bin.bz2 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(12) == b"HTTP/1.1 200"
            held.append(s)
        transport = httpx.HTTPTransport(local_address="127.0.5.1")
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", transport=transport,
                          timeout=10) as c:
            r = c.get("/assets/flatcar/1.0.0/kernel")
            assert r.status_code == 429 and "already downloads 4 files" in r.text
        # another address is not affected
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=10) as c:
            assert c.get("/assets/flatcar/1.0.0/kernel").status_code == 200
    finally:
        for s in held:
            s.close()
    transport = httpx.HTTPTransport(local_address=NODE.ip)
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", transport=transport,
                      timeout=10) as c:
        r = c.post("/racker/v1/self/events", content=b"{" + b" " * MAX_BODY + b"}")
        assert r.status_code == 413 and f"more than {MAX_BODY}" in r.text

        def body() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(5):
                yield b" " * (MAX_BODY // 4)

        r = c.post("/racker/v1/self/events", content=body())
        assert r.status_code == 413


def test_the_server_stops_while_a_download_stalls(tmp_path: Path) -> None:
    # a client that stopped reading would hold the stop for send_wait (here: 10 minutes)
    patient = Limits(header_timeout=600.0, send_wait=600.0, transfer_deadline=3600.0)
    with serving(tmp_path, patient) as served:
        s = served.connect("127.0.7.1", rcvbuf=4096)
        s.sendall(b"GET /assets/flatcar/1.0.0/image.bin.bz2 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(12) == b"HTTP/1.1 200"
        silent = served.connect("127.0.7.2")  # and one that never sends anything
        wait_until("both connections held", lambda: served.connections() == 2, 10)
    # `serving` asserted that the server ended within 15 s
    s.close()
    silent.close()
