"""The configuration folder (`~/lokomotive` or `~/flatcar-container-linux`): checks and writes.

- Only one folder can exist: an empty one is removed silently, a non-empty one stops bootstrap
  with guidance on how to change the existing configuration instead.
- A new folder appears complete or not at all: its files are written into a hidden staging
  folder next to it, which is then renamed into place.
- `racker-options.yaml` records the options used, so that the folder can be rendered again.
  It holds no secrets: the backup keys stay in `backup-credentials` (mode 0600) only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from racker.adapters.fs.atomic import write_atomic
from racker.core.render import RenderedFile, config_folder, folder_name
from racker.errors import InputError, RackerError, Where
from racker.model import Backup, OnFailure, Options, Provision, StorageProvider
from racker.paths import Paths

RECORD_NAME = "racker-options.yaml"
CREDENTIALS_NAME = "backup-credentials"
RECORD_VERSION = 1
_WRITERS = 16

_EDIT_HINTS = {
    Provision.LOKOMOTIVE: (
        "A Lokomotive configuration already exists",
        "lokomotive/baremetal.lokocfg config file or the Container Linux Configs "
        "lokomotive/cl/*.yaml, then run: cd lokomotive; lokoctl cluster|component apply",
    ),
    Provision.FLATCAR: (
        "A Flatcar configuration already exists",
        "flatcar-container-linux/flatcar.tf config file or the Container Linux Configs "
        "flatcar-container-linux/cl/*.yaml, then run: cd flatcar-container-linux; "
        "terraform apply",
    ),
}


def check_folders(paths: Paths) -> None:
    """Make room for a new configuration folder, of either kind.

    Empty folders are removed; a non-empty one raises InputError with the documented guidance.
    Both kinds are checked whatever is provisioned next, so the two never coexist.
    """
    for provision in (Provision.LOKOMOTIVE, Provision.FLATCAR):
        folder = config_folder(paths, provision)
        if not folder.exists() and not folder.is_symlink():
            continue
        if folder.is_dir() and not folder.is_symlink():
            with contextlib.suppress(OSError):
                folder.rmdir()  # fails unless empty: that is the test for emptiness
            if not folder.exists():
                continue
        what, edit = _EDIT_HINTS[provision]
        raise InputError(
            f"{what} in {folder}.",
            where=Where(file=str(folder)),
            hint=f"to modify the settings, directly change the {edit}. Only if you want to "
                 f"bootstrap a new cluster, remove the {folder} folder first and then run "
                 "racker bootstrap again.",
        )


def write_new_folder(target: Path, files: Sequence[RenderedFile]) -> tuple[Path, ...]:
    """Create `target` with `files`, all at once; the folder must not exist yet.

    Returns the absolute paths written, in the order given.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".racker-tmp",
                                    dir=target.parent))
    try:
        os.chmod(staging, 0o755)
        for d in sorted({(staging / f.path).parent for f in files}):
            d.mkdir(parents=True, exist_ok=True)
        # Each write waits for its fsync; in parallel the file system commits them together
        # (a 62-node rack has ~130 files).
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            list(pool.map(lambda f: write_atomic(staging / f.path, f.content, mode=f.mode),
                          files))
        try:
            # rename() of a directory fails when the target exists and is not empty; an empty
            # target would be replaced, so check first (check_folders removed empty ones).
            if target.exists() or target.is_symlink():
                raise FileExistsError(errno.EEXIST, "it exists", str(target))
            os.rename(staging, target)
        except OSError as e:
            raise RackerError(f"cannot create the configuration folder: {e.strerror}",
                              where=Where(file=str(target)),
                              hint="remove it first, or run racker bootstrap again") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    return tuple(target / f.path for f in files)


def rewrite_files(folder: Path, files: Sequence[RenderedFile]) -> tuple[Path, ...]:
    """Write `files` into an existing folder, each atomically (for a re-render)."""
    for f in files:
        write_atomic(folder / f.path, f.content, mode=f.mode)
    return tuple(folder / f.path for f in files)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- the options record -------------------------------------------------------------------

def encode_options(options: Options, *, racker_version: str) -> dict[str, Any]:
    """The options as plain YAML data, without the backup keys."""
    data: dict[str, Any] = {"record_version": RECORD_VERSION, "racker_version": racker_version}
    for f in fields(Options):
        value = getattr(options, f.name)
        if f.name == "backup":
            value = None if value is None else {
                "name": value.name, "s3_bucket": value.s3_bucket,
                "aws_location": value.aws_location, "credentials": CREDENTIALS_NAME}
        elif f.name == "exclude":
            value = list(value)
        elif isinstance(value, str):
            value = str(value)  # enums become their wire words
        data[f.name.replace("_", "-")] = value
    return data


def render_record(options: Options, *, racker_version: str) -> RenderedFile:
    """`racker-options.yaml`"""
    header = (f"# The options of the last 'racker bootstrap' ({folder_name(options.provision)}),"
              " kept to render this folder again.\n# The backup keys are in "
              f"{CREDENTIALS_NAME}, not here.\n")
    body = yaml.safe_dump(encode_options(options, racker_version=racker_version),
                          sort_keys=False, default_flow_style=False, width=1000)
    return RenderedFile(PurePosixPath(RECORD_NAME), header + body)


def parse_backup_credentials(text: str) -> tuple[str, str] | None:
    """(access key, secret key) from a backup-credentials file, or None when incomplete."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    access, secret = values.get("aws_access_key_id"), values.get("aws_secret_access_key")
    return (access, secret) if access and secret else None


def decode_options(data: object, *, file: str,
                   credentials: tuple[str, str] | None = None) -> Options:
    """Options from record data; `credentials` are the backup keys when a backup is recorded."""
    if not isinstance(data, Mapping):
        raise InputError("not an options record", where=Where(file=file),
                         hint="it must be a YAML mapping as racker writes it")
    kwargs: dict[str, Any] = {}
    defaults = Options()
    for f in fields(Options):
        key = f.name.replace("_", "-")
        if key not in data:
            continue
        value = data[key]
        where = Where(file=file, flag=f"-{key}")
        try:
            kwargs[f.name] = _decode_field(f.name, value, getattr(defaults, f.name), credentials)
        except (TypeError, ValueError) as e:
            raise InputError(f"bad value {value!r} for {key}: {e}", where=where) from e
        except KeyError as e:
            raise InputError(f"{key} is missing {e}", where=where) from e
    return Options(**kwargs)


def _decode_field(name: str, value: Any, default: Any,
                  credentials: tuple[str, str] | None) -> Any:
    if name == "provision":
        return Provision(value)
    if name == "onfailure":
        return OnFailure(value)
    if name == "storage_provider":
        return StorageProvider(value)
    if name == "exclude":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError("expected a list of MAC addresses")
        return tuple(value)
    if name == "backup":
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError("expected a mapping")
        if credentials is None:
            raise ValueError(f"the backup keys in {CREDENTIALS_NAME} are missing")
        return Backup(aws_access_key=credentials[0], aws_secret_key=credentials[1],
                      name=str(value["name"]), s3_bucket=str(value["s3_bucket"]),
                      aws_location=str(value["aws_location"]))
    if name == "number_of_storage_nodes" and value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(default, int) or name == "number_of_storage_nodes":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected a number")
        return value
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def load_record(folder: Path) -> Options:
    """The options recorded in a configuration folder (with the backup keys, if any)."""
    path = folder / RECORD_NAME
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise InputError(f"no {RECORD_NAME} in {folder}", where=Where(file=str(path)),
                         hint="run racker bootstrap to create the configuration folder") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(e, 'problem', e)}",
                         where=Where(file=str(path),
                                     line=mark.line + 1 if mark else None,
                                     column=mark.column + 1 if mark else None)) from e
    credentials = None
    cred_path = folder / CREDENTIALS_NAME
    if cred_path.exists():
        credentials = parse_backup_credentials(cred_path.read_text())
    return decode_options(data, file=str(path), credentials=credentials)
