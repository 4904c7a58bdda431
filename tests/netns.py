"""Network namespaces for tests: created by the test, always removed, never touching the host."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def ip(*args: str) -> None:
    """Run `ip ARGS`, failing the test with ip's message when it fails."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Link:
    """Two namespaces joined by a veth pair."""

    left_ns: str
    right_ns: str
    left_if: str
    right_if: str


@contextmanager
def veth_pair(prefix: str, left_mac: str | None = None,
              right_mac: str | None = None) -> Iterator[Link]:
    """Two fresh namespaces `<prefix><rand>a`/`…b` with a veth between them, lo up in both."""
    tag = prefix + secrets.token_hex(3)
    link = Link(f"{tag}a", f"{tag}b", f"{tag}a0", f"{tag}b0")
    created: list[str] = []
    try:
        for ns in (link.left_ns, link.right_ns):
            ip("netns", "add", ns)
            created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", link.left_ns, "link", "add", link.left_if, "type", "veth",
           "peer", "name", link.right_if, "netns", link.right_ns)
        for ns, dev, mac in ((link.left_ns, link.left_if, left_mac),
                             (link.right_ns, link.right_if, right_mac)):
            if mac:
                ip("-n", ns, "link", "set", dev, "address", mac)
            ip("-n", ns, "link", "set", dev, "up")
        yield link
    finally:
        for ns in created:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
