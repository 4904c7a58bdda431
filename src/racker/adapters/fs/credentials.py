"""Secret files: the BMC credentials (`$RACKER_OEM_DIR/ipmi_user`, `ipmi_password`) and others.

The docs create them with `echo VALUE | sudo tee FILE`, so a trailing newline is not part of the
value. The password file must not be readable by group or others: untrusted workloads can reach
the BMCs on the rack-internal network.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

from racker.errors import InputError, Where
from racker.model import Credentials
from racker.paths import Paths


def create_hint(path: Path, what: str) -> str:
    """How to create the `what` file. A password is read without echo and written by a shell
    under umask 077, so the file is born with mode 0600 and the password never appears in an
    argv or in the shell history (`echo SECRET | sudo tee` would put it in both)."""
    if "password" not in what.lower() and "secret" not in what.lower():
        return f"create it: echo VALUE | sudo tee {path}"
    target = str(path).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    script = (f'umask 077; read -rsp "{what}: " v; echo; printf "%s\\n" "$v" > "{target}"')
    return ("create it (mode 0600; the password is typed, not echoed or kept in the shell "
            f"history): sudo bash -c {shlex.quote(script)}")


def _read(path: Path, what: str) -> str:
    """The file's text without the trailing newline, or an InputError naming the file."""
    create = create_hint(path, what)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"the {what} file is missing", where=Where(file=str(path)),
                         hint=create) from None
    except IsADirectoryError:
        raise InputError(f"the {what} file is a directory", where=Where(file=str(path)),
                         hint=f"remove the directory and {create}") from None
    except PermissionError:
        raise InputError(f"the {what} file cannot be read: permission denied",
                         where=Where(file=str(path)),
                         hint=f"make it owned by the user running racker: sudo chown $USER {path}"
                         ) from None
    except OSError as e:
        raise InputError(f"the {what} file cannot be read: {e.strerror}",
                         where=Where(file=str(path))) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"the {what} file is not UTF-8 text", where=Where(file=str(path)),
                         hint=create) from None
    value = text.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise InputError(f"the {what} file is empty", where=Where(file=str(path)), hint=create)
    if "\n" in value or "\r" in value:
        raise InputError(f"the {what} file has more than one line",
                         where=Where(file=str(path), line=2),
                         hint=f"keep only the {what} on the first line")
    return value


def check_password_mode(path: Path, what: str = "IPMI password") -> None:
    """Raise an InputError when the `what` file is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reported by the read
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"the {what} file is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o})",
            where=Where(file=str(path)),
            hint=f"run: chmod 600 {path} (owned by the user running racker)",
        )


def load_credentials(paths: Paths) -> Credentials:
    """Read and check the BMC user and password files."""
    user = _read(paths.ipmi_user_file, "IPMI user").strip()
    password = _read(paths.ipmi_password_file, "IPMI password")
    check_password_mode(paths.ipmi_password_file)
    return Credentials(user=user, password=password)


def read_secret_file(path: Path, what: str) -> str:
    """The one-line secret in `path` (trailing newline dropped), checked like the password file.

    Raises InputError naming the file when it is missing, empty, has several lines or is
    accessible by group or others.
    """
    value = _read(path, what)
    check_password_mode(path, what)
    return value
