"""The BMC failures an operator can act on, each naming the node and the BMC address."""

from __future__ import annotations

from racker.errors import BmcError, Where


class BmcFailure(BmcError):
    """A BMC error that knows which node and which BMC address it is about."""

    summary = "BMC error"
    default_hint: str | None = None

    def __init__(self, node: str, address: str, detail: str = "", *, hint: str | None = None):
        self.node = node
        self.address = address
        self.detail = detail
        text = f"BMC {address}: {self.summary}"
        if detail:
            text += f": {detail}"
        super().__init__(text, where=Where(node=node), hint=hint or self.default_hint)


class BmcUnreachable(BmcFailure):
    summary = "unreachable (no answer to IPMI)"
    default_hint = ("check that the BMC got its address via DHCP and is cabled to the internal "
                    "network; 'ipmi NODE diag' shows the address found")


class BmcAuthFailed(BmcFailure):
    summary = "authentication failed"
    default_hint = ("check the user and password in ipmi_user / ipmi_password; the account must "
                    "exist on every BMC with ADMINISTRATOR privilege")


class BmcTimeout(BmcFailure):
    summary = "timed out"
    transient = True
    default_hint = ("the BMC is slow or overloaded; retry, or reset the BMC "
                    "('ipmi NODE mc reset cold')")


class BmcNoFreeSession(BmcFailure):
    summary = "no free session slot"
    default_hint = ("other IPMI sessions are open on this BMC; wait about a minute for them to "
                    "expire, or close dangling serial consoles ('ipmi NODE sol deactivate')")


class Unsupported(BmcFailure):
    """The BMC (or this driver) does not support the requested operation."""

    summary = "command not supported"


class BmcCommandFailed(BmcFailure):
    summary = "command failed"


class BootFlagsNotKept(BmcFailure):
    summary = "boot flags not kept"
    default_hint = ("the BMC did not store the boot device; set it by hand with "
                    "'ipmi NODE raw 0x0 0x8 0x3 0x1f' and 'ipmi NODE raw 0x00 0x08 0x05 ...' and "
                    "check 'ipmi NODE chassis bootparam get 5', or update the BMC firmware")


class BmcCertificateChanged(BmcFailure):
    """A Redfish BMC presents another TLS certificate than the one pinned for its MAC."""

    summary = "TLS certificate changed"


class BmcTlsFailed(BmcFailure):
    """The TLS handshake with a Redfish BMC failed (no certificate, CA check refused)."""

    summary = "TLS failed"


class RedfishUnreachable(BmcUnreachable):
    summary = "unreachable (no answer to Redfish over HTTPS)"
    default_hint = ("check that the BMC got its address via DHCP, is cabled to the internal "
                    "network and has Redfish enabled; 'ipmi NODE diag' shows the address found")
