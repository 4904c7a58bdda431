"""Reading a configuration folder's inputs: the clc_snippets map and the base template."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.core.render.ignition_folder import (
    base_template_variables,
    node_macs,
    parse_clc_snippets,
    parse_string_list,
    render_template,
)
from racker.errors import InputError, RackerError

TFVARS = """\
asset_dir = "/opt/racker-state/flatcar-assets"
node_macs = ["52:54:00:aa:bb:01", "52:54:00:aa:bb:02"]
node_names = ["node-0", "node-1"]
matchbox_addr = "172.24.213.1"
clc_snippets = {
"node-0" = ["cl/node-0.yaml", "cl/node-0-custom.yaml"]
"node-1" = ["cl/node-1.yaml", "cl/node-1-custom.yaml"]

}
installer_clc_snippets = {
"node-0" = ["cl/node-0-custom.yaml"]
}
"""


@pytest.mark.parametrize(("text", "expected"), [
    (TFVARS, {"node-0": ["cl/node-0.yaml", "cl/node-0-custom.yaml"],
              "node-1": ["cl/node-1.yaml", "cl/node-1-custom.yaml"]}),
    ('clc_snippets = {\n  "lk-controller-0.k8s.localdomain" = [\n    "cl/a.yaml",\n'
     '    "cl/b.yaml",\n  ],\n  # extra for later\n  lk-worker-0 = ["cl/c.yaml"]\n}\n',
     {"lk-controller-0.k8s.localdomain": ["cl/a.yaml", "cl/b.yaml"],
      "lk-worker-0": ["cl/c.yaml"]}),
    ("clc_snippets = {}\n", {}),
    ('node_names = ["a"]\n', None),
    ('x = 1\n  clc_snippets={"n"=["p\\"q.yaml"]}\n', {"n": ['p"q.yaml']}),
])
def test_parse_clc_snippets(text: str, expected: dict[str, list[str]] | None) -> None:
    assert parse_clc_snippets(text, "terraform.tfvars") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("a = 1\nclc_snippets = {\n  \"n\" = [\"x\"]\n", "terraform.tfvars:2: clc_snippets has no"),
    ("clc_snippets = {\n  \"n\" = \"x\"\n}\n", "terraform.tfvars:1: clc_snippets has an entry"),
    ('clc_snippets = {\n  "n" = ["bad \\q escape"]\n}\n', "terraform.tfvars:1: clc_snippets"),
])
def test_parse_clc_snippets_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_clc_snippets(text, "terraform.tfvars")
    assert str(exc.value).startswith(message)


def test_render_base_template_like_terraform() -> None:
    text = "passwd:\n  users:\n    - name: core\n      ssh_authorized_keys: ${ssh_keys}\n" \
           "# literal $${not_a_var} and %%{ also }\n"
    out = render_template(text, "base.yaml.tmpl",
                          base_template_variables("ssh-rsa AAAA root@mgmt\n"))
    assert 'ssh_authorized_keys: ["ssh-rsa AAAA root@mgmt"]' in out
    assert "literal ${not_a_var} and %{ also }" in out
    assert render_template("${ ssh_keys }", "t", {"ssh_keys": "K"}) == "K"


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\nb: ${other}\n", "t.tmpl:2: unknown template variable ${other}"),
    ("a: ${ssh_keys\n", "t.tmpl:1: unterminated ${"),
    ("%{ if true }x%{ endif }", "t.tmpl:1: template directive"),
])
def test_render_template_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        render_template(text, "t.tmpl", {"ssh_keys": "[]"})
    assert str(exc.value).startswith(message)


def test_ssh_key_is_json_list_without_trailing_newline() -> None:
    assert json.loads(base_template_variables("ssh-ed25519 K a@b\n")["ssh_keys"]) == [
        "ssh-ed25519 K a@b"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('clc_snippets ={}[]"\\#/\n,ab.-')), max_size=60))
def test_arbitrary_vars_text_raises_only_racker_errors(text: str) -> None:
    with contextlib.suppress(RackerError):
        parse_clc_snippets(text, "v")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("${}%ssh_keys \n")), max_size=40))
def test_arbitrary_template_raises_only_racker_errors(text: str) -> None:
    with contextlib.suppress(RackerError):
        render_template(text, "t", {"ssh_keys": "[]"})


def test_node_macs_from_tfvars_and_lokocfg_vars() -> None:
    assert node_macs(TFVARS) == {"52:54:00:aa:bb:01": "node-0", "52:54:00:aa:bb:02": "node-1"}
    loko = ('controller_macs = ["02:00:00:00:00:01"]\nworker_macs = ["02-00-00-00-00-02", '
            '"02:00:00:00:00:03"]\ncontroller_names = ["c-0.d"]\n'
            'worker_names = ["w-0.d", "w-1.d"]\n')
    assert node_macs(loko) == {"02:00:00:00:00:01": "c-0.d", "02:00:00:00:00:02": "w-0.d",
                               "02:00:00:00:00:03": "w-1.d"}
    assert node_macs('node_macs = ["a"]\nnode_names = []\n') == {}
    assert parse_string_list("worker_names = []\n", "worker_names") == []
    assert parse_string_list("x = 1\n", "worker_names") is None
