"""Racker: turn a rack of bare-metal servers into an installed fleet."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "racker-baremetal"
"""racker's distribution name on package indexes ("racker" on PyPI is another project)."""

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
