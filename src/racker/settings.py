"""Racker's run-time settings beyond the bootstrap options, from the environment.

They point racker at other release mirrors, signing keys and timings (the simulator and
offline racks use them); every one has the production default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from racker.errors import InputError, Where

DEFAULT_BASE_URL = "https://{channel}.release.flatcar-linux.net/amd64-usr"
"""Flatcar's release server, one tree per channel."""

BOOT_PORT = 8080
MANAGE_PORT = 8081
"""The management listener's port (API, dashboard, metrics), `RACKER_MANAGE_PORT`."""


@dataclass(frozen=True)
class Settings:
    flatcar_channel: str = "stable"
    flatcar_version: str = "current"
    flatcar_base_url: str | None = None
    """Release tree as `<base>/<version>/<file>`; default: the Flatcar release server."""
    flatcar_key: Path | None = None
    """Signing key file; default: the bundled Flatcar image signing key."""
    assets_from: Path | None = None
    """A local folder with the release files, for racks without internet access."""
    timeout_scale: float = 1.0
    boot_port: int = BOOT_PORT
    retry_sec: float = 150.0
    """How long to look for a BMC by its MAC (`RETRY_SEC`, as the ipmi helper)."""
    legacy_boot: bool = False
    """Legacy BIOS boot flags instead of EFI (`RACKER_BOOT_MODE=legacy`)."""
    console_capture: bool = True
    """Record the serial consoles of the nodes being provisioned (`RACKER_CONSOLE_CAPTURE=0`
    turns it off, e.g. to measure what it costs)."""
    manage_bind: str = "127.0.0.1"
    """The management listener's address (`RACKER_MANAGE_BIND`); beyond loopback it needs the
    API token."""
    manage_port: int = MANAGE_PORT
    """Its port (`RACKER_MANAGE_PORT`; 0: any free port, printed at start)."""
    bmc_protocol: str = "auto"
    """How racker speaks to BMCs (`RACKER_BMC_PROTOCOL`): `auto` (Redfish where a BMC's
    `/redfish/v1` answers over HTTPS, IPMI otherwise), `ipmi` or `redfish`."""
    bmc_ca_bundle: Path | None = None
    """A site CA bundle for Redfish BMC certificates (`RACKER_BMC_CA_BUNDLE`); without it each
    BMC's certificate is pinned on first use."""

    @property
    def base_url(self) -> str:
        return self.flatcar_base_url or DEFAULT_BASE_URL.format(channel=self.flatcar_channel)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env

        def path(name: str) -> Path | None:
            return Path(e[name]) if e.get(name) else None

        mode = e.get("RACKER_BOOT_MODE", "efi")
        if mode not in ("efi", "legacy"):
            raise InputError(f"RACKER_BOOT_MODE must be efi or legacy, not '{mode}'",
                             where=Where(variable="RACKER_BOOT_MODE"))
        capture = e.get("RACKER_CONSOLE_CAPTURE", "1")
        if capture not in ("0", "1"):
            raise InputError(f"RACKER_CONSOLE_CAPTURE must be 0 or 1, not '{capture}'",
                             where=Where(variable="RACKER_CONSOLE_CAPTURE"))
        return cls(
            console_capture=capture == "1",
            flatcar_channel=_channel(e.get("RACKER_FLATCAR_CHANNEL", "stable")),
            flatcar_version=_version(e.get("RACKER_FLATCAR_VERSION", "current")),
            flatcar_base_url=_base_url(e.get("RACKER_FLATCAR_BASE_URL") or None),
            flatcar_key=path("RACKER_FLATCAR_KEY"),
            assets_from=path("RACKER_ASSETS_FROM"),
            timeout_scale=_positive(e, "RACKER_TIMEOUT_SCALE", "1"),
            retry_sec=_positive(e, "RETRY_SEC", "150"),
            legacy_boot=mode == "legacy",
            manage_bind=_address(e.get("RACKER_MANAGE_BIND", "127.0.0.1")),
            manage_port=_port(e, "RACKER_MANAGE_PORT", str(MANAGE_PORT)),
            bmc_protocol=_bmc_protocol(e.get("RACKER_BMC_PROTOCOL", "auto")),
            bmc_ca_bundle=_ca_bundle(e.get("RACKER_BMC_CA_BUNDLE") or None),
        )


def _address(raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise InputError(f"RACKER_MANAGE_BIND must be an IP address, not {raw!r}",
                         where=Where(variable="RACKER_MANAGE_BIND"),
                         hint="e.g. 127.0.0.1 (the default) or the management node's address"
                         ) from None


def _port(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, default)
    if raw.isdigit() and int(raw) <= 65535:
        return int(raw)
    raise InputError(f"{name} must be a port number (0 to 65535), not {raw!r}",
                     where=Where(variable=name), hint="0 picks any free port")


BMC_PROTOCOLS = ("auto", "ipmi", "redfish")


def _bmc_protocol(raw: str) -> str:
    if raw in BMC_PROTOCOLS:
        return raw
    raise InputError(f"RACKER_BMC_PROTOCOL must be one of {', '.join(BMC_PROTOCOLS)}, "
                     f"not {raw!r}", where=Where(variable="RACKER_BMC_PROTOCOL"),
                     hint="unset it to let racker pick Redfish or IPMI per BMC (auto)")


def _ca_bundle(raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        raise InputError(f"RACKER_BMC_CA_BUNDLE names {raw!r}, which is not a file",
                         where=Where(variable="RACKER_BMC_CA_BUNDLE"),
                         hint="point it at the PEM file of your site's CA, or unset it to pin "
                              "each BMC's certificate on first use")
    return path


def _positive(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name, default)
    try:
        value = float(raw)
        if value <= 0:
            raise ValueError(raw)
    except ValueError:
        raise InputError(f"{name} must be a positive number, not '{raw}'",
                         where=Where(variable=name)) from None
    return value


# NOTE: the channel and version reach the installer's bash script, a download URL and a folder
# name under the state folder: only the words Flatcar uses are let through (`stable; touch x`
# or `../..` must never get there).
CHANNELS = ("stable", "beta", "alpha", "lts")
_VERSION = re.compile(r"current|[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}")


def _channel(raw: str) -> str:
    if raw in CHANNELS:
        return raw
    raise InputError(f"RACKER_FLATCAR_CHANNEL must be one of {', '.join(CHANNELS)}, "
                     f"not {raw!r}", where=Where(variable="RACKER_FLATCAR_CHANNEL"),
                     hint="unset it for the stable channel")


def _version(raw: str) -> str:
    if _VERSION.fullmatch(raw):
        return raw
    raise InputError(f"RACKER_FLATCAR_VERSION must be 'current' or a release number such as "
                     f"3510.2.1, not {raw!r}", where=Where(variable="RACKER_FLATCAR_VERSION"),
                     hint="unset it for the current release of the channel")


def _base_url(raw: str | None) -> str | None:
    """An http(s) URL without white space, quotes or control characters, or None."""
    if raw is None:
        return None
    parts = urlsplit(raw)
    bad = [c for c in raw if c.isspace() or c in "\"'`\\" or not c.isprintable()]
    if parts.scheme in ("http", "https") and parts.netloc and not bad:
        return raw
    raise InputError("RACKER_FLATCAR_BASE_URL must be an http:// or https:// URL without spaces, "
                     f"quotes or control characters, not {raw!r}",
                     where=Where(variable="RACKER_FLATCAR_BASE_URL"),
                     hint="e.g. https://mirror.example.org/flatcar/amd64-usr")
