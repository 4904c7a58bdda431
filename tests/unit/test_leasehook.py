from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from racker.adapters.dnsmasq.leasehook import LeaseSpool, event_of, hook_script, parse_call
from racker.adapters.dnsmasq.supervisor import DnsmasqFiles, dnsmasq_argv
from racker.adapters.fs.store import Store
from racker.core.events import EventKind


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


def _hook(tmp_path: Path) -> tuple[Path, Path]:
    spool = tmp_path / "dnsmasq" / "lease-events"
    hook = tmp_path / "lease-hook"
    hook.write_text(hook_script(spool))
    hook.chmod(0o755)
    return hook, spool


def test_the_hook_spools_each_call_and_collect_records_them_in_order(tmp_path: Path) -> None:
    hook, spool = _hook(tmp_path)
    with Store.in_state_dir(tmp_path) as store:
        ls = LeaseSpool(spool, store)
        ls.prepare()
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        before = time.time()
        for args in (["add", "AA:BB:CC:DD:EE:01", "10.0.0.2", "node 1"],
                     ["init"],  # dnsmasq's start-up call: nothing to record
                     ["tftp", "850528", "10.0.0.2", "/usr/lib/ipxe/ipxe.efi"],
                     ["arp-add", "aa:bb:cc:dd:ee:01", "10.0.0.2"],
                     ["old", "aa:bb:cc:dd:ee:01", "10.0.0.2"]):
            r = subprocess.run([str(hook), *args], capture_output=True, check=False)
            assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
        assert len(list(spool.iterdir())) == 3
        assert ls.collect() == 3
        assert list(spool.iterdir()) == []
        events = store.events()
        assert [e.detail["action"] for e in events] == ["add", "tftp", "old"]
        assert events[0].mac == "aa:bb:cc:dd:ee:01"
        assert events[0].detail == {"action": "add", "ip": "10.0.0.2", "hostname": "node 1"}
        assert events[1].detail["file"] == "/usr/lib/ipxe/ipxe.efi" and events[1].mac == ""
        assert all(before - 1 < e.ts < time.time() + 1 for e in events)
        assert events[0].ts <= events[1].ts <= events[2].ts
        assert all(e.kind is EventKind.LEASE for e in events)
        assert ls.collect() == 0


def test_the_hook_never_fails_without_its_spool(tmp_path: Path) -> None:
    hook, spool = _hook(tmp_path)
    r = subprocess.run([str(hook), "add", "aa:bb:cc:dd:ee:01", "10.0.0.2"],
                       capture_output=True, check=False)
    assert r.returncode == 0 and not spool.exists()


def test_incomplete_calls_wait_and_stale_ones_are_dropped(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Store.in_state_dir(tmp_path) as store:
        ls = LeaseSpool(spool, store)
        ls.prepare()
        fresh = spool / "1732270000.000000001-10"
        fresh.write_text("add\naa:bb:cc:dd:ee:01\n10.0")  # the hook is still writing
        stale = spool / "1732270000.000000002-11"
        stale.write_text("add\naa:bb")
        os.utime(stale, (time.time() - 60, time.time() - 60))
        (spool / "not-a-call").write_text("x\n")
        assert ls.collect() == 0
        assert fresh.exists() and not stale.exists()
        fresh.write_text("add\naa:bb:cc:dd:ee:01\n10.0.0.2\n")
        assert ls.collect() == 1
        (e,) = store.events()
        assert e.ts == pytest.approx(1732270000.0) and e.detail["ip"] == "10.0.0.2"


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("1732270000.5-42", "add\nm\n", (1732270000.5, ["add", "m"])),
    ("1732270000.5-42", "add\nm", None),
    ("1732270000.5", "add\n", None),
    ("x-42", "add\n", None),
    ("1732270000.5-42", "tftp\n1\n10.0.0.2\nfile with space\n",
     (1732270000.5, ["tftp", "1", "10.0.0.2", "file with space"])),
])
def test_parse_call(name: str, text: str, expected: object) -> None:
    assert parse_call(name, text) == expected


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("4242.0", "add\nm\n", (1732270000.25, ["add", "m"])),  # the hook's: its mtime
    ("4242.3", "old\nm\n", (1732270000.25, ["old", "m"])),
    ("4242.0", "add\nm", None),  # still being written
    ("1732270000.5-42", "add\nm\n", (1732270000.5, ["add", "m"])),  # an older hook's
    ("4242", "add\n", None),
    ("x.0", "add\n", None),
])
def test_parse_call_by_modification_time(name: str, text: str, expected: object) -> None:
    assert parse_call(name, text, 1732270000.25) == expected


def test_the_hook_never_overwrites_an_uncollected_call(tmp_path: Path) -> None:
    """A pid used again before racker collected its earlier file: the new call gets `.1`."""
    hook, spool = _hook(tmp_path)
    spool.mkdir(parents=True)
    # the shell leaves the earlier call's file under its own pid, then runs the hook in place
    earlier = "printf 'add\\naa:bb:cc:dd:ee:01\\n10.0.0.1\\n' > \"$1/$$.0\""
    r = subprocess.run(["sh", "-c", f'{earlier}; echo $$; exec "$2" add aa:bb:cc:dd:ee:02 10.0.0.2',
                        "sh", str(spool), str(hook)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    pid = r.stdout.strip()
    assert sorted(p.name for p in spool.iterdir()) == [f"{pid}.0", f"{pid}.1"]
    assert (spool / f"{pid}.0").read_text() == "add\naa:bb:cc:dd:ee:01\n10.0.0.1\n"
    with Store.in_state_dir(tmp_path) as store:
        assert LeaseSpool(spool, store).collect() == 2
        assert [e.detail["ip"] for e in store.events()] == ["10.0.0.1", "10.0.0.2"]


def test_argv_and_hook() -> None:
    files = DnsmasqFiles(Path("/state dir"))
    argv = dnsmasq_argv(files, netns="ns1")
    assert argv[:5] == ["ip", "netns", "exec", "ns1", "dnsmasq"]
    assert "--conf-file=/state dir/dnsmasq/dnsmasq.conf" in argv
    assert "--dhcp-script=/state dir/dnsmasq/lease-hook" in argv
    assert argv[-2:] == ["--user=dnsmasq", "--group=nogroup"]  # not root once bound
    script = hook_script(files.spool)
    assert script.startswith("#!/bin/sh\n")
    assert "> '/state dir/dnsmasq/lease-events/'\"$$.$n\"" in script
    assert "date" not in script  # the file's modification time is the call's time
