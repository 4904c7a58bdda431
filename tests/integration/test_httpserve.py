"""The boot server over real loopback HTTP with uvicorn and the sendfile protocol."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from racker.adapters.fs.store import Store
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from tests.bootthread import boot_server_thread

NODE = BootNode("aa:bb:cc:00:00:02", "127.0.0.1", "node-0", b'{"i": 1}', b'{"i": 2}')


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    assets = tmp_path / "assets"
    (assets / "flatcar" / "1.0.0").mkdir(parents=True)
    blob = bytes(range(256)) * 40_000 + b"tail"  # ~10 MB, not a multiple of any buffer
    (assets / "flatcar" / "1.0.0" / "initrd").write_bytes(blob)
    (assets / "flatcar" / "current").symlink_to("1.0.0")
    with boot_server_thread(assets, tmp_path / "racker.db", [NODE], wait=10) as running:
        yield running.url, assets


def test_whole_file_range_and_keepalive(served: tuple[str, Path], tmp_path: Path) -> None:
    url, assets = served
    blob = (assets / "flatcar/1.0.0/initrd").read_bytes()
    with httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(3):  # several full responses on one kept-alive connection
            r = c.get("/assets/flatcar/current/initrd")
            assert r.status_code == 200
            assert r.headers["content-length"] == str(len(blob))
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(blob).digest()
        r = c.get("/assets/flatcar/current/initrd", headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == blob[1000:2000]
        r = c.head("/assets/flatcar/current/initrd")
        assert r.status_code == 200 and r.content == b""
        assert c.get("/boot.ipxe").text.startswith("#!ipxe")
        assert c.get("/ignition?mac=aa-bb-cc-00-00-02&os=installed").json() == {"i": 2}
        r = c.post("/racker/v1/nodes/aa-bb-cc-00-00-02/events", json={"event": "booted"})
        assert r.status_code == 200
    with Store(tmp_path / "racker.db") as s:
        kinds = [e.kind for e in s.events(NODE.mac)]
        assert kinds.count(EventKind.REQUEST) == 8 and kinds[-1] is EventKind.BOOTED


def test_many_parallel_downloads(served: tuple[str, Path]) -> None:
    url, assets = served
    size = (assets / "flatcar/1.0.0/initrd").stat().st_size

    async def fetch(i: int) -> int:
        # one address per client, as nodes have (downloads are limited per address)
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.6.{i + 1}")
        async with httpx.AsyncClient(base_url=url, timeout=60, transport=transport) as c:
            r = await c.get("/assets/flatcar/current/initrd")
            return len(r.content)

    async def main() -> list[int]:
        return await asyncio.gather(*(fetch(i) for i in range(16)))

    assert asyncio.run(main()) == [size] * 16


def test_slow_reader_gets_every_byte(served: tuple[str, Path]) -> None:
    """A client that reads slowly fills the socket: the sender waits and resumes."""
    url, assets = served
    blob = (assets / "flatcar/1.0.0/initrd").read_bytes()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(b"GET /assets/flatcar/current/initrd HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        got = bytearray()
        while chunk := s.recv(65536):
            got += chunk
            if len(got) < 2_000_000:
                time.sleep(0.002)  # slow at first, so the server's writes would block
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == blob


def test_a_port_in_use_is_a_service_error_naming_it() -> None:
    from racker.adapters.http.serve import listen
    from racker.errors import ServiceError

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ServiceError, match=f"could not listen on 127.0.0.1:{port}: "
                                               "Address already in use") as e:
            listen("127.0.0.1", port)
        assert e.value.hint and "ss -ltnp" in e.value.hint
    finally:
        holder.close()
    sock = listen("127.0.0.1", port)  # free again: bound
    assert sock.getsockname() == ("127.0.0.1", port)
    sock.close()
