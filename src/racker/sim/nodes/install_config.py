"""What a simulated Flatcar installer reads from its Ignition config. Pure.

The installer Ignition racker serves holds a script or unit that runs `flatcar-install -b BASE
-V VERSION …`, a URL it POSTs `installed` to, and the kernel argument the installed system will
boot with (`ignition.config.url=…os=installed`). Texts may sit in units, drop-ins or
`data:` URLs of storage files, so every one of those is searched.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

IMAGE_NAME = "flatcar_production_image.bin.bz2"
_EVENTS = re.compile(r"https?://[^\s\"'\\<>]+/racker/v1/nodes/[^\s\"'\\<>]+/events")
_INSTALLED = re.compile(r"ignition\.config\.url=([^\s\"'\\]*os=installed[^\s\"'\\]*)")


@dataclass(frozen=True)
class InstallPlan:
    """What `flatcar-install` would download."""

    base_url: str
    version: str
    channel: str

    @property
    def version_txt_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.version}/version.txt"

    def image_url(self, version: str) -> str:
        """The image of `version` (the real number when `self.version` is `current`)."""
        return f"{self.base_url.rstrip('/')}/{version}/{IMAGE_NAME}"


def _data_url(source: str) -> str | None:
    if not source.startswith("data:"):
        return None
    meta, _, payload = source[5:].partition(",")
    raw = base64.b64decode(payload + "===") if meta.endswith(";base64") else (
        unquote_to_bytes(payload))
    return raw.decode("utf-8", errors="replace")


def config_texts(ignition: str) -> list[str]:
    """Every unit, drop-in and inline file content in the config, then the raw config itself
    (last: inside JSON, a script's lines are one escaped string)."""
    texts: list[str] = []
    try:
        doc: Any = json.loads(ignition)
    except ValueError:
        return [ignition]
    if not isinstance(doc, dict):
        return [ignition]
    systemd = doc.get("systemd") or {}
    for unit in systemd.get("units") or []:
        if isinstance(unit, dict):
            texts.append(str(unit.get("contents") or ""))
            for d in unit.get("dropins") or []:
                if isinstance(d, dict):
                    texts.append(str(d.get("contents") or ""))
    storage = doc.get("storage") or {}
    for f in storage.get("files") or []:
        if isinstance(f, dict):
            src = (f.get("contents") or {}).get("source") or ""
            try:
                decoded = _data_url(str(src))
            except ValueError:
                decoded = None
            if decoded:
                texts.append(decoded)
    return [*texts, ignition]


def find_install_plan(texts: list[str]) -> InstallPlan | None:
    """The `flatcar-install -b BASE` call in the config, or None when there is none."""
    for text in texts:
        for line in text.splitlines():
            if "flatcar-install" not in line:
                continue
            try:
                words = shlex.split(line.split("flatcar-install", 1)[1], comments=True)
            except ValueError:
                words = line.split("flatcar-install", 1)[1].split()
            opts: dict[str, str] = {}
            for i, w in enumerate(words[:-1]):
                if w in ("-b", "-V", "-C"):
                    opts[w] = words[i + 1]
            if "-b" in opts:
                return InstallPlan(opts["-b"], opts.get("-V", "current"),
                                   opts.get("-C", "stable"))
    return None


def find_event_url(texts: list[str]) -> str | None:
    """The racker events URL the config POSTs to, or None."""
    for text in texts:
        m = _EVENTS.search(text)
        if m:
            return m.group(0)
    return None


def posts_inventory(texts: list[str]) -> bool:
    """Whether the installer posts a hardware inventory (racker's collector is in it)."""
    return any('"inventory"' in text and "racker-inventory" in text for text in texts)


def is_discovery(texts: list[str]) -> bool:
    """Whether the config is racker's discovery configuration (report, then power off)."""
    return any("racker-discovery" in text for text in texts)


def find_installed_ignition_url(texts: list[str]) -> str | None:
    """The `ignition.config.url` the installed system boots with, or None."""
    for text in texts:
        m = _INSTALLED.search(text)
        if m:
            return m.group(1)
    return None


def parse_version_txt(text: str) -> str | None:
    """FLATCAR_VERSION from a release's version.txt."""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "FLATCAR_VERSION":
            return value.strip().strip('"') or None
    return None
