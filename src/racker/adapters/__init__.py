"""Adapters: each owns one outside thing. `bmc/` (one interface, one folder per protocol,
picked through a registry), `http/` (the boot server: boot protocol and racker's API),
`dnsmasq/` (the supervisor and its lease hook), `fs/` (event store, hosts file, configuration
folder, credentials, rack metadata files, atomic writes), Flatcar assets, the package index.
"""
