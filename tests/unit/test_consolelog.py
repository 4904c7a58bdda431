"""A node's console log on disk: whole timestamped lines, bounded by rotation, owner-only,
read back, followed across a rotation; a failing write drops lines instead of failing."""

from __future__ import annotations

import itertools
import os
import stat
import threading
from pathlib import Path

import pytest

from racker.adapters.fs.consolelog import ConsoleLog, follow, log_path, read_lines, tail

MAC = "52:54:00:00:00:01"


def test_lines_are_written_whole_with_times_and_read_back(tmp_path: Path) -> None:
    clock = itertools.count(1000.0, 0.5)
    log = ConsoleLog(tmp_path / "console", MAC, clock=lambda: next(clock))
    assert log.write(b"BdsDxe: loading\r\niPXE ") == 1
    assert log.write(b"1.21\n") == 1
    log.note("SOL lost")
    log.write(b"half a line")
    log.close()
    path = log_path(tmp_path / "console", MAC)
    assert path.name == "52-54-00-00-00-01.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_lines(tmp_path / "console", MAC) == [
        (1000.0, "BdsDxe: loading"), (1000.5, "iPXE 1.21"), (1001.0, "[racker] SOL lost"),
        (1001.5, "half a line")]
    assert [t for _, t in tail(tmp_path / "console", MAC, 2)] == ["[racker] SOL lost",
                                                                 "half a line"]


def test_the_log_is_bounded_by_one_rotation(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path, MAC, limit=64 * 1024)
    for i in range(5000):
        log.write(f"line {i:05d} ".encode() + b"." * 60 + b"\n")
    path = log_path(tmp_path, MAC)
    old = path.with_name(path.name + ".1")
    assert path.stat().st_size <= 32 * 1024 and old.stat().st_size <= 32 * 1024
    lines = read_lines(tmp_path, MAC)
    assert lines[-1][1].startswith("line 04999 ")
    numbers = [int(t.split()[1]) for _, t in lines]
    assert numbers == list(range(numbers[0], 5000))  # the newest, in order, none lost


def test_a_failing_write_drops_lines_and_counts_them(tmp_path: Path) -> None:
    folder = tmp_path / "console"
    folder.mkdir()
    log_path(folder, MAC).mkdir()  # the log's name taken by a folder: every write fails
    log = ConsoleLog(folder, MAC)
    assert log.write(b"a\nb\n") == 0 and log.dropped == 2


@pytest.mark.timeout(60)
def test_follow_sees_new_lines_across_a_rotation(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path, MAC, limit=4096)
    log.write(b"before\n")
    seen: list[str] = []
    done = threading.Event()
    wrote = threading.Event()

    # the follower starts at the end as it is now: "before" is not followed
    lines = follow(tmp_path, MAC, interval=0.01, sleep=lambda s: (wrote.wait(s), None)[1])

    def reader() -> None:
        for _, text in lines:
            seen.append(text)
            if text == "last":
                done.set()
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for i in range(200):
        log.write(f"n{i:03d} ".encode() + b"x" * 40 + b"\n")
    log.write(b"last\n")
    wrote.set()
    assert done.wait(30), seen[-3:]
    assert "before" not in seen and seen[-1] == "last"
    assert os.path.exists(str(log_path(tmp_path, MAC)) + ".1")  # it did rotate


@pytest.mark.parametrize("n", [0, 1, 20, 600, 4000])
def test_tail_reads_from_the_end_the_same_lines_as_the_whole_log(tmp_path: Path, n: int) -> None:
    log = ConsoleLog(tmp_path, MAC, limit=64 * 1024)
    for i in range(3000):  # rotated once at least; some lines longer than a read block
        log.write(f"line {i:05d} ".encode() + b"\xc3\xa9" * (9000 if i % 700 == 0 else 20)
                  + b"\n")
    log.close()
    assert log_path(tmp_path, MAC).with_name(log_path(tmp_path, MAC).name + ".1").exists()
    whole = read_lines(tmp_path, MAC)
    assert tail(tmp_path, MAC, n) == (whole[-n:] if n else [])
