"""Use case: `racker bmc trust-cert NODE`: accept the new TLS certificate of a Redfish BMC.

A Redfish BMC's certificate is pinned on first use; when it changes (firmware update, BMC
reset, replaced board) racker refuses the BMC until the operator accepts the change here. The
old pin is dropped; the next contact pins whatever the BMC then presents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import ClusterPlan, PlannedNode


@dataclass(frozen=True)
class Forgotten:
    """What `forget` returns: the fingerprint that was pinned, and where it was seen."""

    sha256: str
    address: str


Forget = Callable[[str], Forgotten | None]
"""Drops the pin of a BMC MAC; what was pinned, or None."""


def find_node(plan: ClusterPlan, which: str) -> PlannedNode:
    """The node named `which`: its name, its primary MAC or its BMC MAC (InputError else)."""
    mac = parse_mac(which)
    for n in plan.nodes:
        if which == n.name or mac in (n.mac, n.node.bmc_mac):
            return n
    raise InputError(f"no node '{which}' in the rack", where=Where(flag="NODE"),
                     hint="name a node as 'racker status' lists it: its name, its MAC or its "
                          "BMC's MAC")


def trust_new_certificate(plan: ClusterPlan, which: str, forget: Forget) -> str:
    """Forget the pinned certificate of `which`'s BMC; the line to show the operator."""
    node = find_node(plan, which)
    old = forget(node.node.bmc_mac)
    if old is None:
        return (f"{node.name}: no certificate was pinned for BMC {node.node.bmc_mac}; the next "
                "contact pins the one it presents")
    return (f"{node.name}: forgot the certificate pinned for BMC {node.node.bmc_mac} "
            f"({old.sha256}, seen at {old.address}); the next contact pins the one it presents")
