"""Run-time settings from the environment: values that reach scripts and URLs are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.errors import InputError
from racker.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.flatcar_channel, s.flatcar_version, s.flatcar_base_url) == (
        "stable", "current", None)


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"RACKER_FLATCAR_CHANNEL": "beta"}, ("beta", "current")),
        ({"RACKER_FLATCAR_CHANNEL": "lts", "RACKER_FLATCAR_VERSION": "3510.2.1"},
         ("lts", "3510.2.1")),
    ],
)
def test_good_channel_and_version(env: dict[str, str], want: tuple[str, str]) -> None:
    s = Settings.from_env(env)
    assert (s.flatcar_channel, s.flatcar_version) == want


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("RACKER_FLATCAR_CHANNEL", "stable; touch /pwned", "stable, beta, alpha, lts"),
        ("RACKER_FLATCAR_CHANNEL", "stable\n", "stable, beta, alpha, lts"),
        ("RACKER_FLATCAR_CHANNEL", "$(reboot)", "stable, beta, alpha, lts"),
        ("RACKER_FLATCAR_VERSION", "current && rm -rf /", "'current' or a release number"),
        ("RACKER_FLATCAR_VERSION", "../../etc", "'current' or a release number"),
        ("RACKER_FLATCAR_VERSION", "3510.2.1\n", "'current' or a release number"),
        ("RACKER_FLATCAR_BASE_URL", "ftp://mirror/flatcar", "http:// or https:// URL"),
        ("RACKER_FLATCAR_BASE_URL", "http://mirror/a b", "without spaces"),
        ("RACKER_FLATCAR_BASE_URL", "http://mirror/x'; touch /pwned; '", "quotes"),
        ("RACKER_FLATCAR_BASE_URL", "http://mirror/x\n", "control characters"),
    ],
)
def test_crafted_settings_are_refused(variable: str, value: str, allowed: str) -> None:
    with pytest.raises(InputError) as e:
        Settings.from_env({variable: value})
    assert e.value.where is not None and e.value.where.variable == variable
    assert e.value.message.startswith(variable) and allowed in e.value.message


def test_mirror_url_is_kept() -> None:
    url = "http://127.0.0.1:8000/stable/amd64-usr"
    assert Settings.from_env({"RACKER_FLATCAR_BASE_URL": url}).base_url == url


def test_bmc_protocol_and_ca_bundle(tmp_path: Path) -> None:
    assert Settings.from_env({}).bmc_protocol == "auto"
    assert Settings.from_env({"RACKER_BMC_PROTOCOL": "redfish"}).bmc_protocol == "redfish"
    with pytest.raises(InputError, match="RACKER_BMC_PROTOCOL must be one of auto, ipmi, "
                                         "redfish, not 'snmp'") as e:
        Settings.from_env({"RACKER_BMC_PROTOCOL": "snmp"})
    assert "RACKER_BMC_PROTOCOL" in str(e.value)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert Settings.from_env({"RACKER_BMC_CA_BUNDLE": str(bundle)}).bmc_ca_bundle == bundle
    with pytest.raises(InputError, match="not a file"):
        Settings.from_env({"RACKER_BMC_CA_BUNDLE": str(tmp_path / "missing.pem")})


def test_console_capture_switch() -> None:
    assert Settings.from_env({}).console_capture is True
    assert Settings.from_env({"RACKER_CONSOLE_CAPTURE": "0"}).console_capture is False
    with pytest.raises(InputError) as e:
        Settings.from_env({"RACKER_CONSOLE_CAPTURE": "off"})
    assert e.value.where is not None and e.value.where.variable == "RACKER_CONSOLE_CAPTURE"
