"""Nodes' SSH host keys: what a report may carry, which report pins them, the trust racker
apply uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.app.sshtrust import host_trust
from racker.core.events import Event, EventKind
from racker.core.hostkeys import known_hosts, parse_host_keys, pinned_keys
from racker.errors import InputError
from tests.unit.test_engine import planned

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0AAAAA"
EC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAA="


@pytest.mark.parametrize("value", [None, [], [ED], [ED, EC]])
def test_good_keys(value: list[str] | None) -> None:
    assert parse_host_keys(value) == tuple(value or ())


@pytest.mark.parametrize("value", [
    "ssh-ed25519 AAAA", [ED + " root@node"], [ED + "\n"], ["ssh-dss AAAA"], [1], [ED] * 9,
    ["ssh-ed25519 AAAA\nevil 1.2.3.4 ssh-ed25519 BBBB"],  # a second known_hosts line
])
def test_bad_keys(value: object) -> None:
    with pytest.raises(InputError):
        parse_host_keys(value)


def ev(kind: EventKind, keys: list[str] | None = None) -> Event:
    return Event(1, 1.0, "m", kind, None, {"host_keys": keys} if keys else {})


def test_first_report_after_the_install_pins() -> None:
    assert pinned_keys([]) == ()
    assert pinned_keys([ev(EventKind.BOOTED)]) == ()
    spoof = ev(EventKind.BOOTED, [EC])
    # a later report cannot replace the keys: only a reinstall does
    assert pinned_keys([ev(EventKind.INSTALLED), ev(EventKind.BOOTED, [ED]), spoof]) == (ED,)
    assert pinned_keys([ev(EventKind.BOOTED, [ED]), ev(EventKind.INSTALLED)]) == ()
    # a node installed by an older racker: its first report with keys pins them
    assert pinned_keys([ev(EventKind.INSTALLED), ev(EventKind.BOOTED), spoof]) == (EC,)
    assert known_hosts("10.0.0.2", [ED, EC]) == f"10.0.0.2 {ED}\n10.0.0.2 {EC}\n"


def test_host_trust_from_the_store(tmp_path: Path) -> None:
    node = planned(0)
    with Store(tmp_path / "db") as store:
        first = host_trust(store, tmp_path, node)
        assert first.accept_new and not first.known_hosts.exists()
        first.known_hosts.write_text(f"{node.ip} {EC}\n")  # what ssh pinned on first use
        again = host_trust(store, tmp_path, node)
        assert not again.accept_new and again.known_hosts == first.known_hosts
        store.add(node.mac, EventKind.INSTALLED, ts=first.known_hosts.stat().st_mtime + 10)
        reinstalled = host_trust(store, tmp_path, node)  # new keys: the old pin is gone
        assert reinstalled.accept_new and not reinstalled.known_hosts.exists()
        store.add(node.mac, EventKind.BOOTED, detail={"host_keys": [ED]})
        reported = host_trust(store, tmp_path, node)
        assert not reported.accept_new
        assert reported.known_hosts.read_text() == f"{node.ip} {ED}\n"
        assert oct(os.stat(reported.known_hosts).st_mode & 0o777) == "0o644"
