from __future__ import annotations

import stat
from pathlib import Path

import pytest

from racker.adapters.fs.configdir import load_record
from racker.app.configuration.create import write_configuration
from racker.core.render.hosts import MARKER
from racker.errors import InputError
from racker.model import Backup
from tests.renderplans import build_plan, flatcar, lokomotive, paths_under

BACKUP = Backup(aws_access_key="AK", aws_secret_key="SK", name="n", s3_bucket="b",
                aws_location="r")


def test_lokomotive_configuration(tmp_path: Path) -> None:
    paths = paths_under(tmp_path)
    paths.hosts_file.write_text("127.0.0.1 localhost\n")
    plan = build_plan(3, lokomotive(backup=BACKUP, web_ui=True))
    result = write_configuration(paths, plan, render_only=True)

    folder = paths.home / "lokomotive"
    assert result.folder == folder and result.render_only
    assert sorted(str(p.relative_to(folder)) for p in result.files) == sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert (folder / "baremetal.lokocfg").is_file()
    assert stat.S_IMODE((folder / "backup-credentials").stat().st_mode) == 0o600
    assert load_record(folder) == plan.options

    conf = (paths.state_dir / "dnsmasq" / "dnsmasq.conf").read_text()
    assert result.dnsmasq_conf == paths.state_dir / "dnsmasq" / "dnsmasq.conf"
    assert "interface=eth1\n" in conf
    assert f"dhcp-leasefile={paths.state_dir}/dnsmasq/dnsmasq.leases\n" in conf

    hosts = paths.hosts_file.read_text().splitlines()
    assert hosts[0] == "127.0.0.1 localhost"
    assert hosts[1] == (f"172.24.213.2 lokomotive.k8s.localdomain "
                        f"lokomotive-etcd0.k8s.localdomain # {MARKER}")
    assert len(hosts) == 1 + 1 + 3 and result.hosts_changed


def test_flatcar_after_lokomotive_needs_the_folder_removed(tmp_path: Path) -> None:
    paths = paths_under(tmp_path)
    write_configuration(paths, build_plan(2, lokomotive()), render_only=True)
    before = paths.hosts_file.read_text()
    with pytest.raises(InputError, match="Lokomotive configuration already exists"):
        write_configuration(paths, build_plan(2, flatcar()), render_only=True)
    # nothing changed by the refused run
    assert not paths.flatcar_dir.exists()
    assert paths.hosts_file.read_text() == before


def test_new_subnet_replaces_old_hosts_entries(tmp_path: Path) -> None:
    paths = paths_under(tmp_path)
    write_configuration(paths, build_plan(2, lokomotive()), render_only=True)
    import shutil

    shutil.rmtree(paths.lokomotive_dir)
    write_configuration(paths, build_plan(2, flatcar(subnet_prefix="10.1.2")), render_only=False)
    assert paths.hosts_file.read_text() == (f"10.1.2.2 node-0 # {MARKER}\n"
                                            f"10.1.2.3 node-1 # {MARKER}\n")
    assert "dhcp-range=10.1.2.128," in (paths.state_dir / "dnsmasq/dnsmasq.conf").read_text()


# ---- configure(): from the rack files (core's inventory and plan) -------------------------

def test_configure_from_rack_files(tmp_path: Path) -> None:
    from racker.app.configuration.create import configure
    from racker.paths import Paths
    from tests.rackfixtures import write_rack

    paths = Paths.from_env(write_rack(tmp_path, 4, types=["small", "large"]))
    result = configure(paths, lokomotive(num_controllers=1, web_ui=True), render_only=True)
    assert result.folder == paths.lokomotive_dir
    assert [n.name for n in result.plan.nodes][:1] == ["lokomotive-controller-0.k8s.localdomain"]
    assert (paths.lokomotive_dir / "web-ui.lokocfg").is_file()
    assert len(list((paths.lokomotive_dir / "cl").iterdir())) == 8
    conf = (paths.state_dir / "dnsmasq" / "dnsmasq.conf").read_text()
    assert "interface=eth1\n" in conf
    assert conf.count("dhcp-host=") == 8
    assert "localhost" in paths.hosts_file.read_text()


def test_configure_bad_input_writes_nothing(tmp_path: Path) -> None:
    from racker.app.configuration.create import configure
    from racker.paths import Paths
    from tests.rackfixtures import write_rack

    paths = Paths.from_env(write_rack(tmp_path, 2))
    hosts_before = paths.hosts_file.read_text()
    with pytest.raises(InputError):
        configure(paths, lokomotive(num_controllers=3), render_only=True)
    assert list(paths.home.iterdir()) == []
    assert not (paths.state_dir / "dnsmasq").exists()
    assert paths.hosts_file.read_text() == hosts_before


def test_summary_lines(tmp_path: Path) -> None:
    from racker.app.configuration.create import summary_lines

    paths = paths_under(tmp_path)
    result = write_configuration(paths, build_plan(2, flatcar()), render_only=True)
    assert summary_lines(result) == (
        f"➤ Configuration folder: {paths.flatcar_dir} (10 files)",
        f"➤ dnsmasq configuration: {paths.state_dir}/dnsmasq/dnsmasq.conf",
        f"➤ Hosts entries: 2 in {paths.hosts_file}",
        "Rendered only: no BMC, service or network was touched.",
    )
