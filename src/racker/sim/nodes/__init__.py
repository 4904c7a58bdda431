"""The simulator's servers: the chassis a node is to its BMC, lite nodes (real DHCP, TFTP,
iPXE, installer and first boot without a VM), QEMU nodes, and the small test OS they boot.
"""
