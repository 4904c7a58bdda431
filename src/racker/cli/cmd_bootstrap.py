"""`racker bootstrap`: flags, the wizard for what they leave open, then the configuration.

Order, as operators know it from the reference: the provision type (asked unless given), then
the questions of that type unless a flag of that type was given, in which case every other
answer takes its default. Values are checked before anything is read or written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from racker.app.configuration.create import ConfigureResult
from racker.app.configuration.create import configure as _configure_kw
from racker.app.configuration.create import make_room as _check_folders
from racker.app.provision import check_tools
from racker.core.bootstrap.flags import ParsedFlags, check_scope, checked_value, parse_flags, usage
from racker.core.bootstrap.options import (
    SECRET_KEY_ENV,
    SECRET_KEYS,
    RackFacts,
    check_key,
    describe,
    flag_where,
    options_from_answers,
    recorded_values,
)
from racker.core.bootstrap.wizard import (
    Asker,
    DefaultAsker,
    graph_for,
    provision_graph,
    walk,
    without_keys,
)
from racker.errors import InputError, RackerError, Where
from racker.model import Inventory, Options, Provision
from racker.paths import Paths

LoadInventory = Callable[[Paths], Inventory]
Configure = Callable[[Paths, Options, bool], ConfigureResult]
CheckFolders = Callable[[Paths], None]
Provisioner = Callable[[Paths, ConfigureResult], int]
Lock = Callable[[Paths, str], AbstractContextManager[None]]

RACK_DEPENDENT = frozenset({"controller-type", "storage-node-type"})
"""Flags whose allowed values come from nodes.csv: checked once the rack is read."""


def _load_inventory(paths: Paths) -> Inventory:
    from racker.compose.rack import inventory  # through the composition root, when needed

    return inventory(paths)


def _run_lock(paths: Paths, command: str) -> AbstractContextManager[None]:
    from racker.compose.rack import run_lock  # the state folder's lock, through the root

    return run_lock(paths, command)


def _provision(paths: Paths, configured: ConfigureResult) -> int:
    # imported here: the engine, the services and the IPMI stack load only when provisioning
    from racker.compose.rack import provision_rack
    from racker.settings import Settings
    from racker.web.listener import management, say

    return provision_rack(paths, configured, management(paths, Settings.from_env(), say))


def _report(result: ConfigureResult) -> None:
    """What configure wrote, for the operator."""
    print(f"✓ configuration folder {result.folder} ({len(result.files)} files)")
    print(f"✓ dnsmasq configuration: {result.dnsmasq_conf}")
    print(f"✓ hosts entries: {result.hosts_file}")


def _configure(paths: Paths, options: Options, render_only: bool) -> ConfigureResult:
    return _configure_kw(paths, options, render_only=render_only)


def _resume(paths: Paths, parsed: ParsedFlags) -> ConfigureResult | None:
    """The configuration of an interrupted bootstrap to continue, if there is one.

    The flags given must agree with the options recorded there, except -exclude, which takes
    more nodes out first (what the BMC check's hint tells the operator to do)."""
    from racker.app import nodeops
    from racker.app.resume import interrupted, resume

    folder = interrupted(paths)
    if folder is None:
        return None
    exclude = _check_resumed_flags(paths, folder, parsed)
    print(f"➤ Continuing the interrupted bootstrap of {folder} with the options recorded "
          "there (nodes already provisioned are kept)")
    for mac in exclude:
        for line in nodeops.exclude(paths, folder, mac).lines:
            print(f"  {line}")
    return resume(paths, folder)


def _check_resumed_flags(paths: Paths, folder: Path, parsed: ParsedFlags) -> list[str]:
    """InputError for a flag that differs from the interrupted run's options; returns the MACs
    that -exclude adds."""
    from racker.app.configuration.loaded import load_configured

    c = load_configured(paths, folder)
    facts = RackFacts.from_inventory(c.inventory)
    recorded = recorded_values(c.options)
    added: list[str] = []
    for name, raw in parsed.values.items():
        value = checked_value(name, raw, facts)
        if name == "exclude":
            added += [m for m in value.split() if m not in c.options.exclude]
        elif name in SECRET_KEYS or name == "aws-secret-key-file":
            continue  # recorded in the options; not compared (and never printed)
        elif value != recorded.get(name, value):
            raise InputError(
                f"-{name} {value} differs from the interrupted bootstrap's "
                f"{recorded[name] or '(empty)'}: it continues with the options recorded in "
                f"{folder / 'racker-options.yaml'}",
                where=flag_where(name),
                hint=f"run it again without -{name} (-exclude MAC is taken), or move {folder} "
                     "away to start over")
    return added


def _facts_or_none(paths: Paths, load: LoadInventory) -> RackFacts | None:
    """The rack's facts for `-h` defaults; None when nodes.csv cannot be read (help still works)."""
    try:
        return RackFacts.from_inventory(load(paths))
    except (RackerError, OSError):
        return None


def _secret_key(values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """`values` with the AWS secret key read from -aws-secret-key-file or $RACKER_AWS_SECRET_KEY.

    NOTE: -aws-secret-key keeps working (scripts use it), but argv is readable by every user in
    ps and lands in shell history: a warning says so. A flag wins over the environment.
    """
    out = dict(values)
    file = out.pop("aws-secret-key-file", None)
    if "aws-secret-key" in out:
        if file is not None:
            raise InputError("the AWS secret key is given twice", where=flag_where(
                "aws-secret-key-file"), hint="give -aws-secret-key-file or -aws-secret-key")
        print(f"racker: warning: -aws-secret-key on the command line can be read by other users "
              f"(ps, shell history); use -aws-secret-key-file FILE or ${SECRET_KEY_ENV}",
              file=sys.stderr)
        return out
    if file is not None:
        from racker.compose.rack import secret_from_file  # reads a file: the outside world

        key = secret_from_file(Path(file), "AWS secret key")
        where = Where(file=file, flag="-aws-secret-key-file")
    elif environ.get(SECRET_KEY_ENV):
        key = environ[SECRET_KEY_ENV].strip()
        where = Where(variable=SECRET_KEY_ENV)
    else:
        return out
    problem = check_key(key)
    if problem is not None:
        raise InputError(f"invalid AWS secret key: {problem}", where=where)
    out["aws-secret-key"] = key
    return out


def bootstrap(
    argv: Sequence[str],
    *,
    paths: Paths,
    asker: Asker,
    interactive: bool,
    environ: Mapping[str, str] | None = None,
    load_inventory: LoadInventory = _load_inventory,
    configure: Configure = _configure,
    check_folders: CheckFolders = _check_folders,
    provision: Provisioner = _provision,
    lock: Lock = _run_lock,
) -> int:
    """Run `racker bootstrap` with the outside world passed in (tests pass their own).

    `environ` gives $RACKER_AWS_SECRET_KEY; None: an empty environment.
    """
    parsed = parse_flags(argv)
    early = {
        name: checked_value(name, raw, RackFacts())
        for name, raw in parsed.values.items()
        if name not in RACK_DEPENDENT
    }
    kind = Provision(early["provision"]) if "provision" in early else None
    if parsed.help:
        facts = _facts_or_none(paths, load_inventory) if kind else None
        print(usage(kind, facts))
        return 0
    if kind is not None:
        check_scope(parsed, kind)

    with contextlib.ExitStack() as held:
        if not parsed.render_only:  # refused at once when another bootstrap or apply runs
            held.enter_context(lock(paths, "racker bootstrap"))
        return _configure_and_provision(parsed, paths, asker, interactive, environ,
                                        load_inventory, configure, check_folders, provision,
                                        kind)


def _configure_and_provision(parsed: ParsedFlags, paths: Paths, asker: Asker, interactive: bool,
                             environ: Mapping[str, str] | None, load_inventory: LoadInventory,
                             configure: Configure, check_folders: CheckFolders,
                             provision: Provisioner, kind: Provision | None) -> int:
    if not parsed.render_only:
        resumed = _resume(paths, parsed)
        if resumed is not None:
            return provision(paths, resumed)
    facts = RackFacts.from_inventory(load_inventory(paths))
    values = _secret_key(
        {name: checked_value(name, raw, facts) for name, raw in parsed.values.items()},
        environ or {})
    # NOTE: checked before the first question, as the reference did, so that an operator does
    # not answer every question only to learn that a configuration folder is in the way.
    check_folders(paths)
    options = _answers(parsed, values, facts, asker, interactive, kind)

    if not parsed.render_only:
        check_tools(paths, options.provision)  # before anything is written
    print("➤ Bootstrap options:")
    for line in describe(options):
        print(f"  {line}")
    sys.stdout.flush()
    configured = configure(paths, options, parsed.render_only)
    _report(configured)
    if parsed.render_only:
        print("Stopped before any BMC, service or network is touched (-render-only).")
        return 0
    return provision(paths, configured)


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
        # Answers known already (the secret key from the environment) are not asked again.
        answers.update(walk(without_keys(graph_for(provision, facts), values), asker))
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
    return bootstrap(argv, paths=Paths.from_env(), asker=asker, interactive=interactive,
                     environ=os.environ)
