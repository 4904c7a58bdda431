"""The Redfish BMC driver on sushy: `codec` (pure), `tls` (certificate pinning), `driver`."""
