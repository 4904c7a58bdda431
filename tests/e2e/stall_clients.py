"""Stalled clients of racker's boot server, for e2e tests, run inside the management namespace
by `racker-sim exec`: downloads that never read (one address each) and requests that never
finish, each replaced as soon as the server drops it, until a stop file appears.

Usage: `python stall_clients.py HOST PORT DOWNLOADS HALF_SENT PATH STOPFILE OUTFILE`. Every
0.1 s it appends `TIME OPEN` to OUTFILE: how many stalled connections it held at that moment.
Runs at most 600 s.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import time
from pathlib import Path


def opened(host: str, port: int, source: str, request: bytes, rcvbuf: int | None) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(2)
    s.connect((host, port))
    s.sendall(request)
    s.setblocking(False)
    return s


def dropped(s: socket.socket) -> bool:
    """Whether the server closed or reset the connection (without reading what it sent)."""
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError as e:
        return e.errno != errno.EAGAIN


def main() -> int:
    host, port, downloads, half, path, stop, out = sys.argv[1:8]
    slots: list[tuple[str, bytes, int | None]] = []
    get = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    for i in range(int(downloads)):  # one address each: the server limits downloads per address
        slots.append((f"127.0.1.{i + 1}", get, 4096))
    for i in range(int(half)):
        slots.append((f"127.0.2.{i + 1}", b"GET /boot.ipxe HTTP/1.1\r\nHost: ", None))
    held: list[socket.socket | None] = [None] * len(slots)
    end = time.monotonic() + 600
    with open(out, "a") as log:
        while not Path(stop).exists() and time.monotonic() < end:
            for i, (source, request, rcvbuf) in enumerate(slots):
                s = held[i]
                if s is not None and dropped(s):
                    s.close()
                    s = held[i] = None
                if s is None:
                    with contextlib.suppress(OSError):  # the server is not up yet
                        held[i] = opened(host, int(port), source, request, rcvbuf)
            log.write(f"{time.time():.3f} {sum(s is not None for s in held)}\n")
            log.flush()
            time.sleep(0.1)
    for s in held:
        if s is not None:
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
