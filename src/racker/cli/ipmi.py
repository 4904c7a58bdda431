"""`ipmi`: run ipmitool against a node's BMC, found by MAC or host name; `diag`; `--all`.

The pure parts (arguments, node lookup, argv, texts) are in `racker.core.ipmitool`, the use case
in `racker.app.ipmi_helper`; this module parses, prints usage and calls it. ipmitool gets the
password in its environment (`-E` reads IPMI_PASSWORD), never in an argv or in output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from racker.cli.run import run_main
from racker.core import ipmitool as h
from racker.errors import RackerError
from racker.model import Credentials, Inventory
from racker.paths import Paths

if TYPE_CHECKING:
    from racker.app.ipmi_builtins import Bmcs


@dataclass(frozen=True)
class Loaders:
    """Where the inventory and the credentials come from (injected by tests)."""

    inventory: Callable[[Paths], Inventory]
    credentials: Callable[[Paths], Credentials]


def default_loaders() -> Loaders:
    """The rack's nodes.csv and BMC credentials, as the composition root reads them."""
    # Imported when needed: `ipmi -h` stays fast.
    from racker.compose.rack import credentials, inventory

    return Loaders(inventory=inventory, credentials=credentials)


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        loaders: Loaders | None = None) -> int:
    """`ipmi` with its arguments; `env` and `loaders` default to the real ones."""
    e = os.environ if env is None else env
    request = h.parse_args(argv)
    if request is None:
        retry = h.DEFAULT_RETRY_SEC
        with contextlib.suppress(RackerError):  # help must work even with a bad RETRY_SEC
            retry = h.parse_settings(e).retry_sec
        helped = bool(argv)
        print(h.usage(retry_sec=retry), file=sys.stdout if helped else sys.stderr)
        return 0 if helped else 2
    settings = h.parse_settings(e)
    paths = Paths.from_env(e)
    load = loaders or default_loaders()
    inventory = load.inventory(paths)
    credentials = load.credentials(paths)
    from racker.app.ipmi_helper import run_request
    from racker.compose.rack import helper_bmcs, helper_redfish, locator

    def bmcs() -> Bmcs:
        timeout = None if settings.ipmi_timeout is None else float(settings.ipmi_timeout)
        return helper_bmcs(paths, inventory.pxe_interface, credentials,
                           retry_sec=settings.retry_sec, timeout=timeout, env=e)

    interactive = settings.use_stdin and sys.stdin.isatty()
    return run_request(request, settings, paths, inventory, credentials,
                       locator(paths, inventory.pxe_interface), e, bmcs,
                       helper_redfish(paths, credentials, e),
                       confirm=ask_yes_no if interactive else None)


def ask_yes_no(question: str) -> bool:
    """The operator's answer at the terminal: yes only for y or yes (Ctrl-D: no)."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def diagnoses(*, env: Mapping[str, str] | None = None, loaders: Loaders | None = None
              ) -> dict[str, tuple[str, bool]]:
    """Every node's `ipmi NODE diag` as data: primary MAC → (text, succeeded)."""
    e = os.environ if env is None else env
    paths = Paths.from_env(e)
    load = loaders or default_loaders()
    inventory = load.inventory(paths)
    from racker.app.ipmi_helper import diagnose_all
    from racker.compose.rack import helper_redfish, locator

    credentials = load.credentials(paths)
    return diagnose_all(h.parse_settings(e), paths, inventory, credentials,
                        locator(paths, inventory.pxe_interface), e,
                        helper_redfish(paths, credentials, e))


def main(argv: Sequence[str] | None = None) -> int:
    """The `ipmi` console script."""
    return run_main("ipmi", run, argv)


if __name__ == "__main__":
    sys.exit(main())
