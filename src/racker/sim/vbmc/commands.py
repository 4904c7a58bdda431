"""The IPMI commands a virtual BMC answers inside a session, with their privilege levels.

Each handler takes the engine, the session and the request data and returns
(completion code, response data, optional action to run after the reply is built).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from racker.adapters.bmc.ipmi import wire as wire
from racker.sim.vbmc.chassis import PowerAction
from racker.sim.vbmc.sessions import (
    SOL_ACCUMULATE_INTERVAL,
    SOL_SEND_THRESHOLD,
    EngineView,
    Session,
)
from racker.sim.vbmc.state import (
    CC_BAD_LENGTH,
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_COMMAND,
    CC_INVALID_DATA,
    CC_NOT_IN_PRESENT_STATE,
    CC_OK,
    PRIV_ADMIN,
    PRIV_CALLBACK,
    PRIV_OPERATOR,
    PRIV_USER,
    chassis_status,
    describe_boot,
)

Reply = tuple[int, bytes, "Callable[[], None] | None"]
Handler = Callable[[EngineView, Session, bytes], Reply]

IANA_IPMI_FORUM = b"\xf2\x1b\x00"  # 7154, little-endian
LAST_EVENT_COMMAND = 0x10  # chassis status byte 2 bit 4: last power-on via IPMI command
DIRECTIVES = (PowerAction.OFF, PowerAction.ON, PowerAction.CYCLE, PowerAction.RESET,
              PowerAction.DIAG, PowerAction.SOFT)  # chassis control byte 1 (table 28-4)


def ok(data: bytes = b"") -> Reply:
    """A successful reply."""
    return CC_OK, data, None


def fail(code: int) -> Reply:
    """A reply with an error completion code."""
    return code, b"", None


def channel_auth_cap(data: bytes) -> tuple[int, bytes]:
    """Get Channel Authentication Capabilities: LAN channel 1, RMCP+ only, named users."""
    if len(data) < 2:
        return CC_BAD_LENGTH, b""
    return CC_OK, bytes([1, 0x80, 0x04, 0x02]) + bytes(4)


def cipher_suites(data: bytes) -> tuple[int, bytes]:
    """Get Channel Cipher Suites: 16 bytes of the record list per index."""
    if len(data) < 3:
        return CC_BAD_LENGTH, b""
    index = data[2] & 0x3F
    return CC_OK, b"\x01" + wire.cipher_suite_records()[index * 16:(index + 1) * 16]


def _device_id(e: EngineView, s: Session, data: bytes) -> Reply:
    # device 0x20, rev 1, firmware 2.10 (normal operation), IPMI 2.0, chassis device
    return ok(bytes([0x20, 0x01, 0x02, 0x10, 0x02, 0x80]) + IANA_IPMI_FORUM + b"\x01\x00")


def _guid(e: EngineView, s: Session, data: bytes) -> Reply:
    return ok(e.guid)


def _auth_cap(e: EngineView, s: Session, data: bytes) -> Reply:
    code, out = channel_auth_cap(data)
    return code, out, None


def _cipher_suites(e: EngineView, s: Session, data: bytes) -> Reply:
    code, out = cipher_suites(data)
    return code, out, None


def _set_session_priv(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 1:
        return fail(CC_BAD_LENGTH)
    wanted = data[0] & 0x0F
    if wanted == 0:
        return ok(bytes([s.priv]))
    found = e.users.login(s.username)
    limit = min(s.max_priv, found[1].privilege) if found else PRIV_CALLBACK
    if wanted > limit:
        return fail(0x81)  # requested level exceeds the user's or the session's limit
    s.priv = wanted
    return ok(bytes([wanted]))


def _close_session(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) < 4:
        return fail(CC_BAD_LENGTH)
    sid = int.from_bytes(data[:4], "little")
    if sid not in e.sessions or (sid != s.sid and s.priv < PRIV_ADMIN):
        return fail(0x87)  # invalid session ID in request
    return CC_OK, b"", lambda: e.close(sid)


def _session_info(e: EngineView, s: Session, data: bytes) -> Reply:
    if not data:
        return fail(CC_BAD_LENGTH)
    active = sorted((x for x in e.sessions.values() if x.active), key=lambda x: x.sid)
    index = data[0]
    if index == 0:
        target: Session | None = s
    elif index == 0xFF and len(data) >= 5:
        target = e.sessions.get(int.from_bytes(data[1:5], "little"))
    elif index == 0xFE and len(data) >= 2:
        target = active[data[1] - 1] if 1 <= data[1] <= len(active) else None
    else:
        target = active[index - 1] if 1 <= index <= len(active) else None
    if target is None or not target.active:
        return fail(CC_INVALID_DATA)
    handle = active.index(target) + 1
    found = e.users.login(target.username)
    uid = found[0] if found else 0
    head = bytes([handle, e.session_limit & 0x3F, len(active) & 0x3F, uid & 0x3F,
                  target.priv & 0x0F, 0x10 | 1])  # RMCP+ session on LAN channel 1
    host, port = target.addr[0], target.addr[1]
    try:
        ip = socket.inet_aton(host.removeprefix("::ffff:"))
    except OSError:
        ip = bytes(4)
    return ok(head + ip + bytes(6) + struct.pack(">H", port))


def _channel_info(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 1:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x0F not in (1, 0x0E):
        return fail(CC_INVALID_DATA)
    # 802.3 LAN, IPMB-1.0 protocol, multi-session with the active session count
    return ok(bytes([1, 0x04, 0x01, 0x80 | e.active_sessions() & 0x3F]) + IANA_IPMI_FORUM
              + b"\x00\x00")


def _channel_access(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 2:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x0F not in (1, 0x0E):
        return fail(CC_INVALID_DATA)
    return ok(bytes([0x22, PRIV_ADMIN]))  # always available, PEF alerting off; admin limit


def _get_user_access(e: EngineView, s: Session, data: bytes) -> Reply:
    code, out = e.users.get_access(data)
    return code, out, None


def _set_user_access(e: EngineView, s: Session, data: bytes) -> Reply:
    return fail(e.users.set_access(data))


def _get_user_name(e: EngineView, s: Session, data: bytes) -> Reply:
    code, out = e.users.get_name(data)
    return code, out, None


def _set_user_name(e: EngineView, s: Session, data: bytes) -> Reply:
    return fail(e.users.set_name(data))


def _set_user_password(e: EngineView, s: Session, data: bytes) -> Reply:
    return fail(e.users.set_password(data))


def _activate_payload(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 6:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x3F != wire.Payload.SOL:
        return fail(CC_INVALID_DATA)
    if data[1] & 0x0F != 1:
        return fail(0x82)  # activation limit: one SOL instance
    if e.sol is not None:
        return fail(0x80)  # payload already active on another session
    e.activate_sol(s, encrypt=bool(data[2] & 0x80))
    return ok(e.sol_activation_data())


def _deactivate_payload(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 6:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x3F != wire.Payload.SOL or data[1] & 0x0F != 1:
        return fail(CC_INVALID_DATA)
    if e.sol is None:
        return fail(0x80)  # payload already deactivated
    # NOTE: any session may end a dangling SOL payload; that is how operators recover one.
    e.deactivate_sol()
    return ok()


def _payload_status(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 1:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x3F != wire.Payload.SOL:
        return ok(b"\x00\x00\x00")
    return ok(bytes([1, 1 if e.sol is not None else 0, 0]))


def _payload_instance_info(e: EngineView, s: Session, data: bytes) -> Reply:
    """Which session holds the SOL payload (zeros: none). NOTE: pyghmi's console asks this as
    its keepalive and gives its session up when the BMC does not answer it."""
    if len(data) != 2:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x3F != wire.Payload.SOL or data[1] & 0x0F != 1:
        return fail(CC_INVALID_DATA)
    owner = e.sol.session.managed_sid if e.sol is not None else bytes(4)
    return ok(owner + bytes(8))


def _chassis_status(e: EngineView, s: Session, data: bytes) -> Reply:
    return ok(chassis_status(e.chassis.is_powered_on(), e.restore_policy, e.last_power_event))


def _chassis_control(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 1:
        return fail(CC_BAD_LENGTH)
    return fail(power_control(e, data[0] & 0x0F))


def power_control(e: EngineView, directive: int) -> int:
    """Carry out chassis control `directive` (table 28-4) as the BMC does for IPMI and for
    Redfish's Reset alike; the completion code."""
    if directive > 5:
        return CC_INVALID_DATA
    now = e.clock()
    e.boot.chassis_control(now)
    on = e.chassis.is_powered_on()
    action = DIRECTIVES[directive]
    e.log(f"chassis control: power {action.value} (power was {'on' if on else 'off'})")
    powers_up = (action == PowerAction.ON and not on) or \
        (on and action in (PowerAction.CYCLE, PowerAction.RESET))
    if powers_up and e.faults.lose_boot_flags:
        e.log("boot flags lost at power-up (fault lose_boot_flags)")
        e.boot.forget()
    if action == PowerAction.ON:
        if not on:
            e.chassis.power(action, e.boot.consume(now, reset=False))
            e.last_power_event, e.restart_cause = LAST_EVENT_COMMAND, 0x01
    elif action in (PowerAction.OFF, PowerAction.SOFT):
        if on:
            e.chassis.power(action, None)
    elif not on:
        # NOTE: the spec recommends D5h for a power cycle while off; many BMCs do the same
        # for reset and NMI, so callers must power on explicitly.
        return CC_NOT_IN_PRESENT_STATE
    elif action == PowerAction.DIAG:
        e.chassis.power(action, None)
    else:
        e.chassis.power(action, e.boot.consume(now, reset=action == PowerAction.RESET))
        e.last_power_event, e.restart_cause = LAST_EVENT_COMMAND, 0x01
    return CC_OK


def _identify(e: EngineView, s: Session, data: bytes) -> Reply:
    return ok()


def _restore_policy(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 1:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x07 < 3:
        e.restore_policy = data[0] & 0x07
    return ok(b"\x07")  # all three policies supported


def _restart_cause(e: EngineView, s: Session, data: bytes) -> Reply:
    return ok(bytes([e.restart_cause, 1]))


def _set_boot(e: EngineView, s: Session, data: bytes) -> Reply:
    if not data:
        return fail(CC_BAD_LENGTH)
    if data[0] & 0x7F == 5 and e.faults.ignore_boot_flags:
        e.log("boot parameter 5 write ignored (fault ignore_boot_flags)")
        return ok()
    code = e.boot.set(data[0], data[1:], e.clock())
    if code == CC_OK and data[0] & 0x7F in (3, 5):
        e.log(f"boot parameter {data[0] & 0x7F} set to {data[1:].hex(' ')}"
              + (f" ({describe_boot(e.boot.boot_request(e.clock()))})" if data[0] & 0x7F == 5
                 else ""))
    return fail(code)


def _get_boot(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 3:
        return fail(CC_BAD_LENGTH)
    code, out = e.boot.get(data[0], e.clock())
    return code, out, None


def _get_sol_config(e: EngineView, s: Session, data: bytes) -> Reply:
    if len(data) != 4:
        return fail(CC_BAD_LENGTH)
    values = {0: b"\x00", 1: b"\x01", 2: bytes([PRIV_USER]),
              3: bytes([SOL_ACCUMULATE_INTERVAL, SOL_SEND_THRESHOLD]), 4: b"\x07\x32",
              5: b"\x0a", 6: b"\x0a", 7: b"\x01", 8: struct.pack("<H", e.port)}
    value = values.get(data[1])
    if value is None:
        return fail(0x80)  # parameter not supported
    return ok(b"\x11" + (b"" if data[0] & 0x80 else value))


def _set_sol_config(e: EngineView, s: Session, data: bytes) -> Reply:
    return ok() if len(data) >= 3 else fail(CC_BAD_LENGTH)


COMMANDS: dict[tuple[int, int], tuple[int, Handler]] = {
    (0x06, 0x01): (PRIV_USER, _device_id),
    (0x06, 0x37): (PRIV_USER, _guid),
    (0x06, 0x38): (PRIV_CALLBACK, _auth_cap),
    (0x06, 0x3B): (PRIV_CALLBACK, _set_session_priv),
    (0x06, 0x3C): (PRIV_CALLBACK, _close_session),
    (0x06, 0x3D): (PRIV_USER, _session_info),
    (0x06, 0x41): (PRIV_USER, _channel_access),
    (0x06, 0x42): (PRIV_USER, _channel_info),
    (0x06, 0x43): (PRIV_ADMIN, _set_user_access),
    (0x06, 0x44): (PRIV_OPERATOR, _get_user_access),
    (0x06, 0x45): (PRIV_ADMIN, _set_user_name),
    (0x06, 0x46): (PRIV_OPERATOR, _get_user_name),
    (0x06, 0x47): (PRIV_ADMIN, _set_user_password),
    (0x06, 0x48): (PRIV_USER, _activate_payload),
    (0x06, 0x49): (PRIV_USER, _deactivate_payload),
    (0x06, 0x4A): (PRIV_USER, _payload_status),
    (0x06, 0x4B): (PRIV_USER, _payload_instance_info),
    (0x06, 0x54): (PRIV_CALLBACK, _cipher_suites),
    (0x00, 0x01): (PRIV_USER, _chassis_status),
    (0x00, 0x02): (PRIV_OPERATOR, _chassis_control),
    (0x00, 0x04): (PRIV_OPERATOR, _identify),
    (0x00, 0x06): (PRIV_OPERATOR, _restore_policy),
    (0x00, 0x07): (PRIV_USER, _restart_cause),
    (0x00, 0x08): (PRIV_OPERATOR, _set_boot),
    (0x00, 0x09): (PRIV_USER, _get_boot),
    (0x0C, 0x21): (PRIV_ADMIN, _set_sol_config),
    (0x0C, 0x22): (PRIV_USER, _get_sol_config),
}


def dispatch(e: EngineView, s: Session, req: wire.IpmiRequest) -> Reply:
    """Run the command `req` asks for; unknown commands get C1h, like any real BMC."""
    entry = COMMANDS.get((req.netfn, req.cmd))
    if entry is None:
        return fail(CC_INVALID_COMMAND)
    privilege, handler = entry
    if s.priv < privilege:
        return fail(CC_INSUFFICIENT_PRIVILEGE)
    return handler(e, s, req.data)
