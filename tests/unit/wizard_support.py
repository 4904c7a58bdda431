"""Shared helpers of the wizard tests: racks built from racker.model, a scripted Asker."""

from __future__ import annotations

from pathlib import Path

from racker.core.bootstrap.wizard import Question
from racker.model import Inventory, Node


def mac(i: int, kind: int) -> str:
    """A distinct MAC per node index and kind (1 primary, 2 BMC, 3 secondary)."""
    return f"02:00:00:00:{kind:02x}:{i:02x}"


def rack(*types: str, secondary: bool = True) -> Inventory:
    """An inventory with one node per entry of `types` (its node type), in that order."""
    nodes = tuple(
        Node(mac(i, 1), mac(i, 2), mac(i, 3) if secondary else None, t, f"slot {i}", i + 2)
        for i, t in enumerate(types, start=1)
    )
    mgmt = Node("02:00:00:00:99:01", "02:00:00:00:99:02", "02:00:00:00:99:03", "", "mgmt", 2)
    return Inventory(path=Path("nodes.csv"), management=mgmt, nodes=nodes, pxe_interface="eth1")


class Script:
    """An Asker that plays (question name, raw answer) pairs and records what it was told."""

    def __init__(self, *steps: tuple[str, str]) -> None:
        self.steps = list(steps)
        self.asked: list[Question] = []
        self.told: list[str] = []

    def ask(self, question: Question) -> str:
        self.asked.append(question)
        assert self.steps, f"unexpected question {question.name!r}"
        name, answer = self.steps.pop(0)
        assert question.name == name, f"asked {question.name!r}, the script expected {name!r}"
        return answer

    def tell(self, text: str) -> None:
        self.told.append(text)

    def done(self) -> bool:
        return not self.steps
