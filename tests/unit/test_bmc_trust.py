"""`racker bmc trust-cert NODE` drops the pin of the node's BMC certificate; the protocol
record and the pin store keep their files whole."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from racker.adapters.bmc.protocol import ProtocolRecord, redfish_status
from racker.adapters.bmc.redfish.tls import PinStore
from racker.cli import cmd_bmc
from racker.errors import InputError
from tests.rackfixtures import bmc_mac, primary_mac, write_rack


def test_trust_cert_forgets_the_pin_of_that_bmc_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = write_rack(tmp_path, 3)
    pins = PinStore.in_state_dir(Path(env["RACKER_STATE_DIR"]))
    pins.pin_or_compare(bmc_mac(2), "AA:BB", "10.0.0.2")
    pins.pin_or_compare(bmc_mac(3), "CC:DD", "10.0.0.3")
    assert cmd_bmc.run(["trust-cert", primary_mac(2)], env=env) == 0
    out = capsys.readouterr().out
    assert f"forgot the certificate pinned for BMC {bmc_mac(2)} (AA:BB, seen at 10.0.0.2)" in out
    assert set(pins.all()) == {bmc_mac(3)}
    # by BMC MAC, with nothing pinned: says so
    assert cmd_bmc.run(["trust-cert", bmc_mac(2).upper()], env=env) == 0
    assert "no certificate was pinned" in capsys.readouterr().out
    assert (pins.path.stat().st_mode & 0o777) == 0o600


def test_trust_cert_of_an_unknown_node_names_it(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 2)
    with pytest.raises(InputError, match="no node 'node-99'") as e:
        cmd_bmc.run(["trust-cert", "node-99"], env=env)
    assert "racker status" in (e.value.hint or "")


def test_protocol_record_round_trip(tmp_path: Path) -> None:
    record = ProtocolRecord.in_state_dir(tmp_path)
    record.put("02:00:00:00:01:0A", "redfish")
    record.put("02:00:00:00:01:0b", "ipmi")
    assert record.get("02:00:00:00:01:0a") == "redfish"
    assert json.loads(record.path.read_text()) == {"02:00:00:00:01:0a": "redfish",
                                                   "02:00:00:00:01:0b": "ipmi"}
    record.path.write_text("{broken")
    assert record.all() == {}



def test_protocol_record_from_many_threads_at_once(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """48 BMC checks record their protocols at once: every entry is there when its put returns,
    in far fewer writes than entries (those waiting for the lock are written together)."""
    import racker.adapters.bmc.protocol as protocol
    from racker.adapters.fs.atomic import write_atomic as real_write

    record = ProtocolRecord.in_state_dir(tmp_path)
    writes: list[int] = []
    gate = threading.Event()

    def slow_write(path: Path, data: str, mode: int = 0o644) -> None:
        writes.append(len(json.loads(data)))
        gate.wait(10)  # the first write waits until every other thread has queued its entry
        real_write(path, data, mode)

    monkeypatch.setattr(protocol, "write_atomic", slow_write)
    macs = [f"02:00:00:00:01:{i:02x}" for i in range(48)]
    seen: dict[str, str | None] = {}

    def put(mac: str) -> None:
        record.put(mac, "ipmi")
        seen[mac] = ProtocolRecord(record.path).get(mac)  # on disk once put returns

    threads = [threading.Thread(target=put, args=(m,)) for m in macs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while (not writes or writes[0] + len(record._pending) < len(macs)) and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(10)
    assert seen == dict.fromkeys(macs, "ipmi")
    assert record.all() == dict.fromkeys(macs, "ipmi")
    assert len(writes) == 2 and writes[-1] == 48

@pytest.mark.parametrize(("line", "ok"), [
    (b"HTTP/1.1 200 OK", True), (b"HTTP/1.0 401 UNAUTHORIZED", True),
    (b"HTTP/1.1 404 Not Found", False), (b"SSH-2.0-OpenSSH", False), (b"", False)])
def test_redfish_status_line(line: bytes, ok: bool) -> None:
    assert redfish_status(line) is ok
