"""Command tables of racker's front ends: words, a one-line summary, a lazy `module:function`.

`racker`, `racker node` and `racker-sim` each keep a table of `Command` rows; adding a command
is adding one row. Targets are imported only when their command runs, so `-h` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from racker.cli.run import Entry


@dataclass(frozen=True)
class Command:
    name: str
    """One or more words, e.g. `status` or `bmc serve`."""
    summary: str
    target: str
    """`module:function`."""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def load(self) -> Entry:
        """Import the target and return its entry function."""
        module, _, func = self.target.partition(":")
        entry: Entry = getattr(importlib.import_module(module), func)
        return entry


def usage(prog: str, commands: Sequence[Command], heading: str = "Commands",
          noun: str = "COMMAND") -> str:
    """The usage line and the command list with summaries."""
    width = max(len(c.name) for c in commands)
    lines = [f"Usage: {prog} {noun} [ARGS...]", "", f"{heading}:"]
    lines += [f"  {c.name.ljust(width)}  {c.summary}" for c in commands]
    lines += ["", f"Run '{prog} {noun} -h' for its options."]
    return "\n".join(lines)


def dispatch(prog: str, commands: Sequence[Command], argv: Sequence[str], *,
             heading: str = "Commands", noun: str = "COMMAND") -> int:
    """Run the command whose words start argv (the longest match) with the rest of argv."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(prog, commands, heading, noun))
        return 0
    matches = [c for c in commands if tuple(args[:len(c.words)]) == c.words]
    if not matches:
        # `bmc dance`: name as many words as a known command begins with, plus one
        known = max((n for c in commands for n in range(1, len(c.words) + 1)
                     if tuple(args[:n]) == c.words[:n]), default=0)
        print(f"{prog}: unknown {noun.lower()} '{' '.join(args[:known + 1])}'\n\n"
              f"{usage(prog, commands, heading, noun)}", file=sys.stderr)
        return 2
    best = max(matches, key=lambda c: len(c.words))
    return best.load()(args[len(best.words):])
