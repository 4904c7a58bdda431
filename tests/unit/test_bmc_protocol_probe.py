"""The Redfish probe's TCP connection: a new SYN soon after a lost one, within the timeout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from racker.adapters.bmc import protocol


class _Connections:
    """`socket.create_connection` whose first `lost` attempts get no answer."""

    def __init__(self, lost: int) -> None:
        self.lost = lost
        self.timeouts: list[float] = []

    def __call__(self, address: tuple[str, int], timeout: float) -> Any:
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.lost:
            raise TimeoutError("timed out")
        a, b = socket.socketpair()
        b.close()
        return a


def test_a_lost_syn_is_followed_by_a_new_attempt_not_by_the_kernels_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # NOTE: a BMC found the moment it was leased may not have set its address yet: its first
    # SYN is lost, and the kernel would resend it only after a second
    tries = _Connections(lost=2)
    monkeypatch.setattr(socket, "create_connection", tries)
    with protocol._connect("10.0.0.9", 443, deadline=time.monotonic() + 5) as raw:
        left = raw.gettimeout()
        assert left is not None and 4 < left <= 5  # what is left of the probe's time
    assert tries.timeouts[:2] == [protocol.CONNECT_RETRY_FIRST, protocol.CONNECT_RETRY_FIRST * 2]
    assert len(tries.timeouts) == 3


def test_no_connection_by_the_deadline_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    tries = _Connections(lost=1000)

    def silent(address: tuple[str, int], timeout: float) -> Any:
        time.sleep(timeout)  # as a SYN without an answer does
        return tries(address, timeout)

    monkeypatch.setattr(socket, "create_connection", silent)
    deadline = time.monotonic() + 0.5
    with pytest.raises(TimeoutError, match=r"10\.0\.0\.9:443"):
        protocol._connect("10.0.0.9", 443, deadline=deadline)
    assert tries.timeouts[0] == protocol.CONNECT_RETRY_FIRST
    assert sum(tries.timeouts) <= 0.5 + 1e-6  # never waits past the deadline


def test_a_refused_connection_is_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def refused(address: tuple[str, int], timeout: float) -> Any:
        calls.append(timeout)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refused)
    assert protocol.redfish_answers("10.0.0.9", 443, 2.0) is False
    assert len(calls) == 1


def test_a_whole_racks_probes_run_at_once() -> None:
    # NOTE: asyncio's default pool has 6 threads on a 2-core management node: the probes of
    # BMCs still coming up held the rest of a 48-server rack's probes up for a second
    at_once = threading.Barrier(48, timeout=10)

    def probe(address: str, port: int, timeout: float) -> bool:
        at_once.wait()  # every probe in flight together, or none gets through
        return False

    async def choose_all() -> list[str]:
        protocols = protocol.Protocols(protocol.AUTO, None, probe)
        return await asyncio.gather(*(protocols.choose(f"02:00:00:00:01:{i:02x}", f"10.0.0.{i}")
                                      for i in range(48)))

    assert asyncio.run(choose_all()) == [protocol.IPMI] * 48
