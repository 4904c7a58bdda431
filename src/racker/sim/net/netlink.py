"""Set a simulated node's IPv4 address over rtnetlink, as a DHCP client daemon does.

NOTE: a lite node changes its address at every boot and every lease; running `ip` twice for
each change cost the one simulator process more CPU than the node's whole DHCP exchange.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import struct

from racker.sim.net.netns import asocket_in_netns

RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
SIOCGIFINDEX = 0x8933
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def _request(sock: socket.socket, kind: int, flags: int, body: bytes, seq: int) -> int:
    """Send one request and return the kernel's answer: 0 or a (positive) errno."""
    sock.send(_HEADER.pack(_HEADER.size + len(body), kind,
                           NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0) + body)
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
            if mtype == NLMSG_ERROR and mseq == seq:
                code: int = struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                return -code
            offset += max((length + 3) & ~3, _HEADER.size)


def _ifindex(sock: socket.socket, iface: str) -> int:
    """The interface's index in the socket's namespace (the ioctl works on any socket)."""
    try:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFINDEX,
                             struct.pack("16sI12x", iface.encode(), 0))
    except OSError as e:
        raise OSError(e.errno, f"no interface {iface}: {e.strerror}") from None
    index: int = struct.unpack_from("16sI", answer)[1]
    return index


async def set_address(ns: str, iface: str, cidr: str | None) -> None:
    """Remove the IPv4 addresses of `iface` in `ns`, then add `cidr` (None: leave it empty).

    Raises OSError naming the interface when the kernel refuses."""
    sock = await asocket_in_netns(ns, socket.AF_NETLINK, socket.SOCK_RAW,
                                  socket.NETLINK_ROUTE)
    try:
        # The kernel answers a request before send() returns; the timeout only guards that.
        sock.settimeout(2.0)
        index = _ifindex(sock, iface)
        seq = 1
        while True:  # each request without attributes deletes the first address left
            code = _request(sock, RTM_DELADDR, 0,
                            _IFADDR.pack(socket.AF_INET, 0, 0, 0, index), seq)
            seq += 1
            if code == errno.EADDRNOTAVAIL:
                break
            if code != 0:
                raise OSError(code, f"removing the address of {iface} in {ns}: "
                                    f"{os.strerror(code)}")
        if cidr is None:
            return
        net = ipaddress.IPv4Interface(cidr)
        packed = net.ip.packed
        body = (_IFADDR.pack(socket.AF_INET, net.network.prefixlen, 0, 0, index)
                + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))
        code = _request(sock, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, body, seq)
        if code != 0:
            raise OSError(code, f"setting {cidr} on {iface} in {ns}: {os.strerror(code)}")
    finally:
        sock.close()
