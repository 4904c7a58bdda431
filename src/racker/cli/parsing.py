"""racker's argparse parser: errors that guide (a "did you mean" for a mistyped flag, missing
positional arguments named with what they expect), raised as InputError so that the one exit
path (racker.cli.run) prints them like every other error."""

from __future__ import annotations

import argparse
import re
from typing import Any

from racker.core.suggest import did_you_mean
from racker.errors import InputError, Where

_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)")
_REQUIRED = re.compile(r"the following arguments are required: (.*)")


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors are InputErrors naming the flag or argument, and
    without abbreviated flags (a mistyped flag is named, never taken for another)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """Turn argparse's message into an InputError with a hint."""
        m = _UNRECOGNIZED.fullmatch(message)
        if m:
            word = m.group(1).split()[0]
            if word.startswith("-"):
                options = [o for a in self._actions for o in a.option_strings]
                hint = did_you_mean(word, options)
                raise InputError(f"not a flag of {self.prog}",
                                 where=Where(flag=word.split("=", 1)[0]),
                                 hint=f"{hint} (see '{self.prog} -h')" if hint
                                 else f"see '{self.prog} -h' for the flags")
            raise InputError(f"unexpected positional argument {word!r}",
                             hint=f"usage: {self._usage_line()}")
        m = _REQUIRED.fullmatch(message)
        if m:
            names = [n.strip() for n in m.group(1).split(",")]
            described = [self._describe(n) for n in names]
            raise InputError(f"missing the positional argument{'s' if len(names) > 1 else ''} "
                             + ", ".join(names), hint="; ".join(described)
                             + f"\n  usage: {self._usage_line()}")
        raise InputError(message, hint=f"see '{self.prog} -h'")

    def _usage_line(self) -> str:
        return " ".join(self.format_usage().split()).removeprefix("usage: ")

    def _describe(self, name: str) -> str:
        for a in self._actions:
            if not a.option_strings and (a.metavar == name or a.dest == name):
                return f"{name}: {a.help}" if a.help else name
        return name
