"""The management listener for real (uvicorn on a free loopback port, httpx and schemathesis as
clients): the REST API's shapes against the CLI's `--json`, its OpenAPI document, the token."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from racker.adapters.bmc.protocol import ProtocolRecord
from racker.adapters.fs.store import Store
from racker.core.events import EventKind
from racker.errors import InputError
from racker.paths import Paths
from tests.nodeops_support import configured_rack, paths_env
from tests.rackfixtures import bmc_mac, primary_mac
from tests.web_support import running_listener

BIN = Path(sys.executable).parent


def racker(paths: Paths, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "racker"), *args], env={**os.environ, **paths_env(paths)},
                          text=True, capture_output=True, timeout=60, check=False)


def seed_run(paths: Paths) -> None:
    """A bootstrap's events as the engine, the boot server and the lease hook record them."""
    with Store.in_state_dir(paths.state_dir) as s:
        run = s.add("", EventKind.RUN, detail={"phase": "start", "command": "bootstrap"}).id
        s.add(bmc_mac(1), EventKind.LEASE, detail={"action": "add", "ip": "172.24.213.130"})
        for mac in (primary_mac(1), primary_mac(2)):
            s.add(mac, EventKind.STAGE, stage="bmc")
            s.add(mac, EventKind.STAGE, stage="bmc", detail={"result": "ok", "bmc": "10.0.0.9"})
            s.add(mac, EventKind.STAGE, stage="pxe")
            s.add(mac, EventKind.STAGE, stage="pxe", detail={"result": "ok"})
        s.add(primary_mac(1), EventKind.REQUEST,
              detail={"path": "/ipxe", "query": "", "client": "172.24.213.2", "status": 200})
        s.add(primary_mac(1), EventKind.PROVISIONED)
        s.add(primary_mac(2), EventKind.ERROR, stage="dhcp", detail={"error": "no DHCP request"})
        s.add("", EventKind.RUN, detail={"phase": "end", "run": run, "command": "bootstrap",
                                         "exit_code": 1})


@pytest.fixture
def rack(tmp_path: Path) -> Paths:
    paths = configured_rack(tmp_path, 3)
    seed_run(paths)
    # what RackBmcs records when it reaches a BMC (issue 11): node 3's BMC was never reached
    record = ProtocolRecord.in_state_dir(paths.state_dir)
    record.put(bmc_mac(1), "redfish")
    record.put(bmc_mac(2), "ipmi")
    return paths


def test_api_returns_the_cli_shapes(rack: Paths) -> None:
    with running_listener(rack) as web:
        assert web.said[0].startswith(f"Dashboard: {web.url}/")
        nodes = httpx.get(f"{web.url}/api/v1/nodes").json()
        cli = racker(rack, "status", "--json")
        assert cli.returncode == 0, cli.stderr
        status = json.loads(cli.stdout)
        assert set(nodes) == set(status)
        assert [set(n) for n in nodes["nodes"]] == [set(n) for n in status["nodes"]]
        # what the event log says is the same in both; the CLI also asked the (absent) BMCs
        keep = ("mac", "name", "ip", "stage", "state", "failure", "last_event", "hostnames",
                "excluded", "protocol")
        assert [{k: n[k] for k in keep} for n in nodes["nodes"]] == [
            {k: n[k] for k in keep} for n in status["nodes"]]
        by_mac = {n["mac"]: n for n in nodes["nodes"]}
        assert by_mac[primary_mac(1)]["state"] == "provisioned"
        assert by_mac[primary_mac(2)]["state"] == "failed"
        assert by_mac[primary_mac(2)]["failure"] == "no DHCP request"
        assert by_mac[primary_mac(3)]["bmc_reached"] is False
        assert [by_mac[primary_mac(i)]["protocol"] for i in (1, 2, 3)] == [
            "redfish", "ipmi", None]
        one = httpx.get(f"{web.url}/api/v1/nodes/{bmc_mac(2).replace(':', '-').upper()}")
        assert one.json() == by_mac[primary_mac(2)]
        timeline = httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(1)}/timeline").json()
        cli_timeline = racker(rack, "node", "timeline", "--json", primary_mac(1))
        assert timeline == json.loads(cli_timeline.stdout)
        assert [e["kind"] for e in timeline][:2] == ["lease", "stage"]  # the BMC's lease too
        runs = httpx.get(f"{web.url}/api/v1/runs").json()
        assert [(r["command"], r["outcome"], r["exit_code"]) for r in runs] == [
            ("bootstrap", "failed", 1)]
        outcomes = {n["mac"]: (n["stage"], n["outcome"]) for n in runs[0]["nodes"]}
        assert outcomes == {primary_mac(1): ("pxe", "provisioned"),
                            primary_mac(2): ("dhcp", "failed")}


def test_errors_are_json_with_the_cli_message_and_hint(rack: Paths) -> None:
    with running_listener(rack) as web:
        bad = httpx.get(f"{web.url}/api/v1/nodes/not-a-mac")
        assert bad.status_code == 400
        assert bad.json()["error"] == "'not-a-mac' is not a MAC address"
        missing = httpx.get(f"{web.url}/api/v1/nodes/02:00:00:00:00:99/timeline")
        cli = racker(rack, "node", "timeline", "02:00:00:00:00:99")
        assert missing.status_code == 404
        body = missing.json()
        assert f"{body['where']}: {body['error']}" in cli.stderr
        assert body["hint"] in cli.stderr


def test_token_file_and_rotation(rack: Paths) -> None:
    first = racker(rack, "api", "token")
    token = first.stdout.strip()
    path = rack.state_dir / "api-token"
    assert first.returncode == 0 and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert racker(rack, "api", "token").stdout.strip() == token
    path.chmod(0o644)
    loose = racker(rack, "api", "token")
    assert loose.returncode == 2 and "may be read by others (mode 0644)" in loose.stderr
    assert "chmod 600" in loose.stderr and token not in loose.stdout + loose.stderr
    path.chmod(0o600)
    with running_listener(rack) as web:
        url = f"{web.url}/api/v1/nodes/{primary_mac(3)}/actions/exclude"
        assert httpx.post(url).status_code == 401  # writes need the token, even on loopback
        wrong = httpx.post(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        rotated = racker(rack, "api", "token", "--rotate").stdout.strip()
        assert rotated != token
        old = httpx.post(url, headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401  # a rotation takes effect at once
        done = httpx.post(url, headers={"Authorization": f"Bearer {rotated}"})
        assert done.status_code == 200, done.text
        assert done.json()["action"] == "exclude"
        node = httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(3)}").json()
        assert node["mac"] == primary_mac(3)
        assert "node-2" not in (rack.flatcar_dir / "racker-options.yaml").read_text()
        # reads on loopback need no token, but a wrong one is refused
        assert httpx.get(f"{web.url}/api/v1/nodes").status_code == 200
        assert httpx.get(f"{web.url}/api/v1/nodes",
                         headers={"Authorization": "Bearer nope"}).status_code == 401


def test_beyond_loopback_without_a_token_nothing_listens(rack: Paths) -> None:
    # refused before binding (0.0.0.0 is never listened on here); the routes beyond loopback
    # are tested in a simulated rack (tests/e2e/test_manage_sim.py)
    with pytest.raises(InputError, match="without an API token") as refused, \
            running_listener(rack, bind="0.0.0.0"):
        pass
    assert "racker api token" in (refused.value.hint or "")
    assert not (rack.state_dir / "api-token").exists()


def test_openapi_document_holds_against_schemathesis(rack: Paths, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_SEC", "1")  # a diagnosis of a known node looks for its BMC
    token = racker(rack, "api", "token").stdout.strip()
    config = tmp_path / "schemathesis.toml"
    config.write_text('[headers]\nAuthorization = "Bearer ${RACKER_TEST_TOKEN}"\n')
    with running_listener(rack) as web:
        doc = httpx.get(f"{web.url}/api/v1/openapi.json").json()
        assert doc["openapi"].startswith("3.")
        assert set(doc["paths"]) == {"/api/v1/nodes", "/api/v1/nodes/{mac}",
                                     "/api/v1/nodes/{mac}/timeline", "/api/v1/runs",
                                     "/api/v1/nodes/{mac}/diagnosis",
                                     "/api/v1/nodes/{mac}/hardware",
                                     "/api/v1/nodes/{mac}/actions/{action}"}
        for extra in ([], ["--config-file", str(config)]):
            # without the token: reads work (loopback), writes get 401; with it: everything
            r = subprocess.run(
                [str(BIN / "st"), *extra, "run", f"{web.url}/api/v1/openapi.json",
                 "--checks", "not_a_server_error,status_code_conformance,"
                 "content_type_conformance,response_schema_conformance",
                 "--max-examples", "10", "--seed", "1", "--workers", "1",
                 "--phases", "examples,coverage,fuzzing", "--no-color"],
                env={**os.environ, "RACKER_TEST_TOKEN": token}, text=True,
                capture_output=True, timeout=600, check=False, cwd=tmp_path)
            assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
            assert "passed" in r.stdout.lower()


def test_dashboard_login_session_and_csrf(rack: Paths) -> None:
    token = racker(rack, "api", "token").stdout.strip()
    mac = primary_mac(3)
    with running_listener(rack) as web, httpx.Client(base_url=web.url) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "node-2" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        confirm = browser.get(f"/nodes/{mac}/actions/exclude")
        assert "Take node-2" in confirm.text and 'href="/login' in confirm.text
        wrong = browser.post("/login", data={"token": "guess", "next": "/"})
        assert wrong.status_code == 401 and "wrong" in wrong.text
        assert "racker_session" not in browser.cookies
        ok = browser.post("/login", data={"token": token, "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # never off-site
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and token.lower() not in cookie
        form = browser.get(f"/nodes/{mac}/actions/exclude").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        forged = browser.post(f"/nodes/{mac}/actions/exclude", data={"note": "forged"})
        assert forged.status_code == 401 and "CSRF" in forged.text
        done = browser.post(f"/nodes/{mac}/actions/exclude", data={"csrf": csrf})
        assert done.status_code == 200, done.text
        assert "node-2" not in (rack.flatcar_dir / "racker-options.yaml").read_text()
        racker(rack, "api", "token", "--rotate")
        stale = browser.post(f"/nodes/{mac}/actions/include", data={"csrf": csrf})
        assert stale.status_code == 401  # the session ended with the old token


def test_the_dashboard_shows_each_bmcs_protocol(rack: Paths) -> None:
    """The rack page's Protocol column and the node page name the protocol racker recorded for
    the BMC (`?` for one never reached), as `racker status` does."""
    import re

    with running_listener(rack) as web:
        page = httpx.get(f"{web.url}/").text
        cells = {mac: re.search(rf'id="node-{mac}".*?data-field="protocol">([^<]*)<', page,
                                re.DOTALL) for mac in (primary_mac(i) for i in (1, 2, 3))}
        assert {mac: m.group(1) if m else None for mac, m in cells.items()} == {
            primary_mac(1): "Redfish", primary_mac(2): "IPMI", primary_mac(3): "?"}
        node = httpx.get(f"{web.url}/nodes/{primary_mac(1)}").text
        assert '<dd id="protocol">Redfish</dd>' in node
        # a BMC reached over another protocol later: the next look shows it
        ProtocolRecord.in_state_dir(rack.state_dir).put(bmc_mac(2), "redfish")
        assert httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(2)}").json()["protocol"] == (
            "redfish")



def test_live_diagnosis_is_the_clis(rack: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node's live diagnosis (API and page) is the `diagnosis` of `racker status --json
    --full` for it: here the BMC is nowhere on the network, and both say so alike."""
    monkeypatch.setenv("RETRY_SEC", "2")  # how long both look for the BMC
    with running_listener(rack) as web:
        api = httpx.get(f"{web.url}/api/v1/nodes/{bmc_mac(1)}/diagnosis", timeout=60)
        assert api.status_code == 200, api.text
        found = api.json()
        page = httpx.get(f"{web.url}/nodes/{primary_mac(1)}/diagnosis", timeout=60).text
        node = httpx.get(f"{web.url}/nodes/{primary_mac(1)}").text
        unknown = httpx.get(f"{web.url}/api/v1/nodes/02:00:00:00:00:99/diagnosis")
    cli = racker(rack, "status", "--json", "--full")
    full = {n["mac"]: n["diagnosis"] for n in json.loads(cli.stdout)["nodes"]}
    assert found["mac"] == primary_mac(1)
    assert {"ok": found["ok"], "text": found["text"]} == full[primary_mac(1)]
    assert found["ok"] is False and f"could not find the IP address of {bmc_mac(1)}" in (
        found["text"])
    assert 'id="diagnosis-ok" class="state failed">failed<' in page
    assert "could not find the IP address" in page
    assert f'href="/nodes/{primary_mac(1)}/diagnosis"' in node
    assert unknown.status_code == 404


def test_hardware_is_the_clis_with_the_cabling_check(rack: Paths) -> None:
    import uuid

    from racker.core.hardware import Hardware, Nic

    server = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f333132")
    hw = Hardware(str(server), "Dell <Inc>", "PowerEdge R640", nics=(
        Nic("eno1", primary_mac(1), "i40e", 10000, True),))
    with Store.in_state_dir(rack.state_dir) as s:
        # the BMC check read a GUID that is not this server's: the row's BMC is another's
        s.add(primary_mac(1), EventKind.STAGE, stage="bmc",
              detail={"result": "ok", "bmc_guid": uuid.UUID(int=5).bytes_le.hex()})
        s.add(primary_mac(1), EventKind.INVENTORY,
              detail={"hardware": hw.as_json(), "client": "172.24.213.2"})
    with running_listener(rack) as web:
        got = httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(1)}/hardware").json()
        none = httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(3)}/hardware").json()
        timeline = httpx.get(f"{web.url}/api/v1/nodes/{primary_mac(1)}/timeline").json()
        page = httpx.get(f"{web.url}/nodes/{primary_mac(1)}").text
        blank = httpx.get(f"{web.url}/nodes/{primary_mac(3)}").text
    # the node page shows what 'racker node show' prints, and the cabling warning
    assert "PowerEdge R640" in page and f"UUID:     {server}" in page
    assert f"SMBIOS UUID {server}" in page.split('id="cabling"')[1]
    assert "Dell &lt;Inc&gt;" in page and "<Inc>" not in page  # what a node sent: escaped
    assert "Not reported yet" in blank
    cli = racker(rack, "node", "show", "--json", primary_mac(1))
    assert cli.returncode == 0, cli.stderr
    assert got["inventory"] == json.loads(cli.stdout)["inventory"]
    assert got["inventory"]["uuid"] == str(server)
    (problem,) = got["cabling"]
    assert f"SMBIOS UUID {server}" in problem and bmc_mac(1) in problem
    assert none == {"mac": primary_mac(3), "inventory": None, "cabling": []}
    assert "inventory" in [e["kind"] for e in timeline]
