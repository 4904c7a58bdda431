from __future__ import annotations

from pathlib import Path

import pytest

from racker.services.dnsmasq import DnsmasqFiles, dnsmasq_argv, hook_script
from racker.services.leasehook import event_of, main
from racker.store import EventKind, Store


@pytest.mark.parametrize(("args", "expected"), [
    (["add", "AA:BB:CC:DD:EE:01", "10.0.0.2"],
     ("aa:bb:cc:dd:ee:01", {"action": "add", "ip": "10.0.0.2"})),
    (["old", "aa:bb:cc:dd:ee:01", "10.0.0.2", "bmc-1"],
     ("aa:bb:cc:dd:ee:01", {"action": "old", "ip": "10.0.0.2", "hostname": "bmc-1"})),
    (["del", "aa:bb:cc:dd:ee:01", "10.0.0.2"],
     ("aa:bb:cc:dd:ee:01", {"action": "del", "ip": "10.0.0.2"})),
    (["tftp", "1024", "10.0.0.2", "/usr/lib/ipxe/ipxe.efi"],
     ("", {"action": "tftp", "size": "1024", "ip": "10.0.0.2",
           "file": "/usr/lib/ipxe/ipxe.efi"})),
    (["add", "20:00:00:00:01", "10.0.0.2"], None),
    (["init"], None),
    ([], None),
    (["arp-add", "aa:bb:cc:dd:ee:01", "10.0.0.2"], None),
])
def test_event_of(args: list[str], expected: object) -> None:
    assert event_of(args) == expected


def test_main_writes_an_event_and_never_fails(tmp_path: Path) -> None:
    Store.in_state_dir(tmp_path).close()  # racker creates the store before dnsmasq runs
    assert main(["--state-dir", str(tmp_path), "add", "aa:bb:cc:dd:ee:01", "10.0.0.2"]) == 0
    assert main(["--state-dir", str(tmp_path), "garbage"]) == 0
    assert main(["nonsense"]) == 0
    with Store.in_state_dir(tmp_path) as s:
        (e,) = s.events()
        assert e.kind is EventKind.LEASE and e.detail["ip"] == "10.0.0.2"


def test_argv_and_hook() -> None:
    files = DnsmasqFiles(Path("/state dir"))
    argv = dnsmasq_argv(files, netns="ns1")
    assert argv[:4] == ["ip", "netns", "exec", "ns1"]
    assert "--conf-file=/state dir/dnsmasq/dnsmasq.conf" in argv
    assert "--dhcp-script=/state dir/dnsmasq/lease-hook" in argv
    script = hook_script("/venv/bin/python", Path("/state dir"))
    assert script.startswith("#!/bin/sh\nexec /venv/bin/python -I -S /")
    assert "/racker/services/leasehook.py --state-dir" in script
    assert "--state-dir '/state dir' \"$@\"" in script
