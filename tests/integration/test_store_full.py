"""The event store on a real full filesystem (a small tmpfs): a write fails with an error naming
the database, nothing of it is kept, earlier events stay readable, and once space is freed the
next write works; the boot server answers such a failure with 503, not 500."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from racker.adapters.fs.store import Store
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.core.bootnode import BootNode, StaticCatalog
from racker.core.events import EventKind
from racker.errors import StateWriteError
from tests.conftest import require_root

MAC = "aa:bb:cc:00:00:02"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    require_root()
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d: Path) -> Path:
    """Take every free byte of `d`'s filesystem; the file to delete to free them."""
    filler = d / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


def test_a_full_disk_is_a_clear_error_and_nothing_half_written(small: Path) -> None:
    with Store(small / "racker.db") as store:
        store.add(MAC, EventKind.LEASE, detail={"ip": "10.0.0.2"})
        filler = fill(small)
        with pytest.raises(StateWriteError) as e:
            for i in range(10_000):  # the WAL has some room left: until it is gone
                store.add(MAC, EventKind.REQUEST, detail={"path": "/x" * 200, "i": i})
        assert str(small / "racker.db") in str(e.value)
        assert "full" in e.value.message and "free space" in (e.value.hint or "")
        kept = store.events(MAC)
        assert kept[0].kind is EventKind.LEASE
        assert [ev.detail["i"] for ev in kept[1:]] == list(range(len(kept) - 1))  # no gaps
        filler.unlink()
        store.add(MAC, EventKind.BOOTED)
        assert store.events(MAC)[-1].kind is EventKind.BOOTED


def test_the_boot_server_answers_503_when_the_store_is_full(small: Path,
                                                            tmp_path: Path) -> None:
    node = BootNode(MAC, "127.0.0.1", "node-0", b"{}", b"{}")
    store = Store(small / "racker.db")
    app = create_app(BootServerConfig("http://127.0.0.1:8080", tmp_path), StaticCatalog([node]),
                     store)

    async def get_all() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            statuses = []
            for _ in range(2000):  # until the store's room is gone
                r = await client.get("/ipxe", params={"mac": MAC})
                statuses.append(r.status_code)
                if r.status_code != 200:
                    break
            return statuses

    try:
        fill(small)
        statuses = asyncio.run(get_all())
    finally:
        store.close()
    assert statuses[-1] == 503, statuses[-5:]
    assert set(statuses[:-1]) <= {200}
