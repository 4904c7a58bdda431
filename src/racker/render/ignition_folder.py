"""Pure helpers to read a configuration folder's node configs the way Terraform did.

In `~/flatcar-container-linux` a node's final config was Terraform's
`ct_config(content = templatefile("templates/base.yaml.tmpl", {ssh_keys = jsonencode([key])}),
snippets = clc_snippets[name])`; in `~/lokomotive` the snippets of `clc_snippets[name]` were
added by lokoctl to its own controller/worker configs. These functions read the two inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from racker.errors import InputError, Where

_BLOCK = re.compile(r"^[ \t]*clc_snippets[ \t]*=[ \t]*\{", re.MULTILINE)
_ENTRY = re.compile(r'(?:"([^"]+)"|([A-Za-z_][\w.-]*))\s*[=:]\s*\[([^\]]*)\]')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TEMPLATE = re.compile(r"\$\$\{|%%\{|\$\{|%\{")


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def parse_clc_snippets(text: str, source: str) -> dict[str, list[str]] | None:
    """The `clc_snippets` map of a terraform.tfvars / lokocfg.vars text; None when absent.

    Only the shape racker writes and operators extend is read: `"name" = ["path", …]` entries.
    """
    m = _BLOCK.search(text)
    if m is None:
        return None
    end = text.find("}", m.end())
    if end < 0:
        raise InputError("clc_snippets has no closing '}'",
                         where=Where(file=source, line=_line_of(text, m.start())))
    body = text[m.end():end]
    lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith(("#", "//"))]
    body = "\n".join(lines)
    out: dict[str, list[str]] = {}
    for e in _ENTRY.finditer(body):
        name = e.group(1) or e.group(2)
        try:
            out[name] = [json.loads(f'"{s}"') for s in _STRING.findall(e.group(3))]
        except ValueError as err:
            raise InputError(f"clc_snippets entry {name!r} has a path racker cannot read",
                             where=Where(file=source, line=_line_of(text, m.start()))) from err
    rest = _ENTRY.sub("", body).replace(",", "").strip()
    if rest:
        raise InputError(f"clc_snippets has an entry racker cannot read: {rest.splitlines()[0]!r}",
                         where=Where(file=source, line=_line_of(text, m.start())),
                         hint='write entries as "NODE_NAME" = ["cl/a.yaml", "cl/b.yaml"]')
    return out


def render_template(text: str, source: str, variables: Mapping[str, str]) -> str:
    """Render a Terraform `templatefile` that only interpolates plain variables.

    `${name}` is replaced by `variables[name]`; `$${` and `%%{` are the escapes for a literal
    `${` and `%{`. Directives (`%{ if … }`) and expressions are refused with the line.
    """
    out: list[str] = []
    pos = 0
    for m in _TEMPLATE.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        token = m.group(0)
        if token in ("$${", "%%{"):
            out.append(token[1:])
            pos = m.end()
            continue
        where = Where(file=source, line=_line_of(text, m.start()))
        close = text.find("}", m.end())
        if close < 0:
            raise InputError(f"unterminated {token} in the template", where=where)
        expr = text[m.end():close].strip()
        if token == "%{":
            raise InputError(f"template directive %{{{expr}}} is not supported", where=where,
                             hint="racker renders plain ${variable} templates only")
        if expr not in variables:
            raise InputError(f"unknown template variable ${{{expr}}}", where=where,
                             hint="racker knows: " + ", ".join(sorted(variables)))
        out.append(variables[expr])
        pos = close + 1
    out.append(text[pos:])
    return "".join(out)


def base_template_variables(ssh_public_key: str) -> dict[str, str]:
    """The variables flatcar.tf passes to templates/base.yaml.tmpl."""
    return {"ssh_keys": json.dumps([ssh_public_key.strip()])}
