"""IPMI 2.0 over LAN (lanplus): the pure codec of requests and answers, the pyghmi session glue,
the pooled driver, and ipmitool runs for the `ipmi` helper's passthrough and serial console.
"""
