"""The management listener's address check for bootstrap and apply: made before anything
starts, unless a running `racker serve` will lend its services and its listener."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from racker.adapters.handover import socket_path
from racker.errors import InputError
from racker.paths import Paths
from racker.settings import Settings
from racker.web.listener import management


def test_a_bind_beyond_loopback_without_token_is_refused_unless_serve_lends(
        tmp_path: Path) -> None:
    paths = Paths.from_env({"RACKER_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    settings = Settings.from_env({"RACKER_MANAGE_BIND": "192.0.2.1"})
    with pytest.raises(InputError, match="without an API token") as e:
        management(paths, settings, lambda _t: None)
    assert e.value.where is not None and e.value.where.variable == "RACKER_MANAGE_BIND"
    with socket.socket(socket.AF_UNIX) as serve:  # a racker serve's hand-over socket
        serve.bind(str(socket_path(tmp_path)))
        serve.listen()
        assert callable(management(paths, settings, lambda _t: None))  # serve's listener serves
    assert callable(management(paths, Settings.from_env({}), lambda _t: None))  # loopback
