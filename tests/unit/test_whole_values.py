"""Whole-value checks refuse a trailing newline (`re.match` with `$` accepted "lokomotive\\n").

A value with a newline breaks the line-based files racker writes (/etc/hosts, dnsmasq.conf),
so every check of a whole value must hold for the whole string (issue 16, item 8).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from racker.adapters.dnsmasq.leasehook import parse_call
from racker.core.bootstrap import options as bo
from racker.core.bootstrap.flags import parse_flags
from racker.core.layout import name_index
from racker.core.plan import make_plan
from racker.errors import InputError
from racker.model import Options
from racker.sim.net.topology import check_rack_name
from tests.unit.wizard_support import rack

CHECKS: list[tuple[str, Callable[[str], str | None], str]] = [
    ("cluster-name", bo.check_cluster_name, "lokomotive"),
    ("k8s-domain-name", bo.check_domain, "k8s.localdomain"),
    ("subnet-prefix", bo.check_subnet_prefix, "172.24.213"),
    ("backup-s3-bucket", bo.check_bucket, "bucket-1"),
    ("backup-name", bo.check_backup_name, "lokomotive-backup"),
    ("backup-aws-location", bo.check_region, "us-east-2"),
]


@pytest.mark.parametrize(("name", "check", "good"), CHECKS, ids=[c[0] for c in CHECKS])
@pytest.mark.parametrize("tail", ["\n", "\n\n"])
def test_bootstrap_checks_refuse_a_trailing_newline(
        name: str, check: Callable[[str], str | None], good: str, tail: str) -> None:
    assert check(good) is None
    assert check(good + tail) is not None


@pytest.mark.parametrize(
    "options",
    [Options(num_controllers=1, cluster_name="lokomotive\n"),
     Options(num_controllers=1, k8s_domain_name="k8s.localdomain\n")],
    ids=["cluster-name", "k8s-domain-name"],
)
def test_plan_refuses_names_with_a_trailing_newline(options: Options) -> None:
    # Options recorded in a file (a resumed bootstrap) reach the plan without the flag checks.
    with pytest.raises(InputError, match="is not a valid"):
        make_plan(options, rack("a", "a"))


def test_plan_refuses_a_node_type_with_a_trailing_newline() -> None:
    with pytest.raises(InputError, match="cannot be a Kubernetes label value"):
        make_plan(Options(num_controllers=1), rack("small\n", "small"))


def test_spool_file_name_with_a_trailing_newline_is_not_a_call() -> None:
    assert parse_call("1700000000.5-42", "add\n") is not None
    assert parse_call("1700000000.5-42\n", "add\n") is None


def test_rack_name_with_a_trailing_newline_is_refused() -> None:
    assert check_rack_name("rack1") == "rack1"
    with pytest.raises(InputError, match="not a valid rack name"):
        check_rack_name("rack1\n")


def test_render_only_with_a_trailing_newline_is_an_unknown_flag() -> None:
    assert parse_flags(["-render-only"]).render_only
    with pytest.raises(InputError, match="unknown flag"):
        parse_flags(["-render-only\n"])


def test_node_index_needs_the_number_at_the_very_end() -> None:
    assert name_index("node-3") == 3
    assert name_index("node-3\n") == -1
