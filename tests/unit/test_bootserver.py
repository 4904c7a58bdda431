from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from racker.adapters.fs.store import Store
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.adapters.http.requests import TRIM_EVERY
from racker.core.bootnode import BootNode, StaticCatalog
from racker.core.events import EventKind
from racker.errors import BmcError

NODE = BootNode(
    mac="aa:bb:cc:00:00:02", ip="172.24.213.2", name="node-0",
    install_ignition=b'{"ignition":{"version":"3.3.0"},"x":"installer"}',
    node_ignition=b'{"ignition":{"version":"3.3.0"},"x":"installed"}',
    metadata={"domain": "node-0"},
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "racker.db") as s:
        yield s


def make_client(tmp_path: Path, store: Store, client_ip: str = NODE.ip,
                reports: list[tuple[str, EventKind]] | None = None) -> httpx.AsyncClient:
    assets = tmp_path / "assets"
    (assets / "flatcar" / "1.2.3").mkdir(parents=True, exist_ok=True)
    (assets / "flatcar" / "1.2.3" / "kernel").write_bytes(bytes(range(256)) * 4)
    if not (assets / "flatcar" / "current").exists():
        (assets / "flatcar" / "current").symlink_to("1.2.3")
    (tmp_path / "secret").write_text("outside")

    async def on_report(node: BootNode, kind: EventKind) -> None:
        if reports is not None:
            reports.append((node.mac, kind))

    app = create_app(BootServerConfig("http://172.24.213.1:8080", assets),
                     StaticCatalog([NODE]), store, on_report)
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://172.24.213.1:8080")


async def _get(c: httpx.AsyncClient, url: str, **kw: object) -> httpx.Response:
    async with c:
        return await c.get(url, **kw)  # type: ignore[arg-type]


def test_boot_ipxe(tmp_path: Path, store: Store) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store), "/boot.ipxe"))
    assert r.status_code == 200
    assert r.text.startswith("#!ipxe\nchain ipxe?mac=${mac:hexhyp}")


@pytest.mark.parametrize("mac", ["aa-bb-cc-00-00-02", "AA:BB:CC:00:00:02", "aa:bb:cc:00:00:02"])
def test_ipxe_accepts_any_mac_form(tmp_path: Path, store: Store, mac: str) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store), f"/ipxe?mac={mac}&uuid=x"))
    assert r.status_code == 200
    assert "ignition?mac=aa-bb-cc-00-00-02&os=installer" in r.text


@pytest.mark.parametrize(("url", "status"), [
    ("/ipxe?mac=aa-bb-cc-00-00-09", 404),
    ("/ipxe?mac=nonsense", 400),
    ("/ipxe", 400),
    ("/ignition?mac=aa-bb-cc-00-00-02&os=windows", 400),
    ("/assets/../secret", 404),
    ("/assets/flatcar/../../secret", 404),
    ("/assets/%2e%2e/secret", 404),
    ("/assets/flatcar/current", 404),
    ("/nothing", 404),
])
def test_bad_requests(tmp_path: Path, store: Store, url: str, status: int) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store), url))
    assert r.status_code == status
    assert "outside" not in r.text


def open_window(store: Store, ts: float | None = None) -> None:
    """What the engine records before it powers the node on from the network."""
    store.add(NODE.mac, EventKind.STAGE, stage="pxe", ts=ts)


def test_ignition_by_os_and_only_to_the_node(tmp_path: Path, store: Store) -> None:
    open_window(store)
    r = asyncio.run(_get(make_client(tmp_path, store), "/ignition?mac=aa-bb-cc-00-00-02"))
    assert r.json()["x"] == "installer"
    r = asyncio.run(_get(make_client(tmp_path, store),
                         "/ignition?mac=aa-bb-cc-00-00-02&os=installed"))
    assert r.json()["x"] == "installed"
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip="172.24.213.3"),
                         "/ignition?mac=aa-bb-cc-00-00-02&os=installed"))
    assert r.status_code == 403
    assert '"x"' not in r.text and "may only be served to 172.24.213.2" in r.text


def test_metadata(tmp_path: Path, store: Store) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store), "/metadata?mac=aa-bb-cc-00-00-02"))
    assert r.text.splitlines() == ["MAC=aa:bb:cc:00:00:02", "NAME=node-0", "IP=172.24.213.2",
                                   "DOMAIN=node-0"]
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip="127.0.0.1"),
                         "/metadata?mac=aa-bb-cc-00-00-02"))
    assert r.text.splitlines() == ["MAC=aa:bb:cc:00:00:02", "NAME=node-0", "IP=172.24.213.2",
                                   "DOMAIN=node-0"]


def test_assets_range_and_symlinked_current(tmp_path: Path, store: Store) -> None:
    c = make_client(tmp_path, store)
    r = asyncio.run(_get(c, "/assets/flatcar/current/kernel", headers={"Range": "bytes=10-19"}))
    assert r.status_code == 206
    assert r.content == bytes(range(10, 20))
    assert r.headers["content-range"] == "bytes 10-19/1024"
    r = asyncio.run(_get(make_client(tmp_path, store), "/assets/flatcar/1.2.3/kernel"))
    assert r.status_code == 200 and len(r.content) == 1024


def test_report_calls_engine_before_answering_and_is_stored(tmp_path: Path, store: Store) -> None:
    reports: list[tuple[str, EventKind]] = []
    open_window(store)

    async def go() -> httpx.Response:
        async with make_client(tmp_path, store, reports=reports) as c:
            return await c.post("/racker/v1/nodes/AA-BB-CC-00-00-02/events",
                                content=json.dumps({"event": "installed"}))

    r = asyncio.run(go())
    assert r.status_code == 200 and r.json()["event"] == "installed"
    assert reports == [("aa:bb:cc:00:00:02", EventKind.INSTALLED)]
    assert [e.kind for e in store.events("aa:bb:cc:00:00:02")][-1] is EventKind.INSTALLED


@pytest.mark.parametrize("body", [b"", b"{}", b"[]", b'{"event": "exploded"}', b"not json"])
def test_bad_report_is_refused(tmp_path: Path, store: Store, body: bytes) -> None:
    async def go() -> httpx.Response:
        async with make_client(tmp_path, store) as c:
            return await c.post("/racker/v1/nodes/aa-bb-cc-00-00-02/events", content=body)

    r = asyncio.run(go())
    assert r.status_code == 400 and "installed" in r.text


def test_every_request_is_an_event(tmp_path: Path, store: Store) -> None:
    asyncio.run(_get(make_client(tmp_path, store), "/boot.ipxe"))
    asyncio.run(_get(make_client(tmp_path, store), "/ipxe?mac=aa-bb-cc-00-00-02"))
    asyncio.run(_get(make_client(tmp_path, store), "/ipxe?mac=aa-bb-cc-00-00-77"))
    events = store.events()
    assert [(e.mac, e.detail["path"], e.detail["status"]) for e in events] == [
        ("aa:bb:cc:00:00:02", "/boot.ipxe", 200),  # known by its source address
        ("aa:bb:cc:00:00:02", "/ipxe", 200),
        ("aa:bb:cc:00:00:02", "/ipxe", 404),
    ]


def test_nodes_api(tmp_path: Path, store: Store) -> None:
    store.add(NODE.mac, EventKind.BOOTED, ts=42.0)
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip="127.0.0.1"), "/racker/v1/nodes"))
    assert r.json() == [{"mac": NODE.mac, "name": "node-0", "ip": NODE.ip,
                         "installed_at": None, "booted_at": 42.0, "inventory_at": None,
                         "hardware": None}]
    store.add(NODE.mac, EventKind.INVENTORY, ts=41.0, detail={"summary": "Dell R640, 20 cores"})
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip="127.0.0.1"), "/racker/v1/nodes"))
    assert (r.json()[0]["inventory_at"], r.json()[0]["hardware"]) == (41.0, "Dell R640, 20 cores")


def test_self_events_name_the_node_by_its_address(tmp_path: Path, store: Store) -> None:
    reports: list[tuple[str, EventKind]] = []

    async def go(ip: str) -> httpx.Response:
        async with make_client(tmp_path, store, client_ip=ip, reports=reports) as c:
            return await c.post("/racker/v1/self/events", content=b'{"event": "booted"}')

    assert asyncio.run(go(NODE.ip)).json()["mac"] == NODE.mac
    assert reports == [(NODE.mac, EventKind.BOOTED)]
    assert asyncio.run(go("172.24.213.99")).status_code == 404


async def _post(c: httpx.AsyncClient, event: str) -> httpx.Response:
    async with c:
        return await c.post("/racker/v1/nodes/aa-bb-cc-00-00-02/events",
                            content=json.dumps({"event": event}))


def test_spoofed_installed_outside_the_install_window_is_refused(tmp_path: Path,
                                                                 store: Store) -> None:
    # a node that racker is not installing: its address and MAC are the attacker's claim
    reports: list[tuple[str, EventKind]] = []
    r = asyncio.run(_post(make_client(tmp_path, store, reports=reports), "installed"))
    assert r.status_code == 403 and "racker is not installing this node now" in r.text
    assert reports == []  # the BMC was not touched
    assert EventKind.INSTALLED not in [e.kind for e in store.events(NODE.mac)]
    r = asyncio.run(_get(make_client(tmp_path, store), "/ignition?mac=aa-bb-cc-00-00-02"))
    assert r.status_code == 403 and '"x"' not in r.text
    # the installed system's own config is not an install: still served to the node
    r = asyncio.run(_get(make_client(tmp_path, store),
                         "/ignition?mac=aa-bb-cc-00-00-02&os=installed"))
    assert r.json()["x"] == "installed"


def test_install_window_closes_on_installed_error_and_age(tmp_path: Path, store: Store) -> None:
    def installer() -> int:
        return asyncio.run(_get(make_client(tmp_path, store),
                                "/ignition?mac=aa-bb-cc-00-00-02&os=installer")).status_code

    open_window(store)
    store.add(NODE.mac, EventKind.REQUEST, detail={"path": "/ipxe"})  # other events: no effect
    store.add(NODE.mac, EventKind.STAGE, stage="install")
    assert installer() == 200
    assert asyncio.run(_post(make_client(tmp_path, store), "installed")).status_code == 200
    assert installer() == 403  # installed: closed
    open_window(store)
    assert installer() == 200
    store.add(NODE.mac, EventKind.ERROR, stage="install", detail={"error": "timed out"})
    assert installer() == 403  # the engine gave up: closed
    open_window(store, ts=time.time() - 3 * 3600)
    assert installer() == 403  # racker stopped long ago without closing it


def test_reports_are_acted_on_once_per_interval(tmp_path: Path, store: Store) -> None:
    reports: list[tuple[str, EventKind]] = []
    open_window(store)

    async def go() -> list[httpx.Response]:
        app = make_client(tmp_path, store, reports=reports)
        async with app as c:
            return [await c.post("/racker/v1/self/events", content=json.dumps({"event": ev}))
                    for ev in ["installed", "installed", *["booted"] * 50]]

    answers = asyncio.run(go())
    assert all(r.status_code == 200 for r in answers)  # a retrying installer gets its answer
    assert [r.json().get("repeat", False) for r in answers[:3]] == [False, True, False]
    assert reports == [(NODE.mac, EventKind.INSTALLED), (NODE.mac, EventKind.BOOTED)]
    kinds = [e.kind for e in store.events(NODE.mac)]
    assert kinds.count(EventKind.BOOTED) == 1 and kinds.count(EventKind.INSTALLED) == 1


def test_a_failed_report_is_acted_on_again(tmp_path: Path, store: Store) -> None:
    calls: list[EventKind] = []
    open_window(store)

    async def flaky(node: BootNode, kind: EventKind) -> None:
        calls.append(kind)
        if len(calls) == 1:
            raise BmcError("BMC did not answer")

    app = create_app(BootServerConfig("http://172.24.213.1:8080", tmp_path),
                     StaticCatalog([NODE]), store, flaky)

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(NODE.ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            return [(await c.post("/racker/v1/self/events",
                                  content=b'{"event": "installed"}')).status_code
                    for _ in range(2)]

    assert asyncio.run(go()) == [502, 200]
    assert calls == [EventKind.INSTALLED, EventKind.INSTALLED]
    # each try is recorded before racker acts on it, and a failed one with its reason
    records = [(e.detail["status"], e.detail.get("report"), e.detail.get("problem"))
               for e in store.events(NODE.mac) if e.kind is EventKind.REQUEST]
    assert records == [(200, "installed", None), (502, "installed", "BMC did not answer"),
                       (200, "installed", None)]


@pytest.mark.parametrize(("client", "status"), [
    ("127.0.0.1", 200), ("::1", 200), ("172.24.213.1", 200),  # this machine
    (NODE.ip, 403), ("172.24.213.77", 403),  # the rack network
])
def test_node_list_only_to_this_machine(tmp_path: Path, store: Store, client: str,
                                        status: int) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip=client), "/racker/v1/nodes"))
    assert r.status_code == status
    assert (NODE.mac in r.text) is (status == 200)


def test_metadata_not_to_other_nodes(tmp_path: Path, store: Store) -> None:
    r = asyncio.run(_get(make_client(tmp_path, store, client_ip="172.24.213.77"),
                         "/metadata?mac=aa-bb-cc-00-00-02"))
    assert r.status_code == 403
    assert "node-0" not in r.text and "IP=" not in r.text


def test_request_log_is_trimmed(tmp_path: Path, store: Store) -> None:
    app = create_app(BootServerConfig("http://172.24.213.1:8080", tmp_path, request_log=50),
                     StaticCatalog([NODE]), store)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app, client=("172.24.213.77", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            for _ in range(TRIM_EVERY):
                await c.get("/boot.ipxe")

    asyncio.run(go())
    assert len(store.events()) == 50


def test_booted_records_the_host_keys(tmp_path: Path, store: Store) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0AAAAA"
    r = asyncio.run(_post_body(make_client(tmp_path, store),
                               {"event": "booted", "host_keys": [key]}))
    assert r.status_code == 200
    (booted,) = [e for e in store.events(NODE.mac) if e.kind is EventKind.BOOTED]
    assert booted.detail["host_keys"] == [key]
    r = asyncio.run(_post_body(make_client(tmp_path, store),
                               {"event": "booted", "host_keys": [key + "\n10.0.0.9 " + key]}))
    assert r.status_code == 400 and "not an SSH public key" in r.text


async def _post_body(c: httpx.AsyncClient, body: object) -> httpx.Response:
    async with c:
        return await c.post("/racker/v1/self/events", content=json.dumps(body))


def test_requests_record_their_client_and_whether_it_is_the_node(tmp_path: Path,
                                                                 store: Store) -> None:
    asyncio.run(_get(make_client(tmp_path, store), "/ipxe?mac=aa-bb-cc-00-00-02"))
    asyncio.run(_get(make_client(tmp_path, store, client_ip="172.24.213.66"),
                     "/ipxe?mac=aa-bb-cc-00-00-02&x=%1b[2J"))
    own, other = store.events(NODE.mac)
    assert own.detail["client"] == NODE.ip and "foreign" not in own.detail
    assert other.detail["client"] == "172.24.213.66" and other.detail["foreign"] is True


def test_a_reinstall_at_once_is_acted_on_again(tmp_path: Path, store: Store) -> None:
    # a retry right after a failed boot: a new install window, then a new first boot
    reports: list[tuple[str, EventKind]] = []

    async def go() -> list[bool]:
        out = []
        async with make_client(tmp_path, store, reports=reports) as c:
            for event in ("installed", "booted", "installed", "booted"):
                if event == "installed":
                    open_window(store)
                r = await c.post("/racker/v1/self/events", content=json.dumps({"event": event}))
                assert r.status_code == 200, r.text
                out.append(r.json().get("repeat", False))
        return out

    assert asyncio.run(go()) == [False] * 4
    assert [k for _, k in reports] == [EventKind.INSTALLED, EventKind.BOOTED] * 2


def _journal_b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_install_failed_is_stored_with_its_journal_without_acting(tmp_path: Path,
                                                                  store: Store) -> None:
    """`install-failed` in the window: stored with the bounded, escaped journal and the exit
    status; the report hook (the BMC) is not called; the window is closed by it."""
    reports: list[tuple[str, EventKind]] = []
    open_window(store)
    journal = "flatcar-install: downloading\nError: \x1b[2Jdisk /dev/sda not found\n"
    r = asyncio.run(_post_body(make_client(tmp_path, store, reports=reports), {
        "event": "install-failed", "exit_status": 1, "journal_b64": _journal_b64(journal)}))
    assert r.status_code == 200 and r.json()["event"] == "install-failed"
    assert reports == []
    (failed,) = [e for e in store.events(NODE.mac) if e.kind is EventKind.INSTALL_FAILED]
    assert failed.detail["journal"] == ["flatcar-install: downloading",
                                        "Error: \\x1b[2Jdisk /dev/sda not found"]
    assert failed.detail["exit_status"] == 1 and failed.detail["client"] == NODE.ip
    r = asyncio.run(_get(make_client(tmp_path, store), "/ignition?mac=aa-bb-cc-00-00-02"))
    assert r.status_code == 403  # the install attempt is over: no installer Ignition


def test_install_failed_outside_the_window_or_from_another_address_is_refused(
        tmp_path: Path, store: Store) -> None:
    body = {"event": "install-failed", "journal_b64": _journal_b64("Error: spoofed\n")}
    r = asyncio.run(_post_body(make_client(tmp_path, store), body))
    assert r.status_code == 403 and "racker is not installing this node now" in r.text
    open_window(store)

    async def foreign() -> httpx.Response:
        async with make_client(tmp_path, store, client_ip="172.24.213.99") as c:
            return await c.post("/racker/v1/nodes/aa-bb-cc-00-00-02/events",
                                content=json.dumps(body))

    assert asyncio.run(foreign()).status_code == 403
    assert EventKind.INSTALL_FAILED not in [e.kind for e in store.events(NODE.mac)]


def test_inventory_is_stored_in_the_install_window_only(tmp_path: Path, store: Store) -> None:
    raw = {"system": {"uuid": "4C4C4544-0042-3510-8052-B4C04F333132"},
           "links": [{"ifname": "eno1", "address": NODE.mac, "link_type": "ether"}]}
    reports: list[tuple[str, EventKind]] = []
    r = asyncio.run(_post_body(make_client(tmp_path, store),
                               {"event": "inventory", "inventory": raw}))
    assert r.status_code == 403 and "not installing this node" in r.text
    open_window(store)
    r = asyncio.run(_post_body(make_client(tmp_path, store, reports=reports),
                               {"event": "inventory", "inventory": raw}))
    assert r.status_code == 200 and r.json()["event"] == "inventory"
    (inv,) = [e for e in store.events(NODE.mac) if e.kind is EventKind.INVENTORY]
    assert inv.detail["hardware"]["uuid"] == "4c4c4544-0042-3510-8052-b4c04f333132"
    assert inv.detail["hardware"]["nics"][0]["mac"] == NODE.mac
    assert reports == []  # information only: the engine is not called
    # the window stays open: the installer still reports `installed` afterwards
    r = asyncio.run(_post_body(make_client(tmp_path, store), {"event": "installed"}))
    assert r.status_code == 200
    bad = asyncio.run(_post_body(make_client(tmp_path, store),
                                 {"event": "inventory", "inventory": ["x"]}))
    assert bad.status_code == 400 and "JSON object" in bad.text
