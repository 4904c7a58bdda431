"""Rotate the BMC credentials of the whole rack: the documented manual procedure, automated.

Plan first: on every BMC, as the current user, find the current user's slot and a slot for
the new user (the one already carrying that name, else a free one). Then act: name the slot,
set the password, privilege 4 and channel access, enable it, and prove a session as the new
user. Only when every BMC proved the new user are `ipmi_user` / `ipmi_password` replaced
(atomically, mode 0600); with `disable_old` the old user is disabled afterwards. Any failure
before the switch leaves the files unchanged, and the report names the BMC and the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from racker.adapters.bmc.errors import BmcFailure
from racker.adapters.bmc.interfaces import Bmc, BmcTarget, BmcUser, Driver, Privilege
from racker.adapters.bmc.ipmi import codec
from racker.adapters.fs.atomic import write_atomic
from racker.errors import InputError, RackerError
from racker.model import Credentials
from racker.paths import Paths

Target = tuple[str, str, int]
"""(node label, BMC address, UDP port)"""


class SlotAction(StrEnum):
    CREATE = "create"
    """Name a free slot for the new user."""
    REUSE = "reuse"
    """A slot already carries the new user's name (an earlier, unfinished run): set it again."""


class Stage(StrEnum):
    PLAN = "plan"
    CREATE = "create"
    PROVE = "prove"
    DISABLE_OLD = "disable-old"


class SlotError(ValueError):
    """No plan is possible for one BMC (current user missing, no free slot)."""


@dataclass(frozen=True)
class SlotPlan:
    """What to do on one BMC."""

    node: str
    address: str
    port: int
    old_uid: int
    new_uid: int
    action: SlotAction


@dataclass(frozen=True)
class Outcome:
    """What happened on one BMC."""

    node: str
    address: str
    port: int
    plan: SlotPlan | None = None
    failed_stage: Stage | None = None
    error: str | None = None
    proven: bool = False
    old_disabled: bool = False

    @property
    def ok(self) -> bool:
        """Nothing failed on this BMC."""
        return self.failed_stage is None


@dataclass(frozen=True)
class RotationReport:
    outcomes: tuple[Outcome, ...]
    new_user: str
    dry_run: bool
    files_replaced: bool
    files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every BMC has the new user and racker switched to it (or a clean dry run)."""
        return all(o.ok for o in self.outcomes) and (self.dry_run or self.files_replaced)

    def lines(self) -> list[str]:
        """The per-BMC report and the verdict on the credential files, for the operator."""
        out = [_outcome_line(o, self.new_user, self.dry_run) for o in self.outcomes]
        failed = [o for o in self.outcomes if o.failed_stage not in (None, Stage.DISABLE_OLD)]
        if self.dry_run:
            out.append("Dry run: nothing was changed on any BMC or file.")
        elif self.files_replaced:
            out.append(f"Credential files replaced (mode 0600): {', '.join(self.files)}")
        else:
            out.append(f"Credential files NOT changed: {len(failed)} of {len(self.outcomes)} "
                       "BMCs failed before the switch; racker keeps using the current user.")
        return out


def _outcome_line(o: Outcome, new_user: str, dry_run: bool) -> str:
    where = f"BMC {o.address}{'' if o.port == 623 else f':{o.port}'} (node {o.node})"
    if o.failed_stage is not None and o.failed_stage is not Stage.DISABLE_OLD:
        return f"{where}: FAILED at {o.failed_stage}: {o.error}"
    assert o.plan is not None
    p = o.plan
    verb = "create in free slot" if p.action is SlotAction.CREATE else "reuse slot"
    if dry_run:
        return (f"{where}: would {verb} {p.new_uid} for {new_user} "
                f"(current user in slot {p.old_uid})")
    text = f"{where}: {new_user} in slot {p.new_uid}, session proven"
    if o.failed_stage is Stage.DISABLE_OLD:
        text += f"; disabling old slot {p.old_uid} FAILED: {o.error}"
    elif o.old_disabled:
        text += f"; old slot {p.old_uid} disabled"
    return text


def choose_slots(users: Sequence[BmcUser], current_user: str, new_user: str) -> tuple[
        int, int, SlotAction]:
    """(current user's slot, new user's slot, action) from a BMC's user list. Pure.

    Slot 1 is the anonymous user and never used. The new user's existing slot wins (so an
    interrupted run can be repeated); otherwise the lowest free (unnamed) slot.
    """
    old = next((u.uid for u in users if u.name == current_user), None)
    if old is None:
        raise SlotError(f"the current user '{current_user}' is not on this BMC")
    existing = next((u.uid for u in users if u.name == new_user and u.uid != old), None)
    if existing is not None:
        return old, existing, SlotAction.REUSE
    free = next((u.uid for u in sorted(users, key=lambda u: u.uid)
                 if u.uid >= 2 and not u.name), None)
    if free is None:
        raise SlotError("no free user slot (every slot has a name); free one by hand")
    return old, free, SlotAction.CREATE


def check_new_credentials(current: Credentials, new: Credentials) -> None:
    """Validate the new user and password before any BMC is touched."""
    for problem in (codec.valid_user_name(new.user), codec.valid_password(new.password)):
        if problem:
            raise InputError(problem, hint="IPMI user names have up to 16 and passwords up "
                                           "to 20 printable ASCII characters")
    if new.user == current.user:
        raise InputError(f"the new user '{new.user}' is the current user",
                         hint="choose a new user name; the current account stays as fallback "
                              "until every BMC accepts the new one")


async def rotate_credentials(targets: Sequence[Target], current: Credentials, new: Credentials,
                             driver: Driver, paths: Paths, *, disable_old: bool = False,
                             dry_run: bool = False, channel: int = 1) -> RotationReport:
    """Plan, then create and prove the new user on every BMC, then switch the files."""
    check_new_credentials(current, new)
    if not targets:
        raise InputError("no BMC to rotate the credentials on")

    def as_user(t: Target, creds: Credentials) -> BmcTarget:
        return BmcTarget(node=t[0], address=t[1], port=t[2], user=creds.user,
                         password=creds.password)

    async def plan(t: Target) -> Outcome:
        bmc = await driver.open(as_user(t, current))
        old, new_uid, action = choose_slots(await bmc.list_users(channel), current.user, new.user)
        return Outcome(t[0], t[1], t[2], plan=SlotPlan(t[0], t[1], t[2], old, new_uid, action))

    outcomes = await _each(targets, plan, Stage.PLAN)
    if dry_run or not all(o.ok for o in outcomes):
        return RotationReport(tuple(outcomes), new.user, dry_run, files_replaced=False)

    async def create_and_prove(o: Outcome) -> Outcome:
        assert o.plan is not None
        t: Target = (o.node, o.address, o.port)
        p = o.plan
        bmc = await driver.open(as_user(t, current))
        try:
            await bmc.set_user_name(p.new_uid, new.user)
            await bmc.set_user_password(p.new_uid, new.password)
            await bmc.set_user_access(p.new_uid, Privilege.ADMINISTRATOR, channel, callin=True,
                                      link_auth=False, ipmi_messaging=True)
            await bmc.enable_user(p.new_uid)
        except RackerError as e:
            return replace(o, failed_stage=Stage.CREATE, error=_short(e))
        try:
            proof = await driver.open(as_user(t, new))
            await proof.power_status()  # a call every protocol has
        except RackerError as e:
            return replace(o, failed_stage=Stage.PROVE, error=_short(e))
        return replace(o, proven=True)

    outcomes = list(await asyncio.gather(*(create_and_prove(o) for o in outcomes)))
    if not all(o.ok for o in outcomes):
        return RotationReport(tuple(outcomes), new.user, dry_run, files_replaced=False)

    files = (paths.ipmi_user_file, paths.ipmi_password_file)
    write_atomic(paths.ipmi_password_file, new.password + "\n", mode=0o600)
    write_atomic(paths.ipmi_user_file, new.user + "\n", mode=0o600)

    if disable_old:
        async def disable(o: Outcome) -> Outcome:
            assert o.plan is not None
            try:
                bmc: Bmc = await driver.open(as_user((o.node, o.address, o.port), new))
                await bmc.disable_user(o.plan.old_uid)
            except RackerError as e:
                return replace(o, failed_stage=Stage.DISABLE_OLD, error=_short(e))
            return replace(o, old_disabled=True)

        outcomes = list(await asyncio.gather(*(disable(o) for o in outcomes)))
    return RotationReport(tuple(outcomes), new.user, dry_run, files_replaced=True,
                          files=tuple(str(f) for f in files))


async def _each(targets: Sequence[Target], fn: Callable[[Target], Awaitable[Outcome]],
                stage: Stage) -> list[Outcome]:
    async def one(t: Target) -> Outcome:
        try:
            return await fn(t)
        except SlotError as e:
            return Outcome(t[0], t[1], t[2], failed_stage=stage, error=str(e))
        except RackerError as e:
            return Outcome(t[0], t[1], t[2], failed_stage=stage, error=_short(e))

    return list(await asyncio.gather(*(one(t) for t in targets)))


def _short(e: RackerError) -> str:
    """The error without the node prefix (the report line names the BMC already)."""
    text = e.message
    if isinstance(e, BmcFailure):
        text = f"{e.summary}: {e.detail}" if e.detail else e.summary
    if e.hint:
        text += f" (hint: {e.hint})"
    return text
