"""Boot server vs nginx: 48 concurrent clients download the same ≥100 MB initrd.

Both servers run in one network namespace made for this run (loopback only), serve the same
file, and are measured one after the other in the same run with the same client (curl, one
process per client). Prints MB/s of each and the ratio; goal: ratio ≥ 0.7.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from bench._common import result_line

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "48"))
SIZE_MB = int(os.environ.get("BENCH_SIZE_MB", "100"))
ROUNDS = 3

NGINX_CONF = """
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{port}; location /assets/ {{ alias {assets}/; }} }}
}}
"""

RACKER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from racker.adapters.http.bootserver import BootServerConfig, create_app
    from racker.core.bootnode import StaticCatalog
    from racker.adapters.http.serve import server
    from racker.adapters.fs.store import Store
    d = Path(sys.argv[1])
    app = create_app(BootServerConfig("http://127.0.0.1:8080", d / "assets"), StaticCatalog(),
                     Store(d / "racker.db"))
    asyncio.run(server(app, "127.0.0.1", int(sys.argv[2])).serve())
""")


def ns_exec(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def wait_port(ns: str, port: int) -> None:
    for _ in range(100):
        r = subprocess.run(ns_exec(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   f"http://127.0.0.1:{port}/assets/initrd", "-r", "0-0"),
                           capture_output=True, text=True, check=False)
        if r.stdout.strip() == "206":
            return
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not come up")


def download_all(ns: str, port: int, expect: int) -> float:
    """Seconds for CLIENTS parallel downloads; checks every client got the whole file.

    Each client has its own address, as nodes do (the boot server limits downloads per
    address)."""
    start = time.perf_counter()
    procs = [subprocess.Popen(ns_exec(ns, "curl", "-s", "-o", "/dev/null", "-w",
                                      "%{size_download}", "--interface", f"127.0.0.{i + 2}",
                                      f"http://127.0.0.1:{port}/assets/initrd"),
                              stdout=subprocess.PIPE, text=True) for i in range(CLIENTS)]
    sizes = [int(p.communicate(timeout=600)[0] or 0) for p in procs]
    took = time.perf_counter() - start
    if any(s != expect for s in sizes):
        raise SystemExit(f"incomplete downloads: {sorted(set(sizes))}")
    return took


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("nginx") or not shutil.which("curl"):
        print("needs root, nginx (make setup) and curl", file=sys.stderr)
        return 1
    ns = "rkbench" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix="racker-bench-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        assets = work / "assets"
        assets.mkdir()
        initrd = assets / "initrd"
        with initrd.open("wb") as f:
            for _ in range(SIZE_MB):
                f.write(os.urandom(1 << 20))
        size = initrd.stat().st_size
        (work / "nginx").mkdir()
        (work / "nginx" / "nginx.conf").write_text(NGINX_CONF.format(
            d=work / "nginx", port=18082, assets=assets))
        procs.append(subprocess.Popen(ns_exec(ns, "nginx", "-c", str(work / "nginx/nginx.conf"),
                                              "-p", str(work / "nginx"))))
        procs.append(subprocess.Popen(ns_exec(ns, sys.executable, "-c", RACKER, str(work),
                                              "18081")))
        wait_port(ns, 18081)
        wait_port(ns, 18082)
        total_mb = CLIENTS * size / 1e6
        racker_s, nginx_s = [], []
        for i in range(ROUNDS):
            racker_s.append(download_all(ns, 18081, size))
            nginx_s.append(download_all(ns, 18082, size))
            print(f"round {i + 1}: racker {total_mb / racker_s[-1]:.0f} MB/s, "
                  f"nginx {total_mb / nginx_s[-1]:.0f} MB/s")
        racker_mbps = total_mb / min(racker_s)
        nginx_mbps = total_mb / min(nginx_s)
        print(f"{CLIENTS} clients × {size / 1e6:.0f} MB, best of {ROUNDS} rounds each")
        print(result_line(clients=CLIENTS, racker_MBps=round(racker_mbps),
                          nginx_MBps=round(nginx_mbps), ratio=racker_mbps / nginx_mbps))
        return 0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
