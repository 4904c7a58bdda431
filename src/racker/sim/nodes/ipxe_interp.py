"""The subset of iPXE scripting racker (and matchbox) emit: `chain`, `kernel`, `initrd`, `boot`.

Pure: `run_script` turns one script into what the firmware does next (fetch another script, or
boot a kernel with initrds); the lite node does the fetching.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from racker.errors import InputError


@dataclass(frozen=True)
class Chain:
    """Fetch and run the script (or image) at `url`."""

    url: str


@dataclass(frozen=True)
class Boot:
    """Boot `kernel` with command line `args` and the `initrds`."""

    kernel: str
    args: tuple[str, ...]
    initrds: tuple[str, ...]

    def arg(self, key: str) -> str | None:
        """The value of `key=value` on the kernel command line, or None."""
        for a in self.args:
            k, sep, v = a.partition("=")
            if sep and k == key:
                return v
        return None


Outcome = Chain | Boot

_VAR = re.compile(r"\$\{([A-Za-z0-9_./-]+)(?::([a-z]+))?\}")


def ipxe_vars(mac: str, uuid: str, **extra: str) -> dict[str, str]:
    """The settings a booting iPXE has: `mac` (colon form), `uuid`, plus `extra`."""
    return {"mac": mac.lower(), "net0/mac": mac.lower(), "uuid": uuid.lower(), **extra}


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand `${name}` and `${name:type}`; unknown settings expand to "" as in iPXE."""

    def sub(m: re.Match[str]) -> str:
        value = variables.get(m.group(1), "")
        kind = m.group(2)
        if kind == "hexhyp":
            return value.replace(":", "-")
        if kind == "hexraw":
            return value.replace(":", "")
        return value

    return _VAR.sub(sub, text)


def _strip_flags(words: list[str]) -> list[str]:
    """Drop iPXE image options such as `--name x`, `--autofree`, `--timeout 10`."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--") and not out:
            if "=" not in w and w in ("--name", "--timeout", "-n", "-t"):
                i += 1
            i += 1
            continue
        out.append(w)
        i += 1
    return out


def run_script(text: str, url: str, variables: Mapping[str, str]) -> Outcome:
    """What iPXE does with the script `text` fetched from `url`.

    Raises InputError (with the script line) for a script that is not iPXE, uses a command
    outside the supported subset, or ends without `chain` or `boot`.
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#!ipxe"):
        raise InputError("not an iPXE script (no #!ipxe line)", hint=f"fetched from {url}")
    env = dict(variables)
    kernel: str | None = None
    args: tuple[str, ...] = ()
    initrds: list[str] = []
    for no, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(":"):
            continue
        try:
            words = shlex.split(expand(line, env), posix=True)
        except ValueError as e:
            raise InputError(f"line {no}: {e}", hint=f"in the iPXE script from {url}") from None
        cmd, rest = words[0], _strip_flags(words[1:])
        if cmd == "chain" and rest:
            return Chain(urljoin(url, rest[0]))
        if cmd == "kernel" and rest:
            kernel, args = urljoin(url, rest[0]), tuple(rest[1:])
        elif cmd in ("imgargs",) and len(rest) >= 1:
            args = tuple(rest[1:])
        elif cmd in ("initrd", "module") and rest:
            initrds.append(urljoin(url, rest[0]))
        elif cmd == "boot":
            if kernel is None:
                raise InputError(f"line {no}: 'boot' without a kernel",
                                 hint=f"in the iPXE script from {url}")
            return Boot(kernel, args, tuple(initrds))
        elif cmd == "set" and len(words) >= 2:
            env[words[1]] = " ".join(words[2:])
        elif cmd in ("echo", "dhcp", "ifconf", "sleep", "prompt"):
            continue
        else:
            raise InputError(f"line {no}: unsupported iPXE command '{cmd}'",
                             hint=f"in the iPXE script from {url}")
    raise InputError("the iPXE script ends without 'chain' or 'boot'",
                     hint=f"fetched from {url}")
