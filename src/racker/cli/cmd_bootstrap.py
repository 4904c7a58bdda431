"""`racker bootstrap`: flags, the wizard for what they leave open, then the configuration.

Order, as operators know it from the reference: the provision type (asked unless given), then
the questions of that type unless a flag of that type was given, in which case every other
answer takes its default. Values are checked before anything is read or written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from racker.app.configuration.create import ConfigureResult
from racker.app.configuration.create import configure as _configure_kw
from racker.app.configuration.create import make_room as _check_folders
from racker.core.bootstrap.flags import ParsedFlags, check_scope, checked_value, parse_flags, usage
from racker.core.bootstrap.options import (
    SECRET_KEY_ENV,
    RackFacts,
    check_key,
    describe,
    flag_where,
    options_from_answers,
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

RACK_DEPENDENT = frozenset({"controller-type", "storage-node-type"})
"""Flags whose allowed values come from nodes.csv: checked once the rack is read."""


def _load_inventory(paths: Paths) -> Inventory:
    from racker.compose.rack import inventory  # through the composition root, when needed

    return inventory(paths)


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


def _resume(paths: Paths) -> ConfigureResult | None:
    """The configuration of an interrupted bootstrap to continue, if there is one."""
    from racker.app.resume import interrupted, resume

    folder = interrupted(paths)
    if folder is None:
        return None
    print(f"➤ Continuing the interrupted bootstrap of {folder} with the options recorded "
          "there (nodes already provisioned are kept)")
    return resume(paths, folder)


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

    if not parsed.render_only:
        resumed = _resume(paths)
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
