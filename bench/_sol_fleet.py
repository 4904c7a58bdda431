"""A fleet of the simulator's virtual BMCs on loopback whose hosts write console lines over
SOL, for bench/console.py: `python -m bench._sol_fleet N LINES PASSWORD_ENV`.

Prints one line with the BMCs' UDP ports once they listen; after a line on stdin, every host
writes LINES console lines (48 hosts at once, a line each every 10 ms, as lite nodes do); runs
until stdin closes. The password comes from the environment variable PASSWORD_ENV.
"""

from __future__ import annotations

import os
import sys
import time

from racker.sim.vbmc.chassis import MemoryChassis
from racker.sim.vbmc.server import BmcRunner, serve


def main(argv: list[str]) -> int:
    """Serve until stdin closes."""
    count, lines, password = int(argv[0]), int(argv[1]), os.environ[argv[2]]
    with BmcRunner() as runner:
        chassis = [MemoryChassis() for _ in range(count)]
        bmcs = [serve("127.0.0.1", 0, "admin", password, c, runner=runner) for c in chassis]
        print(" ".join(str(b.port) for b in bmcs), flush=True)
        sys.stdin.readline()
        for k in range(lines):
            for c in chassis:
                c.emit_console(f"[   12.{k:06d}] racker-installer[812]: a console line of "
                               f"a booting host, number {k}\r\n".encode())
            time.sleep(0.01)
        sys.stdin.read()
        for b in bmcs:
            b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
