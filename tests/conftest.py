"""Shared fixtures. Tests that need a real peer fail loudly when it is missing (no silent skips)."""

from __future__ import annotations

import logging
import os
import shutil
import sys

import pytest


def require_tool(name: str) -> str:
    """Path of the executable `name`; fails the test (never skips) when it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} is not installed; run 'make setup' (it installs every test peer)")
    return path


def require_root() -> None:
    """Fails the test when not running as root (network namespaces need it)."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root for network namespaces; CI runs as root")


def pytest_configure(config: pytest.Config) -> None:
    """A failing test's report shows the IPMI driver's debug lines ("Captured log call"): a
    call that got no answer says there what pyghmi made of its session."""
    logging.getLogger("racker.adapters.bmc.ipmi").setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Last of all the output: a few lines on each simulated rack whose test failed (CI shows
    only the head and the tail of a long run's output; the whole diagnosis is with the test)."""
    simrack = sys.modules.get("tests.e2e.simrack")
    digests: list[list[str]] = getattr(simrack, "FAILED_RACKS", [])
    if digests:
        print("\nthe simulated racks of failed tests, last steps (whole diagnosis above):")
        for lines in digests:
            print("\n".join(lines))
