from __future__ import annotations

from racker.core.render.ipxe import InstallBoot, boot_script, install_script


def test_boot_script_chains_by_mac_and_uuid() -> None:
    assert boot_script() == "#!ipxe\nchain ipxe?mac=${mac:hexhyp}&uuid=${uuid}\n"


def test_install_script() -> None:
    s = install_script(InstallBoot("http://172.24.213.1:8080", "aa:bb:cc:00:11:22"))
    lines = s.splitlines()
    assert lines[0] == "#!ipxe"
    assert lines[1].split() == [
        "kernel",
        "http://172.24.213.1:8080/assets/flatcar/current/flatcar_production_pxe.vmlinuz",
        "initrd=flatcar_production_pxe_image.cpio.gz",
        "ignition.config.url=http://172.24.213.1:8080/ignition?mac=aa-bb-cc-00-11-22&os=installer",
        "flatcar.first_boot=yes",
        "console=ttyS1,57600n8",
        "earlyprintk=serial,ttyS1,57600n8",
        "flatcar.autologin",
    ]
    assert lines[2] == ("initrd http://172.24.213.1:8080/assets/flatcar/current/"
                        "flatcar_production_pxe_image.cpio.gz")
    assert lines[3] == "boot"


def test_install_script_custom_console_no_autologin() -> None:
    s = install_script(InstallBoot("http://10.0.0.1:8080", "aa:bb:cc:00:11:22",
                                   kernel_console=("console=ttyS0,115200n8",), autologin=False))
    assert "console=ttyS0,115200n8 \n" not in s
    assert "flatcar.autologin" not in s and "console=ttyS0,115200n8\n" in s
