from __future__ import annotations

import base64

import pytest

from racker.app.lokomotive import health_title, joined, line, parse_kubeconfig
from racker.errors import InputError
from racker.model import Options, Provision
from tests.renderplans import build_plan

KUBECONFIG = f"""apiVersion: v1
clusters:
- name: lokomotive
  cluster:
    server: https://lokomotive.k8s.localdomain:6443/
    certificate-authority-data: {base64.b64encode(b"CA").decode()}
users:
- name: admin
  user:
    client-certificate-data: {base64.b64encode(b"CERT").decode()}
    client-key-data: {base64.b64encode(b"KEY").decode()}
- name: bot
  user: {{token: abc}}
contexts:
- name: other
  context: {{cluster: lokomotive, user: bot}}
- name: admin@lokomotive
  context: {{cluster: lokomotive, user: admin}}
current-context: admin@lokomotive
"""


def test_parse_kubeconfig_current_context() -> None:
    a = parse_kubeconfig(KUBECONFIG, "kubeconfig")
    assert a.server == "https://lokomotive.k8s.localdomain:6443"
    assert (a.ca_data, a.cert_data, a.key_data, a.token) == (b"CA", b"CERT", b"KEY", None)


@pytest.mark.parametrize("text", ["", "clusters: 3", "contexts: [{name: x}]", ": ["])
def test_bad_kubeconfig_names_the_file(text: str) -> None:
    with pytest.raises(InputError, match="kubeconfig") as e:
        parse_kubeconfig(text, "/x/kubeconfig")
    assert "/x/kubeconfig" in str(e.value)


def test_joined_accepts_full_and_short_names() -> None:
    plan = build_plan(4, Options(provision=Provision.LOKOMOTIVE))
    full, short = plan.nodes[0].name, plan.nodes[1].name.split(".")[0]
    assert joined(plan, [full, short, "stranger"]) == {plan.nodes[0].mac, plan.nodes[1].mac}


def test_stage_texts() -> None:
    assert health_title(3, 4) == "Cluster health check (3/4 nodes seen)"
    assert line("OS installation via PXE", 4, 4, True) == \
        "➤ OS installation via PXE (4/4)... ✓ done"
    assert line("OS installation via PXE", 1, 4, False).endswith("× failed")
