"""The rack metadata on disk: `$RACKER_OEM_DIR/nodes.csv` and this machine's interfaces, read
and handed to the pure parser (`racker.core.inventory`)."""

from __future__ import annotations

from pathlib import Path

from racker.core.inventory import EXAMPLE_ROW, HEADER, PxeFile, parse_nodes_csv
from racker.errors import InputError, Where
from racker.model import Inventory
from racker.paths import Paths


def read_machine_macs(sys_class_net: Path) -> dict[str, str]:
    """Interface name → MAC address of this machine, read from `<sys_class_net>/*/address`."""
    out: dict[str, str] = {}
    try:
        entries = sorted(sys_class_net.iterdir())
    except OSError:
        return out
    for entry in entries:
        try:
            text = (entry / "address").read_text(errors="replace").strip()
        except OSError:
            continue  # not an interface, or one without a hardware address
        if text:
            out[entry.name] = text
    return out


def read_nodes_csv_text(path: Path) -> str:
    """The text of nodes.csv, or an InputError saying what is wrong with the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            "the rack metadata file nodes.csv is missing", where=Where(file=str(path)),
            hint=f"create it with the header line and one row per server:\n    {HEADER}\n"
                 f"    {EXAMPLE_ROW}\n  (see the section 'nodes.csv' of docs/management-node.md)",
        ) from None
    except IsADirectoryError:
        raise InputError("nodes.csv is a directory, not a file",
                         where=Where(file=str(path))) from None
    except PermissionError:
        raise InputError("nodes.csv cannot be read: permission denied",
                         where=Where(file=str(path)),
                         hint="run racker as the user that owns the rack metadata, or fix the "
                              "file's permissions (chmod 644)") from None
    except OSError as e:
        raise InputError(f"nodes.csv cannot be read: {e.strerror}",
                         where=Where(file=str(path))) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError("nodes.csv is not UTF-8 text", where=Where(file=str(path), line=line,
                         column=column),
                         hint="save the file as plain UTF-8 (or ASCII) text") from None


def read_pxe_file(paths: Paths) -> PxeFile | None:
    """The OEM folder's `pxe_interface` file (older layout), or None when there is none."""
    try:
        return paths.pxe_interface_file, paths.pxe_interface_file.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"pxe_interface cannot be read: {e}",
                         where=Where(file=str(paths.pxe_interface_file))) from None


def load_inventory(paths: Paths) -> Inventory:
    """Read `$RACKER_OEM_DIR/nodes.csv` (and `pxe_interface`) and this machine's MACs, and
    parse the inventory."""
    text = read_nodes_csv_text(paths.nodes_csv)
    return parse_nodes_csv(text, paths.nodes_csv, read_machine_macs(paths.sys_class_net),
                           read_pxe_file(paths))
