"""BMCs: the interfaces every protocol implements (`interfaces`), its errors, the registry of
protocols, one folder per protocol (`ipmi/`), the lookup of a BMC's address by MAC (`locate`),
and the one way racker reaches the rack's BMCs (`rack.RackBmcs`, `control.RackControl`).

A new protocol is a folder beside `ipmi/` with a `Driver`, and one `registry.register` line.
"""
