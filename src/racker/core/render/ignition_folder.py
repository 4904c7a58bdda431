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

_ENTRY = re.compile(r'(?:"([^"]+)"|([A-Za-z_][\w.-]*))\s*[=:]\s*\[([^\]]*)\]')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TEMPLATE = re.compile(r"\$\$\{|%%\{|\$\{|%\{")


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def parse_clc_snippets(text: str, source: str, variable: str = "clc_snippets",
                       ) -> dict[str, list[str]] | None:
    """The `clc_snippets` (or `installer_clc_snippets`) map of a terraform.tfvars /
    lokocfg.vars text; None when absent.

    Only the shape racker writes and operators extend is read: `"name" = ["path", …]` entries.
    """
    m = re.search(rf"^[ \t]*{re.escape(variable)}[ \t]*=[ \t]*\{{", text, re.MULTILINE)
    if m is None:
        return None
    end = text.find("}", m.end())
    if end < 0:
        raise InputError(f"{variable} has no closing '}}'",
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
            raise InputError(f"{variable} entry {name!r} has a path racker cannot read",
                             where=Where(file=source, line=_line_of(text, m.start()))) from err
    rest = _ENTRY.sub("", body).replace(",", "").strip()
    if rest:
        raise InputError(f"{variable} has an entry racker cannot read: {rest.splitlines()[0]!r}",
                         where=Where(file=source, line=_line_of(text, m.start())),
                         hint='write entries as "NODE_NAME" = ["cl/a.yaml", "cl/b.yaml"]')
    return out


def parse_string_list(text: str, variable: str) -> list[str] | None:
    """The value of `variable = ["a", "b"]` in a vars text; None when it is not there."""
    m = re.search(rf"^[ \t]*{re.escape(variable)}[ \t]*=[ \t]*\[([^\]]*)\]", text, re.MULTILINE)
    if m is None:
        return None
    try:
        return [json.loads(f'"{s}"') for s in _STRING.findall(m.group(1))]
    except ValueError:
        return None


def node_macs(text: str) -> dict[str, str]:
    """MAC → node name from a terraform.tfvars or lokocfg.vars text (empty when not there)."""
    out: dict[str, str] = {}
    for macs_var, names_var in (("node_macs", "node_names"),
                                ("controller_macs", "controller_names"),
                                ("worker_macs", "worker_names")):
        macs, names = parse_string_list(text, macs_var), parse_string_list(text, names_var)
        if macs and names and len(macs) == len(names):
            out.update(zip((m.lower().replace("-", ":") for m in macs), names, strict=True))
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
