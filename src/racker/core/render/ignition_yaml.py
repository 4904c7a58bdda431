"""Reading YAML for the CLC parser: mappings field by field, with file:line:column in errors.

Scalars follow go-yaml v2, which `ct` used: a string field takes any scalar's text as written
(`name: 123` is the name "123"), integers and booleans use YAML 1.1 (`mode: 0644` is octal,
`enabled: yes` is true), and `~`/`null`/nothing means "not set". Every key of a mapping must be
read by the parser, or `Map.finish()` reports it (typo hint, or what to use instead).
"""

from __future__ import annotations

import difflib

import yaml
from yaml.constructor import SafeConstructor

from racker.core.render.ignition_ir import ClcWarning
from racker.errors import InputError, Where

NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"


# Keys of the CLC spec that racker's transpiler does not translate, with what to do instead.
UNSUPPORTED: dict[str, str] = {
    "etcd": "run etcd from a systemd unit under systemd.units",
    "flannel": "run flannel from a systemd unit under systemd.units",
    "docker": "configure docker with a drop-in under systemd.units",
    "raid": "set up the array from a systemd unit, or provision it outside Ignition",
    "security": "put the CA certificate under storage.files",
    "local": "paste the file's text under contents.inline",
}

_SAFE = SafeConstructor()
# libyaml's composer when PyYAML was built with it (same nodes and marks, several times faster)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Ctx:
    """The file being read and the warnings found so far."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[ClcWarning] = []

    def where(self, node: yaml.Node) -> Where:
        """File, line and column (1-based) where `node` starts."""
        m = node.start_mark
        return Where(file=self.source, line=m.line + 1, column=m.column + 1)

    def error(self, node: yaml.Node, message: str, hint: str | None = None) -> InputError:
        """An InputError at `node` (returned, so callers `raise` it where it happens)."""
        return InputError(message, where=self.where(node), hint=hint)

    def warn(self, node: yaml.Node, message: str) -> None:
        """Record a warning at `node`."""
        self.warnings.append(ClcWarning(message, self.where(node)))


class Map:
    """A YAML mapping read field by field; `finish()` refuses the keys nobody asked for."""

    def __init__(self, node: yaml.Node, ctx: Ctx, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.error(node, f"{path or 'the document'} must be a mapping (key: value)")
        self.node, self.ctx, self.path = node, ctx, path
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ctx.error(k, f"{path or 'the document'} has a key that is not a plain word")
            if k.value in self.items:
                raise ctx.error(k, f"{self._sub(k.value)} is given twice")
            self.items[k.value] = (k, v)
        self.used: set[str] = set()

    def _sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    @property
    def line(self) -> int:
        """The 1-based line where the mapping starts."""
        return int(self.node.start_mark.line) + 1

    def value(self, key: str) -> yaml.Node | None:
        """The node under `key`, or None when absent or null."""
        self.used.add(key)
        kv = self.items.get(key)
        if kv is None or (isinstance(kv[1], yaml.ScalarNode) and kv[1].tag == NULL):
            return None
        return kv[1]

    def key_node(self, key: str) -> yaml.Node:
        """The node of `key` itself (for errors about the key), else the mapping's."""
        return self.items[key][0] if key in self.items else self.node

    def text(self, key: str, required: bool = False) -> str | None:
        """A text value (any scalar as written), None when absent unless `required`."""
        node = self.value(key)
        if node is None:
            if required:
                self._typo_for(key)
                raise self.ctx.error(self.node, f"{self._sub(key)} is required")
            return None
        if not isinstance(node, yaml.ScalarNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a text value")
        return str(node.value)

    def req(self, key: str) -> str:
        """A required text value."""
        text = self.text(key, required=True)
        assert text is not None
        return text

    def integer(self, key: str) -> int | None:
        """A YAML 1.1 integer (0644 is octal), None when absent."""
        node = self.value(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            hint = "write an octal mode without quotes, e.g. mode: 0644" if key == "mode" else None
            raise self.ctx.error(node, f"{self._sub(key)} must be an integer", hint)
        try:
            return int(_SAFE.construct_yaml_int(node))
        except (ValueError, IndexError) as e:  # e.g. `!!int ""` or `!!int x`
            raise self.ctx.error(node, f"{self._sub(key)} is not a valid integer") from e

    def flag(self, key: str) -> bool | None:
        """A YAML 1.1 boolean (true/false/yes/no/on/off), None when absent."""
        node = self.value(key)
        if node is None:
            return None
        if (not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL
                or str(node.value).lower() not in _SAFE.bool_values):
            raise self.ctx.error(node, f"{self._sub(key)} must be true or false")
        return bool(_SAFE.bool_values[str(node.value).lower()])

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of text values; a repeated entry is kept once, with a warning."""
        node = self.value(key)
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a list")
        out: list[str] = []
        for i, item in enumerate(node.value):
            if not isinstance(item, yaml.ScalarNode) or item.tag == NULL:
                raise self.ctx.error(item, f"{self._sub(key)}[{i}] must be a text value")
            if str(item.value) in out:  # Ignition refuses a config with a duplicate entry
                self.ctx.warn(item, f"{self._sub(key)}[{i}] repeats an earlier entry; racker "
                              "keeps one")
                continue
            out.append(str(item.value))
        return tuple(out)

    def sub(self, key: str) -> Map | None:
        """A nested mapping, None when absent."""
        node = self.value(key)
        return None if node is None else Map(node, self.ctx, self._sub(key))

    def subs(self, key: str) -> list[Map]:
        """A list of mappings, empty when absent."""
        node = self.value(key)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a list (items start with '- ')")
        return [Map(item, self.ctx, f"{self._sub(key)}[{i}]") for i, item in enumerate(node.value)]

    def _typo_for(self, key: str) -> None:
        """A missing key is most often misspelt: report the misspelling instead."""
        unread = [k for k in self.items if k not in self.used]
        close = difflib.get_close_matches(key, unread, n=1)
        if close:
            raise self.ctx.error(self.items[close[0]][0], f"unknown key {self._sub(close[0])}",
                                 hint=f"did you mean '{key}'?")

    def finish(self, known: tuple[str, ...] = ()) -> None:
        """Raise for the first key that was not read: unsupported CLC keys and typos alike."""
        for key, (knode, _) in self.items.items():
            if key in self.used:
                continue
            if key in UNSUPPORTED:
                raise self.ctx.error(
                    knode,
                    f"{self._sub(key)} is not supported by racker's Container Linux Config "
                    "transpiler",
                    hint=UNSUPPORTED[key],
                )
            close = difflib.get_close_matches(key, sorted(self.used | set(known)), n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                "known keys here: " + ", ".join(sorted(self.used | set(known))))
            raise self.ctx.error(knode, f"unknown key {self._sub(key)}", hint=hint)


def compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of `text` (None for an empty document); InputError with the line."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Where(file=source, line=mark.line + 1, column=mark.column + 1) if mark else Where(
            file=source)
        raise InputError(f"not valid YAML: {e.problem or e.context}", where=where) from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        code = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or " ")
        raise InputError(f"character #x{code:04x} is not allowed in YAML",
                         where=Where(file=source, line=line)) from e
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", where=Where(file=source)) from e
    except UnicodeEncodeError as e:  # lone surrogates cannot be UTF-8 encoded for libyaml
        raise InputError(f"not valid text: {e.reason}", where=Where(file=source)) from e
