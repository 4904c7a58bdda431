"""The boot server under hostile input, over real loopback HTTP (uvicorn with racker's sendfile
protocol, the real store and catalog): request bodies are bounded (413), and a hypothesis fuzz
of methods, paths, queries, headers and bodies against every endpoint never gets a 5xx and never
waits for an answer that does not come."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racker.adapters.http.requests import MAX_BODY
from racker.core.bootnode import BootNode
from tests.bootthread import boot_server_thread

MAC = "aa:bb:cc:00:00:02"
NODE = BootNode(MAC, "127.0.0.1", "node-0", b'{"i": 1}', b'{"i": 2}')
ANSWER_WITHIN = 20.0
"""Seconds an answer may take on a busy shared machine before the request counts as hung."""


@dataclass(frozen=True)
class Served:
    port: int
    assets: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    assets = tmp / "assets"
    (assets / "flatcar" / "1.0.0").mkdir(parents=True)
    (assets / "flatcar" / "1.0.0" / "initrd").write_bytes(b"initrd" * 1000)
    (assets / "flatcar" / "current").symlink_to("1.0.0")
    (tmp / "secret").write_text("outside the assets\n")
    with boot_server_thread(assets, tmp / "racker.db", [NODE], wait=30) as running:
        yield Served(running.port, assets)


def exchange(port: int, raw: bytes) -> tuple[int | None, bytes]:
    """Send `raw`, read until the server closes or answers in full; (status, bytes read).
    None as status: the server closed without an answer (allowed for malformed HTTP only)."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as c:
        deadline = time.monotonic() + ANSWER_WITHIN
        # it may answer early (413) and close: the answer is still there to be read
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            c.sendall(raw)
        data = b""
        while time.monotonic() < deadline:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(f"no answer within {ANSWER_WITHIN} s to {raw[:300]!r}; "
                                     f"got {data[:300]!r}") from None
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
        else:
            raise AssertionError(f"answer not complete within {ANSWER_WITHIN} s: {data[:300]!r}")
    if not data:
        return None, data
    status_line = data.split(b"\r\n", 1)[0].split()
    return int(status_line[1]), data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False  # no length: read until the server closes


def request(method: str, target: str, headers: list[tuple[str, str]], body: bytes | None,
            chunked: bool = False) -> bytes:
    """One HTTP/1.1 request, closing the connection after the answer."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None and chunked:
        return raw + (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + \
            b"0\r\n\r\n"
    return raw + (body or b"")


# --- body limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_past_the_limit_gets_413(served: Served, chunked: bool) -> None:
    big = b'{"event": "installed", "pad": "' + b"x" * MAX_BODY + b'"}'
    status, data = exchange(served.port, request("POST", f"/racker/v1/nodes/{MAC}/events",
                                                 [("Content-Type", "application/json")], big,
                                                 chunked))
    assert status == 413, data[:300]
    assert b"more than" in data


def test_a_report_within_the_limit_is_accepted(served: Served) -> None:
    body = b'{"event": "booted", "inventory": "' + b"y" * (MAX_BODY // 2) + b'"}'
    status, data = exchange(served.port, request("POST", f"/racker/v1/nodes/{MAC}/events",
                                                 [], body))
    assert status == 200, data[:300]


def test_a_declared_huge_body_is_refused_before_it_is_sent(served: Served) -> None:
    head = request("POST", f"/racker/v1/nodes/{MAC}/events", [], None)
    raw = head[:-2] + f"Content-Length: {1 << 40}\r\n\r\n".encode() + b"{"
    status, _ = exchange(served.port, raw)
    assert status == 413


# --- fuzz ----------------------------------------------------------------------------------------

PREFIXES = ["/boot.ipxe", "/ipxe", "/ignition", "/metadata", "/assets/", "/assets/flatcar/",
            "/racker/v1/nodes", f"/racker/v1/nodes/{MAC}/events", "/racker/v1/nodes/",
            "/racker/v1/self/events", "/", ""]
KEYS = ["mac", "os", "uuid", "domain", "hostname", "serial", "x"]
TRICKY = [b"", b"..", b"../../secret", b"%00", b"\x00", b"\xff\xfe", b"a" * 5000, MAC.encode(),
          MAC.replace(":", "-").upper().encode(), b"installer", b"installed", b"/", b"%", b"%zz",
          b"current/initrd", b"1.0.0/initrd"]

byte_text = st.one_of(st.sampled_from(TRICKY), st.binary(max_size=64))
path_suffix = st.lists(byte_text, max_size=4).map(
    lambda parts: "/".join(quote_from_bytes(p, safe=b"/.%") if p.isascii() and b" " not in p
                           and b"\x00" not in p and b"\r" not in p and b"\n" not in p
                           else quote_from_bytes(p) for p in parts))
query = st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=8), byte_text),
                 max_size=5).map(lambda kv: "&".join(
                     f"{quote_from_bytes(k.encode())}={quote_from_bytes(v)}" for k, v in kv))
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                min_size=1, max_size=20)
header_value = st.one_of(
    st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x",
                     "bytes=0-10", "bytes=99999999-", "bytes=-5", "bytes=5-2,0-1", "gzip",
                     "*/*", "", "a" * 4000]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                   exclude_characters="\x7f"), max_size=60))
headers = st.lists(st.tuples(st.sampled_from(["Range", "Content-Type", "Accept",
                                              "Accept-Encoding", "If-Range", "X-Forwarded-For",
                                              "Cookie", "Authorization"]) | token,
                             header_value), max_size=6).map(
    lambda hs: [(k, v.strip()) for k, v in hs
                if k.lower() not in ("content-length", "transfer-encoding", "host",
                                     "connection")])
bodies = st.one_of(st.none(), st.binary(max_size=2048),
                   st.sampled_from([b'{"event": "installed"}', b'{"event": "booted"}',
                                    b'{"event": 1}', b'{"event": ["booted"]}', b"[]", b"null",
                                    b'{"event": "x"}', b"{", b"\xff" * 10, b'"booted"']))


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),
       prefix=st.sampled_from(PREFIXES), suffix=path_suffix, q=query, hs=headers, body=bodies,
       chunked=st.booleans())
def test_fuzz_never_a_5xx_never_a_hang(served: Served, method: str, prefix: str, suffix: str,
                                       q: str, hs: list[tuple[str, str]], body: bytes | None,
                                       chunked: bool) -> None:
    target = (prefix + suffix) or "/"
    if not target.startswith("/"):
        target = "/" + target
    if q:
        target += "?" + q
    raw = request(method, target, hs, body, chunked)
    status, data = exchange(served.port, raw)
    assert status is not None, f"closed without an answer: {raw[:300]!r}"
    assert status < 500, f"{status} for {raw[:300]!r}: {data[:500]!r}"
    assert b"outside the assets" not in data


ranges = st.one_of(
    st.lists(st.tuples(st.integers(-10, 7000) | st.none(), st.integers(-10, 7000) | st.none()),
             min_size=1, max_size=4).map(lambda rs: "bytes=" + ",".join(
                 f"{'' if a is None else a}-{'' if b is None else b}" for a, b in rs)),
    st.text(alphabet="bytes=0123456789-, x", max_size=30))


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=ranges, if_range=st.sampled_from([None, "x", '"etag"', "Wed, 21 Oct 2015 07:28:00 GMT"]))
def test_fuzz_ranges_of_a_real_asset(served: Served, rng: str, if_range: str | None) -> None:
    hs = [("Range", rng)] + ([("If-Range", if_range)] if if_range else [])
    status, data = exchange(served.port, request("GET", "/assets/flatcar/current/initrd", hs,
                                                 None))
    assert status in (200, 206, 400, 416), f"{status} for Range {rng!r}: {data[:300]!r}"


def test_still_serving_after_the_fuzz(served: Served) -> None:
    status, data = exchange(served.port, request("GET", "/boot.ipxe", [], None))
    assert status == 200 and b"#!ipxe" in data
