"""The virtual BMC's Redfish side: resources over the IPMI side's state (`model`), its own
self-signed certificate (`cert`) and a small HTTPS server (`server`)."""
