"""The simulator's network: namespaces, rtnetlink, the rack topology, and the nodes' DHCP,
TFTP and HTTP clients inside namespaces.
"""
