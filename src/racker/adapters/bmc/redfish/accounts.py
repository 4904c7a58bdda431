"""A Redfish AccountService seen as IPMI-style numbered user slots (blocking; runs on the
BMC's worker thread).

BMCs with fixed slots (iDRAC, many others) list every slot, unnamed ones free, and take a
PATCH; others list only the accounts that exist and create one on POST. Both look alike here:
an account whose Id is a number keeps it as its slot, others are numbered in Id order, and one
free slot past the last stands for "a new account", created by POST once its name and password
are known (a Redfish BMC will not create an account without a password).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from racker.adapters.bmc.errors import BmcFailure
from racker.adapters.bmc.interfaces import BmcTarget, BmcUser, UserEnable
from racker.adapters.bmc.redfish import codec

ACCOUNTS = "/redfish/v1/AccountService/Accounts"


@dataclass(frozen=True)
class Account:
    uid: int
    uri: str
    doc: Mapping[str, Any]


def number_accounts(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Account]:
    """Slots for accounts (uri, document): numeric Ids kept, the others numbered after them
    in Id order. Pure."""
    numbered: list[Account] = []
    others: list[tuple[str, Mapping[str, Any]]] = []
    for uri, doc in docs:
        ident = str(doc.get("Id", ""))
        if ident.isdigit() and int(ident) > 0:
            numbered.append(Account(int(ident), uri, doc))
        else:
            others.append((uri, doc))
    nxt = max((a.uid for a in numbered), default=1) + 1
    for uri, doc in sorted(others, key=lambda o: str(o[1].get("Id", o[0]))):
        numbered.append(Account(nxt, uri, doc))
        nxt += 1
    return sorted(numbered, key=lambda a: a.uid)


def as_user(account: Account) -> BmcUser:
    """An account as a user slot (an unnamed account is a free slot)."""
    enabled = account.doc.get("Enabled")
    return BmcUser(uid=account.uid, name=str(account.doc.get("UserName") or ""),
                   privilege=codec.role_privilege(account.doc.get("RoleId")),
                   enabled=UserEnable.UNKNOWN if enabled is None
                   else UserEnable.ENABLED if enabled else UserEnable.DISABLED,
                   callin=True, link_auth=False, ipmi_messaging=False)


class Accounts:
    """The accounts of one BMC through sushy's connector (get/patch/post with ETags)."""

    def __init__(self, conn: Any, target: BmcTarget, fail: Callable[[str], BmcFailure],
                 unsupported: Callable[[str], BmcFailure]):
        self._conn = conn
        self._target = target
        self._fail = fail
        self._unsupported = unsupported

    def _collection(self) -> str:
        root = self._conn.get("/redfish/v1/").json()
        uri = ((root.get("AccountService") or {}).get("@odata.id"))
        if not uri:
            raise self._unsupported("accounts (the BMC has no AccountService)")
        service = self._conn.get(uri).json()
        return str((service.get("Accounts") or {}).get("@odata.id") or ACCOUNTS)

    def accounts(self) -> tuple[str, list[Account]]:
        """The collection's URI and its accounts as slots."""
        collection = self._collection()
        members = self._conn.get(collection).json().get("Members") or []
        docs = []
        for m in members:
            uri = m.get("@odata.id")
            if uri:
                docs.append((uri, self._conn.get(uri).json()))
        return collection, number_accounts(docs)

    def list(self) -> list[BmcUser]:
        """Every slot, plus one free slot past the last (a new account)."""
        _, accounts = self.accounts()
        users = [as_user(a) for a in accounts]
        free = max((a.uid for a in accounts), default=1) + 1
        users.append(BmcUser(free, "", codec.role_privilege(None), UserEnable.UNKNOWN,
                             callin=True, link_auth=False, ipmi_messaging=False))
        return users

    def patch(self, uid: int, body: Mapping[str, Any], pending: dict[int, dict[str, Any]]
              ) -> None:
        """Change slot `uid`; a slot with no account yet collects its fields in `pending`
        until it has a name and a password, then it is created."""
        collection, accounts = self.accounts()
        account = next((a for a in accounts if a.uid == uid), None)
        if account is None:
            fields = pending.setdefault(uid, {})
            fields.update(body)
            if "UserName" in fields and "Password" in fields:
                self._conn.post(collection, data={"RoleId": "Administrator", "Enabled": True,
                                                  **fields})
                pending.pop(uid)
            return
        etag = self._conn.get(account.uri).headers.get("ETag")
        self._conn.patch(account.uri, data=dict(body), etag=etag)
