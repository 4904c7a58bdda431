"""`racker status [--full] [--json]`: the whole rack in one table."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from racker.app.failures import NodeFailure, failure_lines, rack_failures
from racker.app.hardware import cabling_problems, rack_hardware
from racker.app.status import (
    RackStatus,
    cabling_lines,
    hardware_lines,
    rack_plan,
    render_table,
    to_json,
)
from racker.cli.parsing import Parser
from racker.errors import RackerError
from racker.paths import Paths


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="racker status",
        description="Show, for every node of nodes.csv: whether its BMC answers, its power "
                    "state, whether the OS is provisioned, whether it joined the cluster, and "
                    "its host names. BMCs are queried at the same time.")
    p.add_argument("-full", "--full", action="store_true",
                   help="also print why nodes last failed (the installer's journal, the last "
                        "console lines), every node's hardware inventory and diagnosis (as "
                        "'ipmi NODE diag'); with --json as each node's \"last_failure\", "
                        "\"inventory\" and \"diagnosis\": {\"ok\", \"text\"}")
    p.add_argument("-json", "--json", action="store_true", help="print JSON for scripts")
    return p


def _status(paths: Paths, as_json: bool, full: bool = False) -> int:
    from racker.compose.rack import rack_status, store  # the BMC stack loads only when needed

    status = asyncio.run(rack_status(paths))
    hardware = (rack_hardware([r.mac for r in status.rows], lambda: store(paths))
                if full else {})
    cabling: list[str] = []
    if full:  # the cabling check over what the installers reported
        with store(paths) as s:
            cabling = cabling_problems(rack_plan(paths)[1].nodes, s)
    failures = _failures(paths, status) if full else []
    if as_json:
        data = to_json(status)
        code = 0
        if full:  # each node's diagnosis (as 'ipmi NODE diag') and inventory beside its row
            from racker.cli.ipmi import diagnoses

            found = diagnoses()
            by_mac = {f.mac: f for f in failures}
            for node in data["nodes"]:
                text, ok = found.get(node["mac"], ("", False))
                node["diagnosis"] = {"ok": ok, "text": text}
                inv = hardware.get(node["mac"])
                node["inventory"] = inv.as_json() if inv else None
                f = by_mac.get(node["mac"])
                node["last_failure"] = None if f is None else {
                    "stage": f.stage, "error": f.error, "journal": list(f.journal),
                    "console": list(f.console)}
                code = code or (0 if ok else 1)
        if full:
            data["cabling"] = cabling
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return code
    else:
        print("\n".join(render_table(status)))
        if full:
            print()
            print("\n".join(hardware_lines([r.mac for r in status.rows], hardware)))
            print("\n".join(cabling_lines(cabling)))
        if failures:
            print()
            print(f"Last failures ({len(failures)} nodes):")
            for f in failures:
                print("\n".join(failure_lines(f)))
    return 0


def _failures(paths: Paths, status: RackStatus) -> list[NodeFailure]:
    from racker.compose.rack import store

    return rack_failures(paths, [(r.mac, r.name) for r in status.rows], lambda: store(paths))


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker status`."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    code = _status(paths, args.json, args.full)
    if args.full and not args.json:
        from racker.cli.ipmi import run as ipmi_run

        print()
        sys.stdout.flush()
        try:
            code = max(code, ipmi_run(["--all", "diag"]))
        except RackerError as e:
            print(f"racker status: {e}", file=sys.stderr)
            code = 1
    return code
