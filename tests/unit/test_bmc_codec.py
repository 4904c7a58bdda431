"""Table tests for the pure IPMI codec (bytes as REFERENCE-FACTS.md and the IPMI spec give)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.adapters.bmc.interfaces import (
    BootTarget,
    PowerState,
    Privilege,
    RestorePolicy,
    UserEnable,
)
from racker.adapters.bmc.ipmi import codec
from racker.adapters.bmc.ipmi.codec import ErrorKind


def test_boot_timer_is_parameter_3_0x1f() -> None:
    assert codec.boot_timer_request() == bytes([0x03, 0x1F])


@pytest.mark.parametrize(("target", "persistent", "efi", "hexbytes"), [
    (BootTarget.PXE, True, True, "e004000000"),
    (BootTarget.DISK, True, True, "e008000000"),
    (BootTarget.PXE, True, False, "c004000000"),
    (BootTarget.DISK, True, False, "c008000000"),
    (BootTarget.PXE, False, True, "a004000000"),
    (BootTarget.DISK, False, False, "8008000000"),
    (BootTarget.DISK_SAFE, True, True, "e00c000000"),
    (BootTarget.CDROM, True, True, "e014000000"),
    (BootTarget.BIOS, True, True, "e018000000"),
    (BootTarget.NONE, True, True, "e000000000"),
])
def test_boot_flags_bytes(target: BootTarget, persistent: bool, efi: bool, hexbytes: str) -> None:
    flags = codec.boot_flags(target, persistent=persistent, efi=efi)
    assert flags.hex() == hexbytes
    assert codec.boot_flags_request(target, persistent=persistent, efi=efi) == b"\x05" + flags
    decoded = codec.decode_boot_flags(flags)
    assert (decoded.target, decoded.persistent, decoded.efi, decoded.valid) == (
        target, persistent, efi, True)


def test_reference_raw_commands() -> None:
    # `raw 0x00 0x08 0x05 0xe0 0x04 0x00 0x00 0x00` (PXE) and `... 0xe0 0x08 ...` (disk)
    assert codec.boot_flags_request(BootTarget.PXE, persistent=True, efi=True) == bytes(
        [0x05, 0xE0, 0x04, 0x00, 0x00, 0x00])
    assert codec.boot_flags_request(BootTarget.DISK, persistent=True, efi=True) == bytes(
        [0x05, 0xE0, 0x08, 0x00, 0x00, 0x00])
    assert bytes([0x05, 0x00, 0x00]) == codec.GET_BOOT_FLAGS_REQUEST


@pytest.mark.parametrize(("response", "target", "valid", "persistent", "efi"), [
    ("0105e008000000", BootTarget.DISK, True, True, True),
    ("0105e004000000", BootTarget.PXE, True, True, True),
    ("01050004000000", BootTarget.PXE, False, False, False),  # ipmi_sim keeps only the device
    ("01058008000000", BootTarget.DISK, True, False, False),
    ("0185e03c000000", BootTarget.FLOPPY, True, True, True),  # selector 0xf, set locked
    ("0105e024000000", BootTarget.OTHER, True, True, True),  # selector 9: remote media
])
def test_decode_boot_flags_response(response: str, target: BootTarget, valid: bool,
                                    persistent: bool, efi: bool) -> None:
    s = codec.decode_boot_flags_response(bytes.fromhex(response))
    assert s.target is target
    assert (s.valid, s.persistent, s.efi) == (valid, persistent, efi)
    assert s.raw == bytes.fromhex(response)[2:7]


@pytest.mark.parametrize("bad", ["", "0105", "0103e0"])
def test_decode_boot_flags_response_rejects_other_answers(bad: str) -> None:
    with pytest.raises(ValueError):
        codec.decode_boot_flags_response(bytes.fromhex(bad))


@pytest.mark.parametrize(("wanted", "got", "diffs"), [
    ("e004000000", "e004000000", []),
    ("e004000000", "0004000000", ["valid bit clear", "persistent bit clear", "efi bit clear"]),
    ("e004000000", "e008000000", ["device disk instead of pxe"]),
    ("c008000000", "e008000000", ["efi bit set"]),
    ("e008000000", "6008000000", ["valid bit clear"]),
])
def test_boot_flags_differences(wanted: str, got: str, diffs: list[str]) -> None:
    assert codec.boot_flags_differences(bytes.fromhex(wanted), bytes.fromhex(got)) == diffs


@given(st.sampled_from(list(BootTarget)[:8]), st.booleans(), st.booleans())
def test_boot_flags_roundtrip(target: BootTarget, persistent: bool, efi: bool) -> None:
    flags = codec.boot_flags(target, persistent=persistent, efi=efi)
    assert codec.boot_flags_differences(flags, flags) == []
    assert codec.decode_boot_flags(flags).target is target


@pytest.mark.parametrize(("data", "power", "policy", "event", "faults"), [
    ("000000", PowerState.OFF, RestorePolicy.ALWAYS_OFF, "", set()),
    ("211000", PowerState.ON, RestorePolicy.PREVIOUS, "command", set()),
    ("410000", PowerState.ON, RestorePolicy.ALWAYS_ON, "", set()),
    ("60010f", PowerState.OFF, RestorePolicy.UNKNOWN, "ac-failed",
     {"intrusion", "lockout", "drive", "cooling"}),
    ("1f0800", PowerState.ON, RestorePolicy.ALWAYS_OFF, "fault",
     {"overload", "interlock", "main", "control"}),
])
def test_decode_chassis_status(data: str, power: PowerState, policy: RestorePolicy, event: str,
                               faults: set[str]) -> None:
    s = codec.decode_chassis_status(bytes.fromhex(data))
    assert s.power is power and s.restore_policy is policy and s.last_power_event == event
    found = {name for name, flag in [
        ("overload", s.power_overload), ("interlock", s.power_interlock),
        ("main", s.main_power_fault), ("control", s.power_control_fault),
        ("intrusion", s.chassis_intrusion), ("lockout", s.front_panel_lockout),
        ("drive", s.drive_fault), ("cooling", s.cooling_fault)] if flag}
    assert found == faults


def test_decode_chassis_status_too_short() -> None:
    with pytest.raises(ValueError):
        codec.decode_chassis_status(b"\x01")


@pytest.mark.parametrize(("action", "data"), [
    (codec.CONTROL_POWER_OFF, b"\x00"), (codec.CONTROL_POWER_ON, b"\x01"),
    (codec.CONTROL_POWER_CYCLE, b"\x02")])
def test_chassis_control(action: int, data: bytes) -> None:
    assert codec.chassis_control_request(action) == data


@pytest.mark.parametrize(("data", "privilege", "callin", "link", "ipmi", "enabled"), [
    ("3f4301 14", Privilege.ADMINISTRATOR, True, False, True, UserEnable.ENABLED),
    ("0a8200 52", Privilege.USER, False, False, True, UserEnable.DISABLED),
    ("0a0200 3f", Privilege.NO_ACCESS, True, True, True, UserEnable.UNKNOWN),
    ("0a0200 00", Privilege.NO_ACCESS, True, False, False, UserEnable.UNKNOWN),
])
def test_decode_user_access(data: str, privilege: Privilege, callin: bool, link: bool,
                            ipmi: bool, enabled: UserEnable) -> None:
    a = codec.decode_user_access(bytes.fromhex(data.replace(" ", "")))
    assert (a.privilege, a.callin, a.link_auth, a.ipmi_messaging, a.enabled) == (
        privilege, callin, link, ipmi, enabled)


@pytest.mark.parametrize(("kwargs", "hexbytes"), [
    # `channel setaccess 1 3 callin=on ipmi=on link=off privilege=4`
    ({"uid": 3, "privilege": Privilege.ADMINISTRATOR}, "910304"),
    ({"uid": 5, "privilege": Privilege.USER, "callin": False}, "d10502"),
    ({"uid": 10, "privilege": Privilege.OPERATOR, "link_auth": True, "channel": 2}, "b20a03"),
    ({"uid": 4, "privilege": Privilege.NO_ACCESS, "ipmi_messaging": False}, "81040f"),
])
def test_set_user_access_request(kwargs: dict[str, object], hexbytes: str) -> None:
    assert codec.set_user_access_request(**kwargs).hex() == hexbytes  # type: ignore[arg-type]


def test_user_name_request_and_decode() -> None:
    data = codec.set_user_name_request(3, "MYUSER")
    assert data == b"\x03MYUSER" + b"\0" * 10 and len(data) == 17
    assert codec.decode_user_name(data[1:]) == "MYUSER"
    assert codec.decode_user_name(b"\0" * 16) == ""


@pytest.mark.parametrize(("name", "problem"), [
    ("", "empty"), ("with space", "spaces"), ("x" * 17, "longer than 16"),
    ("ünicode", "ASCII"), ("ok_name", None), ("x" * 16, None)])
def test_valid_user_name(name: str, problem: str | None) -> None:
    found = codec.valid_user_name(name)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(("uid", "op", "password", "hexbytes"), [
    (3, codec.PASSWORD_ENABLE, "", "0301"),
    (3, codec.PASSWORD_DISABLE, "", "0300"),
    (4, codec.PASSWORD_SET, "abc", "0402616263" + "00" * 13),
    (4, codec.PASSWORD_SET, "x" * 16, "0402" + "78" * 16),
    (4, codec.PASSWORD_SET, "x" * 17, "8402" + "78" * 17 + "00" * 3),
    (10, codec.PASSWORD_TEST, "y" * 20, "8a03" + "79" * 20),
])
def test_set_user_password_request(uid: int, op: int, password: str, hexbytes: str) -> None:
    assert codec.set_user_password_request(uid, op, password).hex() == hexbytes


@pytest.mark.parametrize("password", ["", "x" * 21, "tab\there"])
def test_set_user_password_rejects(password: str) -> None:
    with pytest.raises(ValueError):
        codec.set_user_password_request(3, codec.PASSWORD_SET, password)


def test_session_info() -> None:
    assert codec.decode_session_info(bytes.fromhex("013f03020411")) == (63, 3)


@pytest.mark.parametrize(("netfn", "cmd", "code", "kind"), [
    (0x00, 0x01, 0xC0, ErrorKind.BUSY),
    (0x00, 0x01, 0xC1, ErrorKind.UNSUPPORTED),
    (0x00, 0x01, 0xC3, ErrorKind.TIMEOUT),
    (0x00, 0x01, 0xCC, ErrorKind.REJECTED),
    (0x00, 0x01, 0xD4, ErrorKind.AUTH),
    (0x00, 0x01, 0xD5, ErrorKind.UNSUPPORTED),
    (0x00, 0x08, 0x80, ErrorKind.UNSUPPORTED),
    (0x00, 0x08, 0x81, ErrorKind.BUSY),
    (0x00, 0x09, 0x80, ErrorKind.UNSUPPORTED),
    (0x06, 0x47, 0x80, ErrorKind.AUTH),
    (0x06, 0x01, 0x80, ErrorKind.FAILED),  # command-specific code of another command
    (0x00, 0x01, 0xFF, ErrorKind.FAILED),
])
def test_completion_code_kind(netfn: int, cmd: int, code: int, kind: ErrorKind) -> None:
    assert codec.completion_code_kind(netfn, cmd, code)[0] is kind


def test_transient_kinds() -> None:
    assert {k for k in ErrorKind if k.transient} == {ErrorKind.TIMEOUT, ErrorKind.BUSY}


@pytest.mark.parametrize(("message", "kind"), [
    ("Incorrect password provided", ErrorKind.AUTH),
    ("Unauthorized name in RAKP2", ErrorKind.AUTH),
    ("Insufficient resources to create new session (wait for existing sessions to timeout) "
     "in RAKP2", ErrorKind.NO_SESSION),
    ("Insufficient resources to create a session at the requested role", ErrorKind.NO_SESSION),
    ("Invalid RAKP4 integrity code (wrong Kg?)", ErrorKind.AUTH),
    ("No Cipher suite match with proposed security algorithms", ErrorKind.UNSUPPORTED),
    (None, ErrorKind.UNREACHABLE),
    ("", ErrorKind.UNREACHABLE),
])
def test_login_error_kind(message: str | None, kind: ErrorKind) -> None:
    assert codec.login_error_kind(message) is kind


@pytest.mark.parametrize(("port", "args", "argv"), [
    (623, ["chassis", "status"],
     ["ipmitool", "-I", "lanplus", "-C3", "-H", "10.0.0.5", "-U", "admin", "-E", "chassis",
      "status"]),
    (9623, ["sol", "activate"],
     ["ipmitool", "-I", "lanplus", "-C3", "-H", "10.0.0.5", "-p", "9623", "-U", "admin", "-E",
      "sol", "activate"]),
])
def test_ipmitool_argv_never_has_a_password(port: int, args: list[str], argv: list[str]) -> None:
    assert codec.ipmitool_argv("10.0.0.5", "admin", args, port=port) == argv
    assert "-P" not in argv


def test_ipmitool_env_carries_the_password() -> None:
    env = codec.ipmitool_env("s3cret", {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "IPMI_PASSWORD": "s3cret"}


def test_channel_auth_probe_bytes() -> None:
    probe = codec.channel_auth_probe(1)
    # RMCP, IPMI 1.5 session header with no auth, then Get Channel Auth Capabilities
    assert probe.hex() == "0600ff07" "00" "00000000" "00000000" "09" "2018c8" "8104388e04" "b1"
    reply = bytes.fromhex("0600ff0700000000000000000010811c6320043800019706030000000003")
    assert codec.is_channel_auth_reply(reply)
    assert not codec.is_channel_auth_reply(probe)
    assert not codec.is_channel_auth_reply(b"")


def test_system_guid_is_sixteen_bytes_as_sent() -> None:
    from racker.adapters.bmc.ipmi.codec import decode_system_guid

    raw = bytes(range(16))
    assert decode_system_guid(raw) == raw
    with pytest.raises(ValueError, match="16 bytes"):
        decode_system_guid(raw[:15])
