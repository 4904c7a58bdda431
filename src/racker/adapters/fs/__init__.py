"""Racker's files: the SQLite event store, the hosts file, the configuration folder and its
record, BMC credentials, nodes.csv and this machine's interfaces, flag files' Ignition hashes,
the state folder marker, and atomic writes underneath all of them.
"""
