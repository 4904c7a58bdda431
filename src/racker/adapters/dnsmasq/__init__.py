"""dnsmasq: the supervisor that starts, watches and stops it, and the lease hook's spool that
turns its DHCP events into store events.
"""
