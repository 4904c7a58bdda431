"""`racker bootstrap`: flags, the wizard for what they leave open, then the configuration.

Order, as operators know it from the reference: the provision type (asked unless given), then
the questions of that type unless a flag of that type was given, in which case every other
answer takes its default. Values are checked before anything is read or written.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from racker.bootstrap_flags import ParsedFlags, check_scope, checked_value, parse_flags, usage
from racker.bootstrap_options import RackFacts, describe, options_from_answers
from racker.errors import RackerError
from racker.inventory import load_inventory as _load_inventory
from racker.model import Inventory, Options, Provision
from racker.paths import Paths
from racker.wizard import Asker, DefaultAsker, graph_for, provision_graph, walk

LoadInventory = Callable[[Paths], Inventory]
Configure = Callable[[Paths, Options, bool], Any]
"""Writes the configuration; its result, when it has them, names `folder`, `files`,
`dnsmasq_conf` and `hosts_file` (racker.configure.ConfigureResult)."""
CheckFolders = Callable[[Paths], None]

RACK_DEPENDENT = frozenset({"controller-type", "storage-node-type"})
"""Flags whose allowed values come from nodes.csv: checked once the rack is read."""


def _module(name: str) -> ModuleType | None:
    """Import a part of racker that may be missing from this build (None when it is)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return None


def _configure(paths: Paths, options: Options, render_only: bool) -> Any:
    module = _module("racker.configure")
    if module is None:
        raise RackerError(
            "writing the configuration folder is not available in this build of racker",
            hint="update racker",
        )
    return module.configure(paths, options, render_only=render_only)


def _check_folders(paths: Paths) -> None:
    # NOTE: checked before the first question, as the reference did, so that an operator does
    # not answer every question only to learn that a configuration folder is in the way.
    module = _module("racker.configdir")
    if module is not None:
        module.check_folders(paths)


def _report(result: Any) -> None:
    """What configure wrote, for the operator."""
    folder = getattr(result, "folder", None)
    if folder is not None:
        files = getattr(result, "files", ())
        print(f"✓ configuration folder {folder} ({len(files)} files)")
    for label, attr in (("dnsmasq configuration", "dnsmasq_conf"), ("hosts entries", "hosts_file")):
        where = getattr(result, attr, None)
        if where is not None:
            print(f"✓ {label}: {where}")


def _facts_or_none(paths: Paths, load: LoadInventory) -> RackFacts | None:
    """The rack's facts for `-h` defaults; None when nodes.csv cannot be read (help still works)."""
    try:
        return RackFacts.from_inventory(load(paths))
    except (RackerError, OSError):
        return None


def bootstrap(
    argv: Sequence[str],
    *,
    paths: Paths,
    asker: Asker,
    interactive: bool,
    load_inventory: LoadInventory = _load_inventory,
    configure: Configure = _configure,
    check_folders: CheckFolders = _check_folders,
) -> int:
    """Run `racker bootstrap` with the outside world passed in (tests pass their own)."""
    parsed = parse_flags(argv)
    early = {
        name: checked_value(name, raw, RackFacts())
        for name, raw in parsed.values.items()
        if name not in RACK_DEPENDENT
    }
    provision = Provision(early["provision"]) if "provision" in early else None
    if parsed.help:
        facts = _facts_or_none(paths, load_inventory) if provision else None
        print(usage(provision, facts))
        return 0
    if provision is not None:
        check_scope(parsed, provision)

    facts = RackFacts.from_inventory(load_inventory(paths))
    check_folders(paths)
    values = {name: checked_value(name, raw, facts) for name, raw in parsed.values.items()}
    options = _answers(parsed, values, facts, asker, interactive, provision)

    print("➤ Bootstrap options:")
    for line in describe(options):
        print(f"  {line}")
    sys.stdout.flush()
    _report(configure(paths, options, parsed.render_only))
    if parsed.render_only:
        print("Stopped before any BMC, service or network is touched (-render-only).")
        return 0
    raise RackerError(
        "provisioning the nodes is not available in this build of racker yet",
        hint="the configuration was written; run with -render-only to only write it",
    )


def _answers(
    parsed: ParsedFlags,
    values: Mapping[str, str],
    facts: RackFacts,
    asker: Asker,
    interactive: bool,
    provision: Provision | None,
) -> Options:
    """Flags plus the wizard's answers for what they leave open, as Options."""
    ask_rest = not parsed.provision_specific
    if not interactive and (provision is None or ask_rest):
        print("racker: stdin is not a terminal, unanswered questions take their defaults",
              file=sys.stderr)
    if provision is None:
        provision = Provision(walk(provision_graph(), asker)["provision"])
        check_scope(parsed, provision)
    answers = {**values, "provision": provision.value}
    if ask_rest:
        answers.update(walk(graph_for(provision, facts), asker))
    return options_from_answers(answers, facts)


def run(argv: Sequence[str]) -> int:
    """`racker bootstrap [flags]`"""
    interactive = sys.stdin.isatty()
    asker: Asker
    if interactive:
        from racker.cli.wizard_asker import QuestionaryAsker

        asker = QuestionaryAsker()
    else:
        asker = DefaultAsker()
    return bootstrap(argv, paths=Paths.from_env(), asker=asker, interactive=interactive)
