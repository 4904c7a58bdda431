"""The failure policy's choices, and the ask prompt as the reference documented it."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.app.provision import Provisioner
from racker.model import OnFailure
from racker.paths import Paths
from racker.settings import Settings
from tests.unit.test_engine import FakeRack


class NoServices:
    """The failure policy needs no DHCP or boot server."""

    def run(self, *_args: object) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


def provisioner(tmp_path: Path, answers: list[str], prompts: list[str]) -> Provisioner:
    it: Iterator[str] = iter(answers)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    paths = Paths.from_env({"RACKER_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    store = Store(tmp_path / "db")
    return Provisioner(paths, Settings(), FakeRack(store), NoServices(), lambda: store,
                       io.StringIO(), ask)


@pytest.mark.parametrize(("policy", "expected"), [
    (OnFailure.RETRY, "retry"), (OnFailure.EXCLUDE, "exclude"), (OnFailure.CANCEL, "cancel")])
def test_fixed_policies_never_ask(tmp_path: Path, policy: OnFailure, expected: str) -> None:
    prompts: list[str] = []
    assert provisioner(tmp_path, [], prompts)._choose(policy, True) == expected
    assert prompts == []


@pytest.mark.parametrize(("answers", "can_exclude", "expected"), [
    ([""], True, "retry-once"),
    (["r"], True, "retry-once"),
    (["e"], True, "exclude-once"),
    (["c"], True, "cancel"),
    (["x", "E"], True, "exclude-once"),  # asked again after a wrong answer
    (["e", "c"], False, "cancel"),  # exclude is not offered without failed nodes
    ([], True, "cancel"),  # no terminal: end of input cancels
])
def test_ask(tmp_path: Path, answers: list[str], can_exclude: bool, expected: str) -> None:
    prompts: list[str] = []
    assert provisioner(tmp_path, answers, prompts)._choose(OnFailure.ASK, can_exclude) == expected
    if can_exclude:
        assert prompts[0] == "[r]etry, [e]xclude nodes from cluster, [c]ancel (default retry): "
    else:
        assert prompts[0] == "[r]etry, [c]ancel (default retry): "
