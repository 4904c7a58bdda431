"""The racker-serve.service unit and the state layout (pure parts of `racker install`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from racker.app.install import Layout, environment_overrides, render_serve_unit, state_dirs
from racker.errors import InputError


def _layout(env: tuple[tuple[str, str], ...] = ()) -> Layout:
    return Layout(venv=Path("/opt/racker/venv"), state_dir=Path("/opt/racker-state"),
                  version_file=Path("/opt/racker/RACKER_VERSION"), environment=env)


def _sections(unit: str) -> dict[str, dict[str, list[str]]]:
    """A small systemd unit parser: sections, keys, values (continuation lines joined)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    joined = unit.replace("\\\n", " ")
    for line in joined.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        out[section].setdefault(key, []).append(value)
    return out


def test_unit_sections_and_keys() -> None:
    unit = _sections(render_serve_unit(_layout()))
    assert list(unit) == ["Unit", "Service", "Install"]
    svc = unit["Service"]
    assert svc["ExecStart"] == ['"/opt/racker/venv/bin/racker" serve']
    assert svc["Restart"] == ["always"]
    assert unit["Unit"]["After"] == ["network-online.target"]
    assert unit["Unit"]["Wants"] == ["network-online.target"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    caps = svc["CapabilityBoundingSet"][0].split()
    # dnsmasq: DHCP raw sockets, ports 67/69, its switch to its own user; nothing that overrides
    # file permissions or ownership, and no CAP_KILL (racker signals dnsmasq as its user)
    assert sorted(caps) == ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
                            "CAP_SETGID", "CAP_SETUID"]
    assert "AF_PACKET" in svc["RestrictAddressFamilies"][0].split()
    # the whole system read-only but the state, /etc/hosts and the configuration folders
    assert svc["ProtectSystem"] == ["strict"]
    # home folders empty but the configuration folders (writable) and the public keys
    assert svc["ProtectHome"] == ["tmpfs"]
    assert svc["ReadWritePaths"] == ['"/opt/racker-state" "-/etc/hosts"']
    assert svc["BindPaths"] == ['"-/root/flatcar-container-linux" "-/root/lokomotive"']
    assert svc["BindReadOnlyPaths"] == ['"-/root/.ssh/id_ed25519.pub" "-/root/.ssh/id_rsa.pub"']
    assert svc["SystemCallFilter"] == ["@system-service", "~@resources"]
    assert svc["UMask"] == ["0077"]
    assert "Environment" not in svc


def test_read_write_paths_follow_the_settings() -> None:
    unit = _sections(render_serve_unit(_layout((("RACKER_HOSTS_FILE", "/srv/100% hosts"),))))
    assert '"-/srv/100%% hosts"' in unit["Service"]["ReadWritePaths"][0]


def test_paths_under_home_folders_are_bound_into_the_empty_home() -> None:
    layout = dataclasses.replace(
        _layout((("RACKER_SSH_KEY", "/home/ops/keys/rack key"), ("RACKER_OEM_DIR", "/srv/oem"),
                 ("RACKER_HOSTS_FILE", "/root/hosts"))),
        venv=Path("/root/venv"), state_dir=Path("/home/ops/state"))
    svc = _sections(render_serve_unit(layout))["Service"]
    assert svc["ProtectHome"] == ["tmpfs"]
    # written: bound read-write; the state folder must exist, the rest may be missing
    assert svc["BindPaths"] == ['"/home/ops/state" "-/root/hosts" '
                                '"-/root/flatcar-container-linux" "-/root/lokomotive"']
    # read: the venv and the public half of the key only (/srv/oem is visible anyway)
    assert svc["BindReadOnlyPaths"] == ['"/root/venv" "-/home/ops/keys/rack key.pub"']
    assert "ReadWritePaths" not in svc  # nothing left outside the home folders


@pytest.mark.parametrize(("name", "value", "line"), [
    ("RACKER_STATE_DIR", "/srv/state", "Environment=RACKER_STATE_DIR=/srv/state"),
    ("RACKER_STATE_DIR", "/srv/my state", 'Environment="RACKER_STATE_DIR=/srv/my state"'),
    ("RACKER_OEM_DIR", 'a"b', 'Environment="RACKER_OEM_DIR=a\\"b"'),
    # `%` starts a systemd specifier (%h: root's home): it must stay a literal percent sign
    ("RACKER_STATE_DIR", "/srv/100%h", "Environment=RACKER_STATE_DIR=/srv/100%%h"),
    ("RACKER_STATE_DIR", "/srv/a b%n", 'Environment="RACKER_STATE_DIR=/srv/a b%%n"'),
])
def test_environment_lines(name: str, value: str, line: str) -> None:
    assert line + "\n" in render_serve_unit(_layout(((name, value),)))


def test_state_dirs_modes() -> None:
    dirs = {str(d.path): d.mode for d in state_dirs(Path("/s"))}
    assert dirs == {"/s": 0o750, "/s/dnsmasq": 0o750, "/s/assets": 0o755}


@pytest.mark.parametrize(("root", "path", "host"), [
    ("/", "/opt/racker-state", "/opt/racker-state"),
    ("/mnt/sysroot", "/opt/racker-state", "/mnt/sysroot/opt/racker-state"),
    ("/mnt/sysroot", "/etc/systemd/system/x", "/mnt/sysroot/etc/systemd/system/x"),
])
def test_host_paths(root: str, path: str, host: str) -> None:
    layout = Layout(venv=Path("/v"), state_dir=Path("/s"), version_file=Path("/f"),
                    root=Path(root))
    assert layout.host(Path(path)) == Path(host)


@pytest.mark.parametrize(("venv", "line"), [
    ("/opt/racker/venv", 'ExecStart="/opt/racker/venv/bin/racker" serve'),
    ("/opt/my venv", 'ExecStart="/opt/my venv/bin/racker" serve'),
    ('/opt/a"b\\c', 'ExecStart="/opt/a\\"b\\\\c/bin/racker" serve'),
    ("/opt/50%h/$HOME", 'ExecStart="/opt/50%%h/$$HOME/bin/racker" serve'),
])
def test_exec_start_quotes_the_path(venv: str, line: str) -> None:
    layout = Layout(venv=Path(venv), state_dir=Path("/s"), version_file=Path("/f"))
    assert line + "\n" in render_serve_unit(layout)


INJECTED = "/usr/share/oem\nExecStartPre=/bin/sh -c 'id > /tmp/pwned'"


@pytest.mark.parametrize("value", [INJECTED, "/srv/a\rb", "/srv/tab\there", "/srv/\x1b[0m",
                                   "/srv/\x85next"])
def test_control_characters_are_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(InputError) as exc:
        environment_overrides({"RACKER_OEM_DIR": value}, ("RACKER_STATE_DIR", "RACKER_OEM_DIR"))
    assert "RACKER_OEM_DIR holds a control character" in str(exc.value)
    assert "hint: give RACKER_OEM_DIR a value of one line" in str(exc.value)
    # a Layout built by other means is checked again where the unit is rendered
    with pytest.raises(InputError, match="RACKER_OEM_DIR holds a control character"):
        render_serve_unit(_layout((("RACKER_OEM_DIR", value),)))


def test_newline_in_venv_is_refused() -> None:
    layout = Layout(venv=Path("/opt/v\nExecStartPre=/bin/true"), state_dir=Path("/s"),
                    version_file=Path("/f"))
    with pytest.raises(InputError, match="-venv holds a control character"):
        render_serve_unit(layout)


def test_package_index_is_never_carried_into_the_unit() -> None:
    token_url = "https://deploy:s3cr3t-t0ken@pypi.example.internal/simple/"
    env = {"RACKER_PACKAGE_INDEX": token_url, "RACKER_STATE_DIR": "/srv/state"}
    carried = environment_overrides(env, ("RACKER_STATE_DIR", "RACKER_PACKAGE_INDEX"))
    assert carried == (("RACKER_STATE_DIR", "/srv/state"),)
    unit = render_serve_unit(_layout((*carried, ("RACKER_PACKAGE_INDEX", token_url))))
    assert "s3cr3t-t0ken" not in unit
    assert "RACKER_PACKAGE_INDEX" not in unit
    assert "Environment=RACKER_STATE_DIR=/srv/state\n" in unit
