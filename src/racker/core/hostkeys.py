"""Nodes' SSH host keys (pure): what a `booted` report may carry, which report pins a node's
keys, and the known_hosts lines `racker apply` checks them with.

A node generates its host keys at its first boot and reports them with `booted`; racker pins the
keys of the first such report after the node's latest `installed` (trust on first use, on the
rack network racker owns), so a later report cannot replace them until the node is reinstalled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from racker.core.events import Event, EventKind
from racker.errors import InputError

HOST_KEY = re.compile(r"(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}")
MAX_KEYS = 8


def parse_host_keys(value: object) -> tuple[str, ...]:
    """The `host_keys` of a report: a list of `TYPE BASE64` public keys (no comments)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_KEYS:
        raise InputError(f"host_keys must be a list of at most {MAX_KEYS} public keys")
    keys = []
    for k in value:
        if not isinstance(k, str) or HOST_KEY.fullmatch(k) is None:
            raise InputError("host_keys holds something that is not an SSH public key",
                             hint='give "ssh-ed25519 AAAA…" without a comment')
        keys.append(k)
    return tuple(keys)


def pinned_keys(events: Iterable[Event]) -> tuple[str, ...]:
    """The node's pinned host keys: those of the first `booted` report that carried any after
    its latest `installed` (none: it never reported keys since)."""
    pinned: tuple[str, ...] = ()
    for e in events:
        if e.kind is EventKind.INSTALLED:
            pinned = ()
        elif e.kind is EventKind.BOOTED and not pinned:
            pinned = tuple(k for k in e.detail.get("host_keys", ()) if isinstance(k, str))
    return pinned


def last_installed(events: Iterable[Event]) -> float | None:
    """When the node last reported `installed` (its host keys are new since)."""
    ts = None
    for e in events:
        if e.kind is EventKind.INSTALLED:
            ts = e.ts
    return ts


def known_hosts(host: str, keys: Iterable[str]) -> str:
    """known_hosts lines for `host` (an address)."""
    return "".join(f"{host} {k}\n" for k in keys)
