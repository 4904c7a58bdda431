"""The iPXE subset the lite nodes interpret."""

from __future__ import annotations

import pytest

from racker.errors import InputError
from racker.sim.nodes.ipxe_interp import Boot, Chain, expand, ipxe_vars, run_script

MAC = "02:AA:bb:cc:dd:01"
UUID = "cce34cba-3b8c-5183-aeef-67ad8f8ee81e"
VARS = ipxe_vars(MAC, UUID)
BASE = "http://172.24.213.1:8080/boot.ipxe"


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("${mac}", "02:aa:bb:cc:dd:01"),
        ("${mac:hexhyp}", "02-aa-bb-cc-dd-01"),
        ("${net0/mac:hexraw}", "02aabbccdd01"),
        ("${uuid}", UUID),
        ("a${domain}b", "ab"),
        ("$mac", "$mac"),
    ],
)
def test_expand(text: str, out: str) -> None:
    assert expand(text, VARS) == out


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        ("#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}\n",
         Chain(f"http://172.24.213.1:8080/ipxe?uuid={UUID}&mac=02-aa-bb-cc-dd-01&domain=")),
        ("#!ipxe\n# comment\n\nchain --autofree http://10.0.0.1/x.ipxe\n",
         Chain("http://10.0.0.1/x.ipxe")),
        ("#!ipxe\nkernel /assets/k initrd=i.cpio.gz "
         "ignition.config.url=http://172.24.213.1:8080/ignition?mac=${mac:hexhyp}&os=installer "
         "flatcar.first_boot=yes\ninitrd /assets/i.cpio.gz\nboot\n",
         Boot("http://172.24.213.1:8080/assets/k",
              ("initrd=i.cpio.gz",
               "ignition.config.url=http://172.24.213.1:8080/ignition?mac=02-aa-bb-cc-dd-01"
               "&os=installer", "flatcar.first_boot=yes"),
              ("http://172.24.213.1:8080/assets/i.cpio.gz",))),
        ("#!ipxe\nset base http://m\nkernel --name k ${base}/k a=1\ninitrd ${base}/i1\n"
         "initrd ${base}/i2\necho booting\nboot\n",
         Boot("http://m/k", ("a=1",), ("http://m/i1", "http://m/i2"))),
    ],
)
def test_run_script(script: str, outcome: object) -> None:
    assert run_script(script, BASE, VARS) == outcome


def test_boot_arg() -> None:
    b = Boot("k", ("a=1", "ignition.config.url=http://x/i?a=b&c=d", "quiet"), ())
    assert b.arg("ignition.config.url") == "http://x/i?a=b&c=d"
    assert b.arg("quiet") is None and b.arg("zzz") is None


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("<html>not found</html>", "not an iPXE script"),
        ("#!ipxe\nsanboot iscsi:x\n", "unsupported iPXE command 'sanboot'"),
        ("#!ipxe\nboot\n", "'boot' without a kernel"),
        ("#!ipxe\nkernel http://k\n", "ends without"),
    ],
)
def test_bad_scripts(script: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        run_script(script, BASE, VARS)
