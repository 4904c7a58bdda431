"""Boot options (with the valid-bit rules) and user slots of the virtual BMC, byte by byte."""

from __future__ import annotations

import pytest

from racker.sim.vbmc.chassis import BootDevice, BootRequest
from racker.sim.vbmc.state import (
    CC_BAD_LENGTH,
    CC_INVALID_DATA,
    CC_OK,
    CC_PARAM_UNSUPPORTED,
    BootOptions,
    UserTable,
    chassis_status,
    describe_boot,
)

PXE_PERSISTENT_EFI = bytes.fromhex("e004000000")
PXE_ONCE = bytes.fromhex("8004000000")
DISK_PERSISTENT_LEGACY = bytes.fromhex("c008000000")


def flags(b: BootOptions, now: float) -> bytes:
    code, data = b.get(5, now)
    assert code == CC_OK and data[:2] == b"\x01\x05"
    return data[2:]


@pytest.mark.parametrize(("keep", "after", "valid"), [
    (0x00, 59.9, True),
    (0x00, 60.0, False),
    (0x08, 600.0, True),  # bit 3: don't clear after the 60 s timeout
    (0x1F, 600.0, True),
    (0x07, 60.0, False),  # other bits do not stop the timer
])
def test_sixty_second_rule(keep: int, after: float, valid: bool) -> None:
    b = BootOptions()
    assert b.set(3, bytes([keep]), 0.0) == CC_OK
    assert b.set(5, PXE_PERSISTENT_EFI, 100.0) == CC_OK
    got = flags(b, 100.0 + after)
    assert bool(got[0] & 0x80) == valid
    assert got[1:] == PXE_PERSISTENT_EFI[1:]  # only the valid bit changes


def test_chassis_control_stops_the_timer() -> None:
    b = BootOptions(valid_timeout=60)
    b.set(5, PXE_PERSISTENT_EFI, 0.0)
    b.chassis_control(30.0)
    assert flags(b, 1000.0)[0] == 0xE0


def test_chassis_control_after_expiry_does_not_revive() -> None:
    b = BootOptions(valid_timeout=60)
    b.set(5, PXE_PERSISTENT_EFI, 0.0)
    b.chassis_control(61.0)
    assert flags(b, 62.0)[0] == 0x60


def test_setting_again_restarts_the_timer() -> None:
    b = BootOptions(valid_timeout=1.0)
    b.set(5, PXE_PERSISTENT_EFI, 0.0)
    b.set(5, PXE_PERSISTENT_EFI, 0.9)
    assert flags(b, 1.5)[0] == 0xE0
    assert flags(b, 2.0)[0] == 0x60


@pytest.mark.parametrize(("data", "keep", "reset", "expected", "valid_after"), [
    (PXE_ONCE, 0x00, False, BootRequest(BootDevice.PXE), False),
    (PXE_ONCE, 0x00, True, BootRequest(BootDevice.PXE), False),
    (PXE_ONCE, 0x01, False, BootRequest(BootDevice.PXE), True),  # bit 0: keep on power-up
    (PXE_ONCE, 0x01, True, BootRequest(BootDevice.PXE), False),
    (PXE_ONCE, 0x02, True, BootRequest(BootDevice.PXE), True),  # bit 1: keep on reset
    (PXE_ONCE, 0x1F, False, BootRequest(BootDevice.PXE), True),
    (PXE_PERSISTENT_EFI, 0x00, False, BootRequest(BootDevice.PXE, True, True), True),
    (DISK_PERSISTENT_LEGACY, 0x00, True, BootRequest(BootDevice.DISK, False, True), True),
    (bytes(5), 0x00, False, BootRequest(BootDevice.NONE), False),
    (bytes.fromhex("6004000000"), 0x00, False, BootRequest(BootDevice.NONE), False),
])
def test_consume_on_power_up_or_reset(data: bytes, keep: int, reset: bool,
                                      expected: BootRequest, valid_after: bool) -> None:
    b = BootOptions()
    b.set(3, bytes([keep]), 0.0)
    b.set(5, data, 0.0)
    assert b.consume(1.0, reset=reset) == expected
    assert bool(flags(b, 2.0)[0] & 0x80) == valid_after


@pytest.mark.parametrize(("param", "data", "code"), [
    (0, b"\x01", CC_OK),
    (3, b"\x1f", CC_OK),
    (4, b"\x01\x01", CC_OK),
    (5, PXE_PERSISTENT_EFI, CC_OK),
    (0x85, PXE_PERSISTENT_EFI, CC_OK),  # bit 7 (mark invalid) is ignored
    (5, PXE_PERSISTENT_EFI[:4], CC_BAD_LENGTH),
    (3, b"", CC_BAD_LENGTH),
    (7, b"\x00", CC_PARAM_UNSUPPORTED),
    (0x60, b"\x00", CC_PARAM_UNSUPPORTED),
])
def test_set_codes(param: int, data: bytes, code: int) -> None:
    assert BootOptions().set(param, data, 0.0) == code


@pytest.mark.parametrize(("param", "expected"), [
    (0, "010000"), (3, "01031f"), (4, "01040001"), (5, "0105e004000000"),
    (6, "0106" + "00" * 9),
])
def test_get_bytes(param: int, expected: str) -> None:
    b = BootOptions()
    b.set(3, b"\x1f", 0.0)
    b.set(4, b"\x01\x01", 0.0)
    b.set(5, PXE_PERSISTENT_EFI, 0.0)
    assert b.get(param, 0.0) == (CC_OK, bytes.fromhex(expected))


def test_get_unsupported() -> None:
    assert BootOptions().get(8, 0.0) == (CC_PARAM_UNSUPPORTED, b"")


def test_default_user_table() -> None:
    t = UserTable.with_admin("root", "calvin")
    assert t.login(b"root") == (2, t.slots[2])
    assert t.login(b"") is None and t.login(b"nobody") is None
    assert t.get_access(b"\x01\x02") == (CC_OK, bytes([10, 0x40 | 1, 1, 0x34]))
    assert t.get_access(b"\x01\x01") == (CC_OK, bytes([10, 0x00 | 1, 1, 0x0F]))
    assert t.get_name(b"\x02") == (CC_OK, b"root" + bytes(12))


def test_new_user_needs_name_password_enable_and_access() -> None:
    t = UserTable.with_admin("root", "calvin")
    assert t.set_name(b"\x03" + b"foo".ljust(16, b"\0")) == CC_OK
    assert t.set_password(b"\x03\x02" + b"pw".ljust(16, b"\0")) == CC_OK
    assert t.login(b"foo") is None
    assert t.set_password(b"\x03\x01") == CC_OK  # enable
    assert t.login(b"foo") is None  # no channel access yet
    # ipmitool channel setaccess 1 3 callin=on ipmi=on link=on privilege=4
    assert t.set_access(bytes([0x80 | 0x20 | 0x10 | 1, 3, 4])) == CC_OK
    found = t.login(b"foo")
    assert found is not None and found[0] == 3 and found[1].password == b"pw"
    assert t.get_access(b"\x0e\x03")[1][3] == 0x34
    assert t.set_password(b"\x03\x03" + b"pw".ljust(16, b"\0")) == CC_OK  # test: right
    assert t.set_password(b"\x03\x03" + b"px".ljust(16, b"\0")) == 0x80  # test: wrong
    assert t.set_password(b"\x03\x00") == CC_OK  # disable
    assert t.login(b"foo") is None
    assert t.get_access(b"\x01\x03")[1][1] & 0xC0 == 0x80


def test_name_of_all_ff_deletes_the_user() -> None:
    t = UserTable.with_admin("root", "calvin")
    assert t.set_name(b"\x02" + b"\xff" * 16) == CC_OK
    assert t.login(b"root") is None
    assert t.get_name(b"\x02") == (CC_OK, bytes(16))
    assert t.get_access(b"\x01\x02")[1][1:] == bytes([0, 1, 0x0F])


@pytest.mark.parametrize(("call", "data", "code"), [
    ("set_name", b"\x01" + b"x" * 16, CC_INVALID_DATA),  # slot 1 has a fixed null name
    ("set_name", b"\x0b" + b"x" * 16, CC_INVALID_DATA),  # beyond max users
    ("set_name", b"\x03xx", CC_BAD_LENGTH),
    ("set_password", b"\x03\x02short", CC_BAD_LENGTH),
    ("set_password", b"\x83\x02" + b"p" * 20, CC_OK),  # 20-byte form
    ("set_password", b"\x03", CC_BAD_LENGTH),
    ("set_access", bytes([0x91, 3, 6]), CC_INVALID_DATA),  # no privilege level 6
    ("set_access", bytes([0x92, 3, 4]), CC_INVALID_DATA),  # channel 2 does not exist
    ("set_access", bytes([0x91, 3]), CC_BAD_LENGTH),
])
def test_user_command_errors(call: str, data: bytes, code: int) -> None:
    t = UserTable.with_admin("root", "calvin")
    assert getattr(t, call)(data) == code


def test_twenty_byte_password_test_with_sixteen_is_wrong_size() -> None:
    t = UserTable.with_admin("root", "a-very-long-password")
    assert t.slots[2].password_len == 20
    assert t.set_password(b"\x02\x03" + b"x" * 16) == 0x81


@pytest.mark.parametrize(("on", "policy", "event", "expected"), [
    (False, 0, 0, "00000000"),
    (True, 0, 0x10, "01100000"),
    (True, 1, 0, "21000000"),
    (False, 2, 0, "40000000"),
])
def test_chassis_status(on: bool, policy: int, event: int, expected: str) -> None:
    assert chassis_status(on, policy, event) == bytes.fromhex(expected)


@pytest.mark.parametrize(("request_", "words"), [
    (BootRequest(BootDevice.PXE, True, True), "pxe, efi, persistent"),
    (BootRequest(BootDevice.DISK), "disk, legacy"),
    (BootRequest(BootDevice.NONE, True, True), "no override"),
])
def test_describe_boot(request_: BootRequest, words: str) -> None:
    assert describe_boot(request_) == words
