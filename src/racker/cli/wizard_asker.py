"""The wizard on a terminal: questionary prompts (arrows, type to filter, `?` for help), $EDITOR.

The question graph lives in racker.core.bootstrap.wizard; this adapter only shows one question
and returns the raw answer, as the `racker.core.bootstrap.wizard.Asker` protocol says.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import questionary
from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

from racker.core.bootstrap.wizard import HELP, Kind, Question

_SELECT_HINT = "[Use arrows to move, type to filter{help}]"


def _with_help_key(prompt: Any) -> Any:
    """Make `?` end the prompt with HELP, so the wizard shows the help and asks again."""
    keys = KeyBindings()

    @keys.add("?", eager=True)
    def _help(event: Any) -> None:
        # The prompt is shown again after the help: do not leave this one on the screen.
        event.app.erase_when_done = True
        event.app.exit(result=HELP)

    app = prompt.application
    app.key_bindings = merge_key_bindings([app.key_bindings, keys])
    return prompt


def _default_on_enter(prompt: Any, default: str) -> Any:
    """Enter on an empty line answers the default and shows it, as the answer of the prompt."""
    keys = KeyBindings()

    @keys.add("enter", eager=True)
    def _accept(event: Any) -> None:
        buffer = event.app.current_buffer
        if not buffer.text.strip():
            buffer.text = default
        buffer.validate_and_handle()

    app = prompt.application
    app.key_bindings = merge_key_bindings([app.key_bindings, keys])
    return prompt


def edit_text(text: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """Open $VISUAL or $EDITOR on `text` in a private temporary file.

    Returns the edited text, or ("", reason) when no editor could be run (the wizard then goes
    back to the question before).
    """
    editor = env.get("VISUAL") or env.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(prefix="racker-ip-addrs-", suffix=".ini")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            done = subprocess.run([*shlex.split(editor), name], check=False)
        except OSError as e:
            return "", f"could not run the editor {editor!r}: {e.strerror}; set $EDITOR"
        if done.returncode != 0:
            return "", f"the editor {editor!r} exited with status {done.returncode}"
        return path.read_text(encoding="utf-8", errors="replace"), None
    finally:
        path.unlink(missing_ok=True)


class QuestionaryAsker:
    """Asks on the terminal. Ctrl-C raises KeyboardInterrupt (racker exits with 130)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env

    def tell(self, text: str) -> None:
        """Print a line (help, a refused answer) between prompts."""
        print(text, flush=True)

    def ask(self, question: Question) -> str:
        """Show `question` with the prompt of its kind and return the raw answer."""
        q = question
        hint = " [? for help]" if q.help else ""
        if q.kind is Kind.SELECT:
            prompt = questionary.select(
                q.message,
                choices=[questionary.Choice(title=c.display, value=c.value) for c in q.choices],
                default=q.default or None,
                instruction=_SELECT_HINT.format(help=", ? for more help" if q.help else ""),
                use_search_filter=True,
                use_jk_keys=False,
            )
            return str(_with_help_key(prompt).unsafe_ask())
        if q.kind is Kind.CONFIRM:
            prompt = questionary.confirm(q.message + hint, default=q.default == "true")
            answer = _with_help_key(prompt).unsafe_ask()
            return HELP if answer == HELP else ("true" if answer else "false")
        if q.kind is Kind.EDITOR:
            answer = str(questionary.text(q.message + hint + " [Enter to launch editor]")
                         .unsafe_ask())
            if answer.strip() == HELP:
                return HELP
            text, problem = edit_text(q.default, self.env)
            if problem:
                self.tell("✗ " + problem)
            return text
        shown = f" ({q.default})" if q.default else ""
        if q.kind is Kind.SECRET:
            return str(questionary.password(q.message + hint + shown).unsafe_ask())
        prompt = questionary.text(q.message + hint + shown)
        if q.default:
            prompt = _default_on_enter(prompt, q.default)
        return str(prompt.unsafe_ask())
