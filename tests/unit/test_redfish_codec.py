"""The Redfish codec and the account numbering: wire words to racker's enums and back. Pure."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from racker.adapters.bmc.interfaces import BootTarget, PowerState, Privilege, UserEnable
from racker.adapters.bmc.redfish import codec
from racker.adapters.bmc.redfish.accounts import as_user, number_accounts


@pytest.mark.parametrize(("target", "word"), [
    (BootTarget.PXE, "Pxe"), (BootTarget.DISK, "Hdd"), (BootTarget.CDROM, "Cd"),
    (BootTarget.BIOS, "BiosSetup")])
def test_target_words(target: BootTarget, word: str) -> None:
    assert codec.target_word(target) == word
    assert codec.boot_setting(codec.BootWords(word, "Continuous", "UEFI")).target is target


def test_target_without_redfish_word() -> None:
    with pytest.raises(ValueError, match="disk-safe"):
        codec.target_word(BootTarget.DISK_SAFE)


@pytest.mark.parametrize(("word", "allowable", "ok"), [
    ("Pxe", [], True), ("Pxe", ["Pxe", "Hdd"], True), ("pxe", ["Pxe"], True),
    ("BiosSetup", ["Pxe", "Hdd"], False), ("Legacy", ["UEFI"], False)])
def test_allowed(word: str, allowable: list[str], ok: bool) -> None:
    assert codec.allowed(word, allowable) is ok


@pytest.mark.parametrize(("allowable", "want"), [
    ([], "PowerCycle"), (["On", "ForceOff", "ForceRestart"], "ForceRestart"),
    (["On", "ForceOff"], None)])
def test_pick_reset(allowable: list[str], want: str | None) -> None:
    assert codec.pick_reset(codec.RESET_CYCLE, allowable) == want


@pytest.mark.parametrize(("word", "state"), [
    ("On", PowerState.ON), ("PoweringOn", PowerState.ON), ("Off", PowerState.OFF),
    ("PoweringOff", PowerState.OFF), (None, PowerState.OFF)])
def test_power_state(word: str | None, state: PowerState) -> None:
    assert codec.power_state(word) is state


def test_boot_setting_flags() -> None:
    s = codec.boot_setting(codec.boot_words({"BootSourceOverrideTarget": "Hdd",
                                             "BootSourceOverrideEnabled": "Once",
                                             "BootSourceOverrideMode": "Legacy"}))
    assert (s.target, s.persistent, s.efi, s.valid) == (BootTarget.DISK, False, False, True)
    off = codec.boot_setting(codec.boot_words({}))
    assert (off.target, off.valid) == (BootTarget.NONE, False)


def test_boot_differences() -> None:
    wanted = codec.BootWords("Pxe", "Continuous", "UEFI")
    assert codec.boot_differences(wanted, codec.BootWords("pxe", "continuous", "")) == []
    assert codec.boot_differences(wanted, codec.BootWords("Hdd", "Once", "Legacy")) == [
        "target Hdd instead of Pxe", "enabled Once instead of Continuous",
        "mode Legacy instead of UEFI"]


def test_fingerprint_format() -> None:
    fp = codec.fingerprint(b"der")
    assert fp.replace(":", "").lower() == hashlib.sha256(b"der").hexdigest()
    assert len(fp.split(":")) == 32


def test_accounts_numbered_by_id_then_in_order() -> None:
    docs: list[tuple[str, dict[str, Any]]] = [
            ("/a/3", {"Id": "3", "UserName": "admin", "RoleId": "Administrator",
                      "Enabled": True}),
            ("/a/root", {"Id": "root", "UserName": "root", "RoleId": "Operator"}),
            ("/a/2", {"Id": "2", "UserName": "", "Enabled": False}),
            ("/a/bob", {"Id": "bob", "UserName": "bob", "RoleId": "ReadOnly"})]
    accounts = number_accounts(docs)
    assert [(a.uid, a.uri) for a in accounts] == [
        (2, "/a/2"), (3, "/a/3"), (4, "/a/bob"), (5, "/a/root")]
    users = [as_user(a) for a in accounts]
    assert (users[0].name, users[0].enabled) == ("", UserEnable.DISABLED)
    assert users[1].privilege is Privilege.ADMINISTRATOR
    assert users[2].privilege is Privilege.USER and users[2].enabled is UserEnable.UNKNOWN
    assert users[3].privilege is Privilege.OPERATOR
