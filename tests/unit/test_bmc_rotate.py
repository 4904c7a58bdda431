"""Pure parts of credential rotation: slot choice, validation, the report, flag parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.adapters.bmc.interfaces import BmcUser, Privilege, UserEnable
from racker.app.bmc_credentials import (
    Outcome,
    RotationReport,
    SlotAction,
    SlotError,
    SlotPlan,
    Stage,
    check_new_credentials,
    choose_slots,
)
from racker.cli.cmd_bmc import parse_bmc_addresses, read_secret_file
from racker.errors import InputError
from racker.model import Credentials


def users(*names: str) -> list[BmcUser]:
    return [BmcUser(uid=i + 1, name=n, privilege=Privilege.ADMINISTRATOR,
                    enabled=UserEnable.UNKNOWN, callin=True, link_auth=False,
                    ipmi_messaging=True) for i, n in enumerate(names)]


@pytest.mark.parametrize(("names", "result"), [
    (["", "admin", ""], (2, 3, SlotAction.CREATE)),
    (["", "admin", "operator", "", ""], (2, 4, SlotAction.CREATE)),
    (["", "operator", "admin", "new", ""], (3, 4, SlotAction.REUSE)),
    (["", "admin", "x", "y", "new"], (2, 5, SlotAction.REUSE)),
    (["", "x", "admin"], SlotError),  # no free slot (slot 1 is the anonymous user)
    (["", "x", ""], SlotError),  # current user missing
])
def test_choose_slots(names: list[str], result: object) -> None:
    if result is SlotError:
        with pytest.raises(SlotError):
            choose_slots(users(*names), "admin", "new")
    else:
        assert choose_slots(users(*names), "admin", "new") == result


@pytest.mark.parametrize(("user", "password", "problem"), [
    ("new", "pw", None),
    ("admin", "pw", "is the current user"),
    ("", "pw", "empty"),
    ("a" * 17, "pw", "longer than 16"),
    ("new", "p" * 21, "longer than 20"),
    ("new", "", "empty"),
])
def test_check_new_credentials(user: str, password: str, problem: str | None) -> None:
    current = Credentials("admin", "old")
    if problem is None:
        check_new_credentials(current, Credentials(user, password))
    else:
        with pytest.raises(InputError, match=problem):
            check_new_credentials(current, Credentials(user, password))


def _plan(node: str, new_uid: int = 3) -> SlotPlan:
    return SlotPlan(node, "10.0.0.1", 623, 2, new_uid, SlotAction.CREATE)


def test_report_when_a_bmc_failed() -> None:
    report = RotationReport((
        Outcome("n1", "10.0.0.1", 623, plan=_plan("n1"), proven=True),
        Outcome("n2", "10.0.0.2", 6230, failed_stage=Stage.PROVE, error="authentication failed"),
    ), "new", dry_run=False, files_replaced=False)
    assert not report.ok
    assert report.lines() == [
        "BMC 10.0.0.1 (node n1): new in slot 3, session proven",
        "BMC 10.0.0.2:6230 (node n2): FAILED at prove: authentication failed",
        "Credential files NOT changed: 1 of 2 BMCs failed before the switch; racker keeps "
        "using the current user.",
    ]


def test_report_after_switch_with_a_failed_disable() -> None:
    report = RotationReport((
        Outcome("n1", "10.0.0.1", 623, plan=_plan("n1"), proven=True, old_disabled=True),
        Outcome("n2", "10.0.0.1", 623, plan=_plan("n2"), proven=True,
                failed_stage=Stage.DISABLE_OLD, error="timed out"),
    ), "new", dry_run=False, files_replaced=True, files=("/oem/ipmi_user", "/oem/ipmi_password"))
    assert report.lines() == [
        "BMC 10.0.0.1 (node n1): new in slot 3, session proven; old slot 2 disabled",
        "BMC 10.0.0.1 (node n2): new in slot 3, session proven; disabling old slot 2 FAILED: "
        "timed out",
        "Credential files replaced (mode 0600): /oem/ipmi_user, /oem/ipmi_password",
    ]


@pytest.mark.parametrize(("flags", "targets"), [
    (["AA-BB-CC-DD-EE-01=10.0.0.5"], [("aa:bb:cc:dd:ee:01", "10.0.0.5", 623)]),
    (["node-3=127.0.0.9:9623"], [("node-3", "127.0.0.9", 9623)]),
])
def test_parse_bmc_addresses(flags: list[str], targets: list[tuple[str, str, int]]) -> None:
    assert parse_bmc_addresses(flags) == targets


@pytest.mark.parametrize("flag", ["10.0.0.5", "mac=", "mac=1.2.3.4:port"])
def test_parse_bmc_addresses_rejects(flag: str) -> None:
    with pytest.raises(InputError):
        parse_bmc_addresses([flag])


def test_password_file_must_be_private(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("secret\nignored\n")
    f.chmod(0o600)
    assert read_secret_file(f, "--password-file") == "secret"
    f.chmod(0o640)
    with pytest.raises(InputError, match="readable by group or others"):
        read_secret_file(f, "--password-file")
