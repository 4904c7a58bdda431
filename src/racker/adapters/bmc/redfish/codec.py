"""Redfish wire words to racker's enums and back, and the checks on what a BMC allows. Pure.

Redfish names boot targets and reset types as strings and says which it accepts in
`@Redfish.AllowableValues`; a BMC that leaves those out accepts the standard words (that is
what DSP0268 means by their absence), so an empty list allows everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from racker.adapters.bmc.interfaces import BootSetting, BootTarget, PowerState, Privilege

TARGET_WORDS: Mapping[BootTarget, str] = {
    BootTarget.NONE: "None",
    BootTarget.PXE: "Pxe",
    BootTarget.DISK: "Hdd",
    BootTarget.CDROM: "Cd",
    BootTarget.BIOS: "BiosSetup",
    BootTarget.DIAG: "Diags",
    BootTarget.FLOPPY: "Floppy",
}
_TARGETS_BY_WORD = {w.lower(): t for t, w in TARGET_WORDS.items()}

MODE_UEFI = "UEFI"
MODE_LEGACY = "Legacy"
ENABLED_CONTINUOUS = "Continuous"
ENABLED_ONCE = "Once"
ENABLED_DISABLED = "Disabled"

RESET_ON = ("On", "ForceOn")
RESET_OFF = ("ForceOff",)
RESET_CYCLE = ("PowerCycle", "ForceRestart")
"""The ResetType words for each action, the preferred first: a hard power cycle where the BMC
has one, else a forced restart (which most BMCs implement as one)."""

ROLES: Mapping[Privilege, str] = {
    Privilege.ADMINISTRATOR: "Administrator",
    Privilege.OPERATOR: "Operator",
    Privilege.USER: "ReadOnly",
    Privilege.CALLBACK: "ReadOnly",
}
_PRIVILEGE_BY_ROLE = {"administrator": Privilege.ADMINISTRATOR, "operator": Privilege.OPERATOR,
                      "readonly": Privilege.USER}


def target_word(target: BootTarget) -> str:
    """The BootSourceOverrideTarget word for `target` (ValueError where Redfish has none)."""
    word = TARGET_WORDS.get(target)
    if word is None:
        raise ValueError(f"boot target {target.value} has no Redfish equivalent")
    return word


def mode_word(efi: bool) -> str:
    """The BootSourceOverrideMode word."""
    return MODE_UEFI if efi else MODE_LEGACY


def allowed(word: str, allowable: Sequence[str]) -> bool:
    """Whether a BMC that lists `allowable` (empty: lists nothing) accepts `word`."""
    return not allowable or word.lower() in (a.lower() for a in allowable)


def pick_reset(choices: Sequence[str], allowable: Sequence[str]) -> str | None:
    """The first ResetType of `choices` the BMC allows, or None."""
    for word in choices:
        if allowed(word, allowable):
            return word
    return None


def power_state(word: str | None) -> PowerState:
    """PowerState → on/off: a BMC that is powering on or off is reported by where it goes."""
    return PowerState.ON if (word or "").lower() in ("on", "poweringon") else PowerState.OFF


@dataclass(frozen=True)
class BootWords:
    """The Boot object's override words as a BMC reports them."""

    target: str
    enabled: str
    mode: str


def boot_words(boot: Mapping[str, Any]) -> BootWords:
    """The override words of a ComputerSystem's (or its Settings') `Boot` object."""
    return BootWords(str(boot.get("BootSourceOverrideTarget") or "None"),
                     str(boot.get("BootSourceOverrideEnabled") or ENABLED_DISABLED),
                     str(boot.get("BootSourceOverrideMode") or ""))


def boot_setting(words: BootWords) -> BootSetting:
    """A Boot object's override as racker's `BootSetting` (mode missing: taken as UEFI)."""
    target = _TARGETS_BY_WORD.get(words.target.lower(), BootTarget.OTHER)
    enabled = words.enabled.lower()
    return BootSetting(target=target, persistent=enabled == ENABLED_CONTINUOUS.lower(),
                       efi=words.mode.lower() != MODE_LEGACY.lower(),
                       valid=enabled != ENABLED_DISABLED.lower() and target is not BootTarget.NONE,
                       raw=f"{words.target}/{words.enabled}/{words.mode}".encode())


def boot_differences(wanted: BootWords, got: BootWords) -> list[str]:
    """What of `wanted` did not read back (case-insensitive; a mode the BMC does not report
    is not held against it)."""
    diffs = []
    if wanted.target.lower() != got.target.lower():
        diffs.append(f"target {got.target} instead of {wanted.target}")
    if wanted.enabled.lower() != got.enabled.lower():
        diffs.append(f"enabled {got.enabled} instead of {wanted.enabled}")
    if got.mode and wanted.mode.lower() != got.mode.lower():
        diffs.append(f"mode {got.mode} instead of {wanted.mode}")
    return diffs


def role_privilege(role: str | None) -> Privilege:
    """An account's RoleId as the nearest IPMI privilege (unknown roles: no access)."""
    return _PRIVILEGE_BY_ROLE.get((role or "").lower(), Privilege.NO_ACCESS)


def fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as operators read it: colon-separated hex pairs."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
