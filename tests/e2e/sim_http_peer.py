"""A tiny boot server for e2e tests, run inside the management namespace by `racker-sim exec`.

It answers the matchbox-style routes the lite nodes walk (boot.ipxe, ipxe, ignition, assets,
racker's events callback) and logs every request as a JSON line. Usage:
`python sim_http_peer.py ADDRESS PORT LOGFILE`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "3510.2.6"


class Handler(BaseHTTPRequestHandler):
    base = ""
    log_path = ""
    lock = threading.Lock()

    def _log(self, status: int, body: bytes = b"") -> None:
        entry = {"method": self.command, "path": self.path, "status": status,
                 "client": self.client_address[0]}
        if body:
            entry["body"] = body.decode(errors="replace")
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        b = self.base
        if url.path == "/boot.ipxe":
            body = b"#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}\n"
        elif url.path == "/ipxe" and "mac" in q:
            body = (f"#!ipxe\nkernel /assets/flatcar/current/flatcar_production_pxe.vmlinuz "
                    f"initrd=flatcar_production_pxe_image.cpio.gz "
                    f"ignition.config.url={b}/ignition?mac=${{mac:hexhyp}}&os=installer "
                    f"flatcar.first_boot=yes\n"
                    f"initrd /assets/flatcar/current/flatcar_production_pxe_image.cpio.gz\n"
                    f"boot\n").encode()
        elif url.path == "/ignition" and q.get("os") == ["installer"]:
            mac = q["mac"][0]
            script = (f"flatcar-install -s -C stable -V current -b {b}/assets/flatcar\n"
                      f"echo 'set linux_append=\"ignition.config.url={b}/ignition?mac={mac}"
                      f"&os=installed\"' >> /oem/grub.cfg\n"
                      f"curl -X POST {b}/racker/v1/nodes/{mac}/events\n")
            body = json.dumps({"ignition": {"version": "3.3.0"}, "systemd": {"units": [
                {"name": "installer.service", "enabled": True, "contents": script}]}}).encode()
        elif url.path == "/ignition" and q.get("os") == ["installed"]:
            body = json.dumps({"ignition": {"version": "3.3.0"}}).encode()
        elif url.path == "/assets/flatcar/current/version.txt":
            body = f"FLATCAR_VERSION={VERSION}\n".encode()
        elif url.path.startswith("/assets/flatcar/current/flatcar_production_pxe") and (
                os.environ.get("RKS_TESTOS_KERNEL")):
            # QEMU nodes boot the simulator's test OS in place of Flatcar's PXE image.
            which = "KERNEL" if url.path.endswith(".vmlinuz") else "INITRD"
            with open(os.environ[f"RKS_TESTOS_{which}"], "rb") as f:
                body = f.read()
        elif url.path.startswith("/assets/"):
            body = b"\0" * 65536
        else:
            self._log(404)
            self._send(404, b"not found\n")
            return
        self._log(200)
        self._send(200, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if "/racker/v1/nodes/" in self.path and self.path.endswith("/events"):
            self._log(200, data)
            hold = os.environ.get("RKS_HOLD_DIR")
            if hold and b"installed" in data:
                # As racker does: answer `installed` only once the boot device is disk (the
                # test creates the release file after setting it).
                release = os.path.join(hold, self.path.split("/")[-2])
                for _ in range(6000):  # at most 10 minutes
                    if os.path.exists(release):
                        break
                    time.sleep(0.1)
            self._send(200, b'{"ok": true}', "application/json")
        else:
            self._log(404, data)
            self._send(404, b"not found\n")


def main() -> int:
    address, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Handler.base = f"http://{address}:{port}"
    Handler.log_path = log_path
    env = {k: v for k, v in os.environ.items() if k.startswith("RACKER_") or k == "HOME"}
    with open(log_path, "a") as f:
        f.write(json.dumps({"started": True, "env": env}) + "\n")
    ThreadingHTTPServer((address, port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
