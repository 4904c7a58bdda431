"""The one place where an exception becomes an exit code and a message."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence

from racker.errors import RackerError

Entry = Callable[[Sequence[str]], int]


def run_main(prog: str, entry: Entry, argv: Sequence[str] | None = None) -> int:
    """Call `entry(argv)` and turn every failure into a message on stderr and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return entry(args)
    except RackerError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    except OSError as e:
        # a location of the environment racker cannot use (a path setting, a full disk): the
        # path and the reason, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{e.strerror or e}\n"
              "  hint: check that path and the settings that name it (RACKER_STATE_DIR, "
              "RACKER_OEM_DIR, RACKER_HOSTS_FILE, HOME) and its permissions", file=sys.stderr)
        return 1
    except Exception as e:  # the single catch-all, by design
        if os.environ.get("RACKER_DEBUG"):
            traceback.print_exc()
        print(
            f"{prog}: internal error: {type(e).__name__}: {e}\n"
            "  hint: this is a bug in racker; run again with RACKER_DEBUG=1 for the details",
            file=sys.stderr,
        )
        return 70
