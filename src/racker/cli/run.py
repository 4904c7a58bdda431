"""The one place where an exception becomes an exit code and a message."""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence

from racker.errors import RackerError

Entry = Callable[[Sequence[str]], int]


def _stop_on_sigterm() -> list[int]:
    """SIGTERM stops a command as Ctrl-C does: the work in progress is cancelled and every
    `finally` runs (dnsmasq stopped, the boot server closed, BMC sessions logged out), instead
    of the process vanishing. Returns the list the handler appends SIGTERM to."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return seen

    def handler(signum: int, _frame: object) -> None:
        seen.append(signum)
        # NOTE: re-raised as SIGINT so that asyncio.run's own Ctrl-C handling cancels the main
        # task (a KeyboardInterrupt raised here could land inside the event loop's machinery).
        signal.raise_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, handler)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # NOTE: a script's background job starts with SIGINT ignored (POSIX shells without job
        # control do that); the SIGTERM above would then be ignored too, and `kill PID` did
        # not stop a `racker bootstrap &` at all. Ctrl-C's handler is put back for the stop.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return seen


def run_main(prog: str, entry: Entry, argv: Sequence[str] | None = None, *,
             sigterm_as_interrupt: bool = False) -> int:
    """Call `entry(argv)` and turn every failure into a message on stderr and an exit code;
    with `sigterm_as_interrupt`, SIGTERM stops the command as Ctrl-C does (cleanly)."""
    args = list(sys.argv[1:] if argv is None else argv)
    terminated = _stop_on_sigterm() if sigterm_as_interrupt else []
    try:
        return entry(args)
    except RackerError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if terminated:
            print(f"\n{prog}: stopped (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    except OSError as e:
        if not e.filename and not e.strerror:  # a bare TimeoutError or the like: a bug
            return _internal_error(prog, e)
        # a location of the environment racker cannot use (a path setting, a full disk): the
        # path and the reason, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{e.strerror or e}\n"
              "  hint: check that path and the settings that name it (RACKER_STATE_DIR, "
              "RACKER_OEM_DIR, RACKER_HOSTS_FILE, HOME) and its permissions", file=sys.stderr)
        return 1
    except Exception as e:  # the single catch-all, by design
        return _internal_error(prog, e)


def _internal_error(prog: str, e: Exception) -> int:
    """A failure racker did not foresee: its type and words (the traceback with RACKER_DEBUG)."""
    if os.environ.get("RACKER_DEBUG"):
        traceback.print_exception(e)
    print(
        f"{prog}: internal error: {type(e).__name__}: {e}\n"
        "  hint: this is a bug in racker; run again with RACKER_DEBUG=1 for the details",
        file=sys.stderr,
    )
    return 70
