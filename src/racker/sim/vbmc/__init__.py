"""The simulator's virtual BMC: RMCP+ wire format, sessions, the command set, boot options and
users (`state`), the chassis a node implements, and the UDP server (`server`).
"""
