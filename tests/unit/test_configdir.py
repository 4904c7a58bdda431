from __future__ import annotations

import contextlib
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from racker.adapters.fs.configdir import (
    CREDENTIALS_NAME,
    RECORD_NAME,
    check_folders,
    decode_options,
    encode_options,
    load_record,
    parse_backup_credentials,
    render_record,
    rewrite_files,
    write_new_folder,
)
from racker.core.render import RenderedFile
from racker.errors import InputError, RackerError
from racker.model import Backup, OnFailure, Options, Provision, StorageProvider
from tests.renderplans import flatcar, lokomotive, paths_under

FILES = (
    RenderedFile(PurePosixPath("a.txt"), "A\n"),
    RenderedFile(PurePosixPath("cl/n.yaml"), "x: 1\n"),
    RenderedFile(PurePosixPath("secret"), "s\n", mode=0o600),
)


# ---- existing folders ---------------------------------------------------------------------

def test_no_folders_is_fine(tmp_path: Path) -> None:
    check_folders(paths_under(tmp_path))


@pytest.mark.parametrize("name", ["lokomotive", "flatcar-container-linux"])
def test_empty_folder_removed_silently(tmp_path: Path, name: str) -> None:
    paths = paths_under(tmp_path)
    (paths.home / name).mkdir(parents=True)
    check_folders(paths)
    assert not (paths.home / name).exists()


@pytest.mark.parametrize(
    ("name", "what", "edit", "apply"),
    [
        ("lokomotive", "A Lokomotive configuration already exists", "lokomotive/baremetal.lokocfg",
         "cd lokomotive; lokoctl cluster|component apply"),
        ("flatcar-container-linux", "A Flatcar configuration already exists",
         "flatcar-container-linux/flatcar.tf", "cd flatcar-container-linux; terraform apply"),
    ],
)
def test_non_empty_folder_refused_with_guidance(tmp_path: Path, name: str, what: str, edit: str,
                                                apply: str) -> None:
    paths = paths_under(tmp_path)
    folder = paths.home / name
    folder.mkdir(parents=True)
    (folder / "anything").write_text("keep me")
    with pytest.raises(InputError) as e:
        check_folders(paths)
    text = str(e.value)
    assert what in text and edit in text and apply in text
    assert f"remove the {folder} folder first" in text
    assert (folder / "anything").read_text() == "keep me"


def test_both_kinds_never_coexist(tmp_path: Path) -> None:
    # A non-empty Flatcar folder blocks a Lokomotive bootstrap too, and vice versa.
    paths = paths_under(tmp_path)
    paths.flatcar_dir.mkdir(parents=True)
    (paths.flatcar_dir / "terraform.tfvars").write_text("")
    paths.lokomotive_dir.mkdir()
    with pytest.raises(InputError, match="Flatcar configuration already exists"):
        check_folders(paths)


def test_file_in_place_of_folder_refused(tmp_path: Path) -> None:
    paths = paths_under(tmp_path)
    paths.home.mkdir()
    paths.lokomotive_dir.write_text("not a folder")
    with pytest.raises(InputError, match="Lokomotive configuration already exists"):
        check_folders(paths)


# ---- writing ------------------------------------------------------------------------------

def test_write_new_folder(tmp_path: Path) -> None:
    target = tmp_path / "home" / "lokomotive"
    written = write_new_folder(target, FILES)
    assert written == (target / "a.txt", target / "cl/n.yaml", target / "secret")
    assert (target / "cl/n.yaml").read_text() == "x: 1\n"
    assert stat.S_IMODE((target / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((target / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    # nothing but the folder itself is left next to it
    assert [p.name for p in target.parent.iterdir()] == ["lokomotive"]


def test_write_is_all_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "flatcar-container-linux"
    bad = (*FILES, RenderedFile(PurePosixPath("a.txt/below-a-file"), "boom"))
    with pytest.raises(OSError):
        write_new_folder(target, bad)
    assert list(tmp_path.iterdir()) == []


def test_existing_target_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "lokomotive"
    target.mkdir()
    (target / "mine").write_text("operator's")
    with pytest.raises(RackerError, match="cannot create the configuration folder"):
        write_new_folder(target, FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lokomotive"]
    assert (target / "mine").read_text() == "operator's"


def test_rewrite_files(tmp_path: Path) -> None:
    write_new_folder(tmp_path / "f", FILES)
    (tmp_path / "f" / "operator-notes").write_text("mine")
    rewrite_files(tmp_path / "f", (RenderedFile(PurePosixPath("a.txt"), "B\n"),))
    assert (tmp_path / "f" / "a.txt").read_text() == "B\n"
    assert (tmp_path / "f" / "operator-notes").read_text() == "mine"


# ---- the options record -------------------------------------------------------------------

BACKUP = Backup(aws_access_key="AKIAEXAMPLE", aws_secret_key="very-secret", name="nightly",
                s3_bucket="bucket", aws_location="us-east-2")

RECORDED = [
    Options(),
    flatcar(ip_addrs="[02:00:00:00:02:01]\nip_addr = 1.2.3.4/24\ngateway = 1.2.3.1\n"
                     "dns = 1.1.1.1\n", subnet_prefix="10.20.30"),
    lokomotive(cluster_name="prod", num_controllers=3, controller_type="small",
               k8s_domain_name="example.org", web_ui=True,
               storage_provider=StorageProvider.ROOK, storage_node_type="large",
               number_of_storage_nodes=2, backup=BACKUP, onfailure=OnFailure.EXCLUDE,
               retries=5, exclude=("02:00:00:00:00:05", "02:00:00:00:01:06")),
]


@pytest.mark.parametrize("options", RECORDED)
def test_record_round_trip(options: Options) -> None:
    f = render_record(options, racker_version="1.2.3")
    assert str(f.path) == RECORD_NAME
    data = yaml.safe_load(f.content)
    assert data["racker_version"] == "1.2.3"
    creds = (BACKUP.aws_access_key, BACKUP.aws_secret_key) if options.backup else None
    assert decode_options(data, file="x", credentials=creds) == options


def test_record_holds_no_secrets() -> None:
    text = render_record(RECORDED[2], racker_version="1").content
    assert "AKIAEXAMPLE" not in text and "very-secret" not in text
    assert CREDENTIALS_NAME in text


def test_record_words_are_the_flag_words() -> None:
    data = encode_options(RECORDED[2], racker_version="1")
    assert data["provision"] == "lokomotive" and type(data["provision"]) is str
    assert data["storage-provider"] == "rook"
    assert data["num-controllers"] == 3
    assert data["exclude"] == ["02:00:00:00:00:05", "02:00:00:00:01:06"]


def test_load_record_from_folder(tmp_path: Path) -> None:
    options = RECORDED[2]
    folder = tmp_path / "lokomotive"
    write_new_folder(folder, (
        render_record(options, racker_version="1"),
        RenderedFile(PurePosixPath(CREDENTIALS_NAME),
                     "[default]\naws_access_key_id=AKIAEXAMPLE\n"
                     "aws_secret_access_key=very-secret\n", mode=0o600),
    ))
    assert load_record(folder) == options


@pytest.mark.parametrize(
    ("data", "credentials", "message"),
    [
        ([1, 2], None, "not an options record"),
        ({"provision": "kubernetes"}, None, "bad value 'kubernetes' for provision"),
        ({"num-controllers": "three"}, None, "num-controllers"),
        ({"num-controllers": True}, None, "num-controllers"),
        ({"web-ui": "yes"}, None, "web-ui"),
        ({"exclude": "aa:bb"}, None, "exclude"),
        ({"backup": {"name": "x", "s3_bucket": "b", "aws_location": "l"}}, None,
         "backup-credentials are missing"),
        ({"backup": {"name": "x"}}, ("a", "b"), "backup is missing 's3_bucket'"),
        ({"cluster-name": 5}, None, "cluster-name"),
    ],
)
def test_bad_record(data: Any, credentials: tuple[str, str] | None, message: str) -> None:
    with pytest.raises(InputError) as e:
        decode_options(data, file="/h/lokomotive/racker-options.yaml", credentials=credentials)
    assert message in str(e.value)
    assert "racker-options.yaml" in str(e.value)


def test_load_record_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no racker-options\.yaml"):
        load_record(tmp_path)
    (tmp_path / RECORD_NAME).write_text("a: [\n")
    with pytest.raises(InputError) as e:
        load_record(tmp_path)
    assert f"{RECORD_NAME}:2:1" in str(e.value)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("[default]\naws_access_key_id=A\naws_secret_access_key=S\n", ("A", "S")),
        ("[default]\naws_access_key_id = A \naws_secret_access_key= S\n", ("A", "S")),
        ("[default]\naws_access_key_id=A\n", None),
        ("", None),
    ],
)
def test_parse_backup_credentials(text: str, keys: tuple[str, str] | None) -> None:
    assert parse_backup_credentials(text) == keys


def test_provision_default_is_lokomotive() -> None:
    assert decode_options({}, file="x") == Options()
    assert Options().provision is Provision.LOKOMOTIVE


_yaml_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                               max_size=4),
    max_leaves=10,
)
_keys = st.sampled_from(["provision", "cluster-name", "num-controllers", "web-ui", "exclude",
                         "backup", "storage-provider", "number-of-storage-nodes", "onfailure",
                         "retries", "other"])


@given(st.one_of(_yaml_data, st.dictionaries(_keys, _yaml_data, max_size=5)))
def test_decode_raises_only_input_errors(data: Any) -> None:
    with contextlib.suppress(InputError):
        decode_options(data, file="r.yaml", credentials=("a", "b"))
