"""Release selection of `racker update / upgrade / get` and the index parsers (pure)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from racker import DISTRIBUTION
from racker.core.releases import (
    DistFile,
    Mode,
    Release,
    choose_wheel,
    format_versions,
    parse_simple_files,
    parse_simple_index,
    redact_url,
    release_from_filename,
    releases_from_filenames,
    select,
    series,
)
from racker.errors import InputError, RackerError

V = Version

RELEASES = [
    Release(V("0.9.0")),
    Release(V("1.0.0")),
    Release(V("1.0.1")),
    Release(V("1.0.2rc1")),
    Release(V("1.1.0")),
    Release(V("1.1.1a1")),
    Release(V("1.2.0"), requires_python=">=3.99"),
    Release(V("2.0.0"), yanked=True),
]

# (mode, running, wanted, allow_pre, expected target or None, leaves_series, downgrade)
CHOICES = [
    (Mode.UPDATE, "1.0.0", None, False, "1.0.1", False, False),
    (Mode.UPDATE, "1.0.1", None, False, None, False, False),
    (Mode.UPDATE, "1.0.1", None, True, "1.0.2rc1", False, False),
    (Mode.UPDATE, "1.0.0rc1", None, False, "1.0.1", False, False),
    (Mode.UPDATE, "1.0.2a1", None, False, "1.0.2rc1", False, False),  # running a pre-release
    (Mode.UPDATE, "1.0.5", None, False, None, False, False),  # newer than the index
    (Mode.UPDATE, None, None, False, "1.1.0", False, False),  # version file reset
    (Mode.UPDATE, "0.9.0", None, False, None, False, False),
    (Mode.UPGRADE, "1.0.0", None, False, "1.1.0", True, False),
    (Mode.UPGRADE, "1.1.0", None, False, None, False, False),  # 1.2.0 needs Python 3.99
    (Mode.UPGRADE, "1.1.0", None, True, "1.1.1a1", False, False),
    (Mode.UPGRADE, "0.9.0", None, False, "1.1.0", True, False),  # 2.0.0 is yanked
    (Mode.GET, "1.1.0", "1.0.0", False, "1.0.0", True, True),
    (Mode.GET, "1.0.0", "v1.1.0", False, "1.1.0", True, False),
    (Mode.GET, "1.1.0", "1.0", False, "1.0.1", True, True),  # a series: its newest release
    (Mode.GET, "1.1.0", "1.0", True, "1.0.2rc1", True, True),
    (Mode.GET, "1.0.0", "1.0.1", False, "1.0.1", False, False),
    (Mode.GET, "1.0.0", "2.0.0", False, "2.0.0", True, False),  # exact pin may be yanked
    (Mode.GET, "1.0.0", "1.1.1a1", False, "1.1.1a1", True, False),  # exact pre-release
    (Mode.GET, "1.1.0", "1.1.0", False, None, False, False),
    (Mode.GET, None, "1.0.0", False, "1.0.0", True, False),
]


@pytest.mark.parametrize(("mode", "running", "wanted", "pre", "target", "leaves", "down"),
                         CHOICES)
def test_select(mode: Mode, running: str | None, wanted: str | None, pre: bool,
                target: str | None, leaves: bool, down: bool) -> None:
    sel = select(mode, V(running) if running else None, RELEASES, wanted=wanted,
                 allow_pre=pre, python=V("3.11.2"))
    assert sel.target == (V(target) if target else None), sel.message
    assert sel.leaves_series is leaves
    assert sel.downgrade is down
    assert sel.message


@pytest.mark.parametrize(("mode", "running", "text"), [
    (Mode.UPDATE, "1.0.1", "already the newest release of series 1.0"),
    (Mode.UPGRADE, "1.1.0", "already the newest release; nothing to do"),
    (Mode.UPDATE, "1.0.5", "newer than the newest release of series 1.0"),
    (Mode.GET, "1.1.0", "already installed"),
])
def test_nothing_to_do_messages(mode: Mode, running: str, text: str) -> None:
    sel = select(mode, V(running), RELEASES, wanted="1.1.0", python=V("3.11.2"))
    assert sel.target is None
    assert text in sel.message


@pytest.mark.parametrize(("mode", "running", "wanted", "error", "texts"), [
    (Mode.GET, "1.0.0", "5.0.0", InputError,
     ["version 5.0.0 was not found on the index", "2.0.0, 1.2.0, 1.1.1a1, 1.1.0"]),
    (Mode.GET, "1.0.0", "3.1", InputError, ["series 3.1 was not found", "0.9.0"]),
    (Mode.GET, "1.0.0", "latest!", InputError, ["'latest!' is not a version"]),
    (Mode.GET, "1.0.0", None, InputError, ["needs the VERSION"]),
    (Mode.UPDATE, "3.0.0", None, RackerError, ["no release of series 3.0", "offers"]),
    (Mode.UPDATE, "0.8.0", None, RackerError, ["series 0.8", "'racker upgrade'"]),
])
def test_refusals(mode: Mode, running: str, wanted: str | None, error: type[Exception],
                  texts: list[str]) -> None:
    with pytest.raises(error) as exc:
        select(mode, V(running), RELEASES, wanted=wanted, python=V("3.11.2"),
               index="the index")
    for text in texts:
        assert text in str(exc.value)


def test_empty_index_names_the_setting() -> None:
    with pytest.raises(RackerError, match="RACKER_PACKAGE_INDEX"):
        select(Mode.UPGRADE, V("1.0.0"), [], index="http://127.0.0.1:1/simple/")


def test_requires_python_honoured_for_get() -> None:
    with pytest.raises(InputError, match=r"1\.2\.0 was not found"):
        select(Mode.GET, V("1.0.0"), RELEASES, wanted="1.2.0", python=V("3.11.2"))


@pytest.mark.parametrize(("version", "expected"), [
    ("1.0.0", (1, 0)), ("1.2.3.dev0", (1, 2)), ("2", (2, 0)), ("0.4.0+local", (0, 4)),
])
def test_series(version: str, expected: tuple[int, int]) -> None:
    assert series(V(version)) == expected


@pytest.mark.parametrize(("filename", "expected"), [
    ("racker_baremetal-1.0.0-py3-none-any.whl", "1.0.0"),
    ("Racker_Baremetal-1.0.1.tar.gz", "1.0.1"),
    ("racker_baremetal-1.1.0rc1-py3-none-any.whl", "1.1.0rc1"),
    ("../../racker_baremetal-1.0.0-py3-none-any.whl#sha256=00", "1.0.0"),
    ("racker_sim-1.0.0-py3-none-any.whl", None),  # another project
    ("racker-0.4.0-py3-none-any.whl", None),  # PyPI's "racker": somebody else's project
    ("racker-1.0.0.tar.gz", None),
    ("racker_baremetal-1.0.0.exe", None),
    ("racker_baremetal-notaversion-py3-none-any.whl", None),
    ("index.html", None),
])
def test_release_from_filename(filename: str, expected: str | None) -> None:
    got = release_from_filename(filename, DISTRIBUTION)
    assert got == (V(expected) if expected else None)


def test_parse_simple_index() -> None:
    html = """<!DOCTYPE html><html><body>
    <a href="../../files/racker_baremetal-1.0.0-py3-none-any.whl#sha256=ab"
       >racker_baremetal-1.0.0-py3-none-any.whl</a>
    <a href="racker_baremetal-1.0.0.tar.gz">racker_baremetal-1.0.0.tar.gz</a>
    <a href="racker_baremetal-1.1.0-py3-none-any.whl"
       data-requires-python="&gt;=3.11">racker_baremetal-1.1.0-py3-none-any.whl</a>
    <a href="racker_baremetal-1.2.0-py3-none-any.whl"
       data-yanked="broken">racker_baremetal-1.2.0-py3-none-any.whl</a>
    <a href="other-9.0.0-py3-none-any.whl">other-9.0.0-py3-none-any.whl</a>
    <a href="racker-9.0.0-py3-none-any.whl">racker-9.0.0-py3-none-any.whl</a>
    <a href="https://x/racker_baremetal-1.3.0-py3-none-any.whl"></a>
    </body></html>"""
    got = parse_simple_index(html, DISTRIBUTION)
    assert got == [
        Release(V("1.0.0")),
        Release(V("1.1.0"), requires_python=">=3.11"),
        Release(V("1.2.0"), yanked=True),
        Release(V("1.3.0")),
    ]


def test_version_yanked_only_when_every_file_is() -> None:
    sdist, wheel = "racker_baremetal-1.0.0.tar.gz", "racker_baremetal-1.0.0-py3-none-any.whl"
    html = (f'<a href="{sdist}" data-yanked="">{sdist}</a>'
            f'<a href="{wheel}">{wheel}</a>')
    assert parse_simple_index(html, DISTRIBUTION) == [Release(V("1.0.0"))]


def test_releases_from_filenames() -> None:
    names = ["racker_baremetal-1.0.0-py3-none-any.whl", "racker_baremetal-1.0.0.tar.gz",
             "README", "racker_baremetal-0.9.0-py3-none-any.whl", "racker-9.0.0-py3-none-any.whl"]
    assert releases_from_filenames(names, DISTRIBUTION) == [Release(V("0.9.0")),
                                                            Release(V("1.0.0"))]


@pytest.mark.parametrize(("text", "expected"), [
    ("https://pypi.org/simple/", "https://pypi.org/simple/"),
    ("https://user:s3cret@host/simple/", "https://***@host/simple/"),
    ("https://token@host/simple/", "https://***@host/simple/"),
    ("Looking in https://u:p@a/x and http://b/y", "Looking in https://***@a/x and http://b/y"),
])
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


def test_format_versions() -> None:
    versions = [V(f"1.{i}.0") for i in range(25)]
    text = format_versions(versions, limit=3)
    assert text == "1.24.0, 1.23.0, 1.22.0 (and 22 older)"
    assert format_versions([]) == "none"


HASH = "ab" * 32


def test_parse_simple_files_hashes_and_links() -> None:
    html = f"""
    <a href="../../files/racker_baremetal-1.0.0-py3-none-any.whl#sha256={HASH.upper()}"
       >racker_baremetal-1.0.0-py3-none-any.whl</a>
    <a href="racker_baremetal-1.0.1-py3-none-any.whl#md5=00">whatever label</a>
    <a href="racker-0.4.0-py3-none-any.whl#sha256={HASH}"
       >racker_baremetal-9.0.0-py3-none-any.whl</a>
    """
    got = parse_simple_files(html, DISTRIBUTION, "https://u:t@idx/simple/racker-baremetal/")
    assert got == [
        DistFile("racker_baremetal-1.0.0-py3-none-any.whl",
                 "https://u:t@idx/files/racker_baremetal-1.0.0-py3-none-any.whl", V("1.0.0"),
                 sha256=HASH),
        DistFile("racker_baremetal-1.0.1-py3-none-any.whl",
                 "https://u:t@idx/simple/racker-baremetal/racker_baremetal-1.0.1-py3-none-any.whl",
                 V("1.0.1")),
    ]  # the foreign file is not ours, whatever its label says


def _df(name: str, sha: str | None = HASH, yanked: bool = False,
        requires: str | None = None) -> DistFile:
    version = release_from_filename(name, DISTRIBUTION)
    assert version is not None
    return DistFile(name, "https://idx/f/" + name, version, sha256=sha, yanked=yanked,
                    requires_python=requires)


FILES = [
    _df("racker_baremetal-1.0.0-py3-none-any.whl"),
    _df("racker_baremetal-1.0.0.tar.gz"),
    _df("racker_baremetal-1.0.1-py3-none-any.whl", sha=None),
    _df("racker_baremetal-1.0.2.tar.gz"),
    _df("racker_baremetal-1.0.3-cp311-cp311-manylinux_2_17_x86_64.whl"),
    _df("racker_baremetal-1.0.4-py313-none-any.whl"),
    _df("racker_baremetal-1.0.5-py3-none-any.whl", yanked=True),
    _df("racker_baremetal-1.0.5-1-py3-none-any.whl"),
    _df("racker_baremetal-1.0.6-py3-none-any.whl", requires=">=3.13"),
]


@pytest.mark.parametrize(("version", "expected", "error"), [
    ("1.0.0", "racker_baremetal-1.0.0-py3-none-any.whl", None),
    ("1.0.1", None, "publishes no sha256 for racker_baremetal-1.0.1-py3-none-any.whl"),
    ("1.0.2", None, "has no wheel for Python 3.11.2"),  # source archive only
    ("1.0.3", None, "has no wheel"),  # not pure Python
    ("1.0.4", None, "has no wheel"),  # needs Python 3.13
    ("1.0.5", "racker_baremetal-1.0.5-1-py3-none-any.whl", None),  # the one not yanked
    ("1.0.6", None, "has no wheel"),  # Requires-Python
])
def test_choose_wheel(version: str, expected: str | None, error: str | None) -> None:
    if error:
        with pytest.raises(RackerError, match=error) as exc:
            choose_wheel(FILES, V(version), python=V("3.11.2"), need_hash=True, index="idx")
        assert "nothing was installed" in str(exc.value) or "setup.py" in str(exc.value)
    else:
        got = choose_wheel(FILES, V(version), python=V("3.11.2"), need_hash=True, index="idx")
        assert got.filename == expected


def test_choose_wheel_from_a_folder_needs_no_hash() -> None:
    got = choose_wheel(FILES, V("1.0.1"), python=V("3.11.2"), need_hash=False, index="dir")
    assert got.filename == "racker_baremetal-1.0.1-py3-none-any.whl"


def test_source_only_releases_are_skipped_or_refused() -> None:
    releases = [Release(V("1.0.0")), Release(V("1.0.1"), wheel=False)]
    sel = select(Mode.UPDATE, V("1.0.0"), releases, python=V("3.11.2"))
    assert sel.target is None  # 1.0.1 exists only as a source archive
    with pytest.raises(RackerError, match=r"racker 1\.0\.1 is on idx only as a source archive"):
        select(Mode.GET, V("1.0.0"), releases, wanted="1.0.1", index="idx")
    with pytest.raises(InputError, match=r"series 1\.1 was not found"):
        select(Mode.GET, V("1.0.0"), [*releases, Release(V("1.1.0"), wheel=False)],
               wanted="1.1")
