from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.render.hosts import MARKER, HostsEntry, hosts_entries, is_managed, merge
from tests.renderplans import build_plan, flatcar, lokomotive

M = f" # {MARKER}"


def test_flatcar_entries() -> None:
    assert hosts_entries(build_plan(2, flatcar())) == (
        HostsEntry("172.24.213.2", ("node-0",)),
        HostsEntry("172.24.213.3", ("node-1",)),
    )


def test_lokomotive_ha_entries() -> None:
    plan = build_plan(4, lokomotive(num_controllers=3, cluster_name="c", k8s_domain_name="d.io"))
    assert [e.line() for e in hosts_entries(plan)] == [
        f"172.24.213.2 c.d.io c-etcd0.d.io{M}",
        f"172.24.213.3 c.d.io c-etcd1.d.io{M}",
        f"172.24.213.4 c.d.io c-etcd2.d.io{M}",
        f"172.24.213.2 c-controller-0.d.io{M}",
        f"172.24.213.3 c-controller-1.d.io{M}",
        f"172.24.213.4 c-controller-2.d.io{M}",
        f"172.24.213.5 c-worker-0.d.io{M}",
    ]


@pytest.mark.parametrize(
    ("line", "managed"),
    [
        (f"1.2.3.4 a{M}\n", True),
        (f"1.2.3.4 a{M}\r\n", True),
        (f"1.2.3.4 a #  {MARKER}  \n", True),
        ("1.2.3.4 a\n", False),
        (f"# {MARKER}\n", False),
        (f"1.2.3.4 a # not {MARKER}\n", False),
        ("127.0.0.1 localhost # mine\n", False),
        ("", False),
    ],
)
def test_is_managed(line: str, managed: bool) -> None:
    assert is_managed(line) is managed


NEW = (HostsEntry("10.0.0.2", ("n0",)), HostsEntry("10.0.0.3", ("n1",)))
BLOCK = f"10.0.0.2 n0{M}\n10.0.0.3 n1{M}\n"


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ("", BLOCK),
        ("127.0.0.1 localhost\n", "127.0.0.1 localhost\n" + BLOCK),
        # no newline at the end of the last line
        ("127.0.0.1 localhost", "127.0.0.1 localhost\n" + BLOCK),
        # stale lines of an earlier subnet and cluster go; the block takes their place
        (f"127.0.0.1 localhost\n172.24.213.2 old.k8s{M}\n172.24.213.2 lokomotive.k8s{M}\n"
         "::1 localhost\n",
         "127.0.0.1 localhost\n" + BLOCK + "::1 localhost\n"),
        # scattered racker lines collapse to one block at the first one's place
        (f"a\n1.1.1.1 x{M}\nb\n2.2.2.2 y{M}\nc\n", "a\n" + BLOCK + "b\nc\n"),
        # operator lines with the same names or addresses are not racker's: kept
        ("10.0.0.2 n0\n", "10.0.0.2 n0\n" + BLOCK),
        # comments and blank lines kept as they are, CRLF too
        ("# hosts\r\n\r\n127.0.0.1 x\r\n", "# hosts\r\n\r\n127.0.0.1 x\r\n" + BLOCK),
        # idempotent
        (BLOCK, BLOCK),
    ],
)
def test_merge(existing: str, expected: str) -> None:
    assert merge(existing, NEW) == expected


def test_merge_with_no_entries_removes_racker_lines_only() -> None:
    assert merge(f"a\n1.1.1.1 x{M}\nb\n", ()) == "a\nb\n"


# every character but the line ends of a hosts file (str.splitlines would split at more)
_line = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c"
                                       "\x1d\x1e\x85\u2028\u2029"),
                max_size=40)


@given(st.lists(st.one_of(_line, st.just(f"9.9.9.9 stale{M}")), max_size=12),
       st.sampled_from(["\n", "\r\n"]))
def test_merge_properties(lines: list[str], eol: str) -> None:
    existing = eol.join(lines)
    merged = merge(existing, NEW)
    # other lines are kept, in order; racker's block appears exactly once; merging is idempotent
    others = [ln for ln in existing.splitlines() if not is_managed(ln)]
    assert [ln for ln in merged.splitlines() if not is_managed(ln)] == others
    assert [ln for ln in merged.splitlines() if is_managed(ln)] == BLOCK.splitlines()
    assert merge(merged, NEW) == merged
