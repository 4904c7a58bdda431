"""Container Linux Config → Ignition 3.3.0: translation, merging, errors with file and line."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.core.render.ignition import data_url, merge, transpile, transpile_one
from racker.errors import InputError, RackerError

V = {"version": "3.3.0"}
SHA512 = ("sha512-cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")

# (case id, CLC text, expected Ignition config). Also validated by ignition-validate in
# tests/integration/test_ignition_validate.py.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("empty", "", {"ignition": V}),
    ("only-comment", "# nothing here\n", {"ignition": V}),
    ("unit", """\
systemd:
  units:
    - name: hello.service
      enabled: true
      contents: |
        [Service]
        ExecStart=/usr/bin/echo hi
        [Install]
        WantedBy=multi-user.target
""", {"ignition": V, "systemd": {"units": [{
        "name": "hello.service", "enabled": True,
        "contents": "[Service]\nExecStart=/usr/bin/echo hi\n[Install]\n"
                    "WantedBy=multi-user.target\n",
    }]}}),
    ("unit-mask-dropins", """\
systemd:
  units:
    - name: update-engine.service
      mask: yes
    - name: containerd.service
      dropins:
        - name: 10-limits.conf
          contents: |
            [Service]
            LimitNOFILE=1048576
""", {"ignition": V, "systemd": {"units": [
        {"name": "update-engine.service", "mask": True},
        {"name": "containerd.service", "dropins": [
            {"name": "10-limits.conf", "contents": "[Service]\nLimitNOFILE=1048576\n"}]},
    ]}}),
    ("unit-enabled-false", """\
systemd:
  units: [{name: locksmithd.service, enabled: false}]
""", {"ignition": V, "systemd": {"units": [{"name": "locksmithd.service", "enabled": False}]}}),
    ("networkd", """\
networkd:
  units:
    - name: 10-priv-stable.network
      contents: |
        [Match]
        MACAddress=52:54:00:aa:bb:01
      dropins:
        - name: 50-mtu.conf
          contents: "[Link]\\nMTUBytes=9000\\n"
""", {"ignition": V, "storage": {"files": [
        {"path": "/etc/systemd/network/10-priv-stable.network", "overwrite": True,
         "contents": {"source": "data:,%5BMatch%5D%0AMACAddress=52:54:00:aa:bb:01%0A"},
         "mode": 420},
        {"path": "/etc/systemd/network/10-priv-stable.network.d/50-mtu.conf", "overwrite": True,
         "contents": {"source": "data:,%5BLink%5D%0AMTUBytes=9000%0A"}, "mode": 420},
    ]}}),
    ("file-inline-octal-mode-root-fs", """\
storage:
  files:
    - path: /etc/motd
      filesystem: root
      mode: 0600
      contents:
        inline: "Hello 100% #1"
""", {"ignition": V, "storage": {"files": [
        {"path": "/etc/motd", "overwrite": True,
         "contents": {"source": "data:,Hello%20100%25%20%231"}, "mode": 384}]}}),
    ("file-defaults", """\
storage:
  files:
    - path: /var/empty-file
""", {"ignition": V, "storage": {"files": [
        {"path": "/var/empty-file", "overwrite": True, "contents": {"source": "data:,"},
         "mode": 420}]}}),
    ("file-decimal-mode-owner", """\
storage:
  files:
    - path: /home/core/.profile
      mode: 420
      overwrite: false
      user: {name: core}
      group: {id: 500}
      contents: {inline: "export A=1\\n"}
""", {"ignition": V, "storage": {"files": [
        {"path": "/home/core/.profile", "overwrite": False,
         "contents": {"source": "data:,export%20A=1%0A"}, "mode": 420,
         "user": {"name": "core"}, "group": {"id": 500}}]}}),
    ("file-remote", """\
storage:
  files:
    - path: /opt/bin/tool
      mode: 0755
      contents:
        remote:
          url: http://172.24.213.1:8080/assets/tool.gz
          compression: gzip
          verification:
            hash:
              function: sha512
              sum: cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e
""", {"ignition": V, "storage": {"files": [
        {"path": "/opt/bin/tool", "overwrite": True,
         "contents": {"source": "http://172.24.213.1:8080/assets/tool.gz",
                      "compression": "gzip", "verification": {"hash": SHA512}},
         "mode": 493}]}}),
    ("file-append", """\
storage:
  files:
    - path: /etc/environment
      append: true
      contents: {inline: "FOO=bar\\n"}
""", {"ignition": V, "storage": {"files": [
        {"path": "/etc/environment", "append": [{"source": "data:,FOO=bar%0A"}],
         "mode": 420}]}}),
    ("directories-links", """\
storage:
  directories:
    - path: /opt/racker
    - path: /var/lib/secret
      mode: 0700
      overwrite: true
  links:
    - path: /etc/localtime
      target: /usr/share/zoneinfo/UTC
      overwrite: true
    - path: /opt/hard
      target: /opt/racker/x
      hard: true
""", {"ignition": V, "storage": {
        "directories": [{"path": "/opt/racker", "mode": 493},
                        {"path": "/var/lib/secret", "overwrite": True, "mode": 448}],
        "links": [{"path": "/etc/localtime", "overwrite": True,
                   "target": "/usr/share/zoneinfo/UTC"},
                  {"path": "/opt/hard", "target": "/opt/racker/x", "hard": True}]}}),
    ("filesystems", """\
storage:
  filesystems:
    - name: root
      mount:
        device: /dev/disk/by-label/ROOT
        format: ext4
        wipe_filesystem: true
        label: ROOT
    - mount:
        device: /dev/sdb
        format: xfs
        options: [-m, bigtime=1]
        uuid: 1b4e28ba-2fa1-11d2-883f-0016d3cca427
""", {"ignition": V, "storage": {"filesystems": [
        {"device": "/dev/disk/by-label/ROOT", "format": "ext4", "wipeFilesystem": True,
         "label": "ROOT"},
        {"device": "/dev/sdb", "format": "xfs", "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
         "options": ["-m", "bigtime=1"]}]}}),
    ("top-level-filesystems", """\
filesystems:
  - name: root
    mount:
      device: /dev/disk/by-label/ROOT
      format: ext4
      wipe_filesystem: true
      label: ROOT
""", {"ignition": V, "storage": {"filesystems": [
        {"device": "/dev/disk/by-label/ROOT", "format": "ext4", "wipeFilesystem": True,
         "label": "ROOT"}]}}),
    ("disks", """\
storage:
  disks:
    - device: /dev/sdb
      wipe_table: true
      partitions:
        - label: data
          number: 1
          size: 2GiB
          start: 1024KiB
          type_guid: linux_filesystem_data
        - label: rest
""", {"ignition": V, "storage": {"disks": [
        {"device": "/dev/sdb", "wipeTable": True, "partitions": [
            {"label": "data", "number": 1, "sizeMiB": 2048, "startMiB": 1,
             "typeGuid": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
            {"label": "rest"}]}]}}),
    ("users-groups", """\
passwd:
  users:
    - name: core
      ssh_authorized_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO operator@mgmt
      groups: [sudo, docker]
    - name: ops
      password_hash: $6$salt$hash
      uid: 1500
      home_dir: /home/ops
      shell: /bin/bash
      no_create_home: false
  groups:
    - name: ops
      gid: 1500
""", {"ignition": V, "passwd": {
        "users": [
            {"name": "core",
             "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO operator@mgmt"],
             "groups": ["sudo", "docker"]},
            {"name": "ops", "passwordHash": "$6$salt$hash", "uid": 1500, "homeDir": "/home/ops",
             "noCreateHome": False, "shell": "/bin/bash"}],
        "groups": [{"name": "ops", "gid": 1500}]}}),
    ("ssh-keys-json-flow", 'passwd:\n  users:\n    - name: core\n'
     '      ssh_authorized_keys: ["ssh-rsa AAAAB3 root@mgmt"]\n',
     {"ignition": V, "passwd": {"users": [
         {"name": "core", "sshAuthorizedKeys": ["ssh-rsa AAAAB3 root@mgmt"]}]}}),
    ("ignition-section", """\
ignition:
  config:
    append:
      - source: http://172.24.213.1:8080/extra.ign
        verification:
          hash:
            function: sha256
            sum: abababababababababababababababababababababababababababababababab
  timeouts:
    http_response_headers: 20
    http_total: 600
""", {"ignition": {"version": "3.3.0",
                   "config": {"merge": [{"source": "http://172.24.213.1:8080/extra.ign",
                                         "verification": {"hash": "sha256-" + "ab" * 32}}]},
                   "timeouts": {"httpResponseHeaders": 20, "httpTotal": 600}}}),
    ("update-locksmith", """\
update:
  group: Stable
  server: https://updates.example.com/v1/update/
locksmith:
  reboot_strategy: etcd-lock
  window_start: Sun 04:00
  window_length: 1h
""", {"ignition": V, "storage": {"files": [
        {"path": "/etc/flatcar/update.conf", "overwrite": True,
         "contents": {"source": "data:,GROUP=stable%0ASERVER=https://updates.example.com/v1/"
                                "update/%0AREBOOT_STRATEGY=%22etcd-lock%22%0A"
                                "LOCKSMITHD_REBOOT_WINDOW_START=%22Sun%2004:00%22%0A"
                                "LOCKSMITHD_REBOOT_WINDOW_LENGTH=%221h%22%0A"},
         "mode": 420}]}}),
    ("locksmith-off", "locksmith:\n  reboot_strategy: \"off\"\n", {"ignition": V, "storage": {
        "files": [{"path": "/etc/flatcar/update.conf", "overwrite": True,
                   "contents": {"source": "data:,REBOOT_STRATEGY=%22off%22%0A"}, "mode": 420}]}}),
    ("name-as-number", "systemd:\n  units:\n    - name: 123.service\n",
     {"ignition": V, "systemd": {"units": [{"name": "123.service"}]}}),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES],
                         ids=[c[0] for c in CASES])
def test_translate(text: str, expected: dict[str, Any]) -> None:
    assert transpile_one(text, "case.yaml").config == expected


def test_warnings_for_what_racker_reads_its_own_way() -> None:
    text = ("systemd:\n  units:\n    - name: a.service\n      enable: true\n"
            "filesystems:\n  - mount: {device: /dev/sda1, format: ext4}\n")
    result = transpile_one(text, "cl/node-0.yaml")
    assert result.config["systemd"]["units"] == [{"name": "a.service", "enabled": True}]
    msgs = [str(w) for w in result.warnings]
    assert msgs[0].startswith("cl/node-0.yaml:4:7: warning: systemd.units[0].enable")
    assert msgs[1].startswith("cl/node-0.yaml:5:1: warning: filesystems belongs under storage")


@pytest.mark.parametrize(("text", "source"), [
    ("a b", "data:,a%20b"),
    ("50%\n", "data:,50%25%0A"),
    ("key=v;x/y?z:@&+$,", "data:,key=v;x/y?z:@&+$,"),
    ("tab\there #hash \"q\" 'a' [b] {c} <d> \\", "data:,tab%09here%20%23hash%20%22q%22%20%27a%27"
     "%20%5Bb%5D%20%7Bc%7D%20%3Cd%3E%20%5C"),
    ("grüße", "data:,gr%C3%BC%C3%9Fe"),
])
def test_data_url_escaping(text: str, source: str) -> None:
    assert data_url(text) == source


# --- merging snippets in order ----------------------------------------------------------------

BASE = """\
storage:
  files:
    - path: /etc/hosts
      mode: 0644
      contents: {inline: "127.0.0.1 localhost\\n"}
    - path: /opt/flag
systemd:
  units:
    - name: a.service
      enabled: true
      contents: "[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n"
      dropins:
        - {name: 10-a.conf, contents: "[Service]\\nNice=1\\n"}
passwd:
  users:
    - name: core
      ssh_authorized_keys: [key-1, key-2]
"""

MERGES: list[tuple[str, str, dict[str, Any]]] = [
    ("file-same-path-replaced", """\
storage:
  files:
    - path: /etc/hosts
      mode: 0600
      contents: {inline: "10.0.0.1 x\\n"}
""", {"files": [
        {"path": "/etc/hosts", "overwrite": True, "contents": {"source": "data:,10.0.0.1%20x%0A"},
         "mode": 384},
        {"path": "/opt/flag", "overwrite": True, "contents": {"source": "data:,"},
         "mode": 420}]}),
    ("link-removes-file-at-same-path", """\
storage:
  links: [{path: /opt/flag, target: /etc/hosts}]
""", {"files": [
        {"path": "/etc/hosts", "overwrite": True,
         "contents": {"source": "data:,127.0.0.1%20localhost%0A"}, "mode": 420}],
         "links": [{"path": "/opt/flag", "target": "/etc/hosts"}]}),
    ("new-file-appended", "storage:\n  files: [{path: /z}]\n", {"files": [
        {"path": "/etc/hosts", "overwrite": True,
         "contents": {"source": "data:,127.0.0.1%20localhost%0A"}, "mode": 420},
        {"path": "/opt/flag", "overwrite": True, "contents": {"source": "data:,"}, "mode": 420},
        {"path": "/z", "overwrite": True, "contents": {"source": "data:,"}, "mode": 420}]}),
]


@pytest.mark.parametrize(("child", "storage"), [(c, s) for _, c, s in MERGES],
                         ids=[m[0] for m in MERGES])
def test_merge_storage(child: str, storage: dict[str, Any]) -> None:
    out = transpile([("base.yaml", BASE), ("child.yaml", child)]).config
    assert out["storage"] == storage


def test_merge_unit_field_by_field_and_dropins_by_name() -> None:
    child = """\
systemd:
  units:
    - name: a.service
      enabled: false
      dropins:
        - {name: 10-a.conf, contents: "[Service]\\nNice=5\\n"}
        - {name: 20-b.conf, contents: "[Service]\\nNice=6\\n"}
    - name: b.service
      mask: true
"""
    units = transpile([("base.yaml", BASE), ("child.yaml", child)]).config["systemd"]["units"]
    assert units == [
        {"name": "a.service", "enabled": False,
         "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
         "dropins": [{"name": "10-a.conf", "contents": "[Service]\nNice=5\n"},
                     {"name": "20-b.conf", "contents": "[Service]\nNice=6\n"}]},
        {"name": "b.service", "mask": True},
    ]


def test_merge_ssh_keys_union_in_order() -> None:
    child = "passwd:\n  users:\n    - {name: core, ssh_authorized_keys: [key-2, key-3]}\n" \
            "    - {name: ops}\n"
    users = transpile([("base.yaml", BASE), ("c.yaml", child)]).config["passwd"]["users"]
    assert users == [{"name": "core", "sshAuthorizedKeys": ["key-1", "key-2", "key-3"]},
                     {"name": "ops"}]


def test_merge_three_snippets_later_wins_and_empty_snippet_changes_nothing() -> None:
    one = "storage:\n  files: [{path: /a, contents: {inline: one}}]\n"
    two = "storage:\n  files: [{path: /a, contents: {inline: two}}]\n"
    out = transpile([("1", one), ("2", "\n"), ("3", two), ("4", "")]).config
    assert out["storage"]["files"][0]["contents"] == {"source": "data:,two"}


def test_merge_file_append_lists_concatenate() -> None:
    a = {"storage": {"files": [{"path": "/e", "append": [{"source": "data:,x"}]}]}}
    b = {"storage": {"files": [{"path": "/e", "append": [{"source": "data:,x"}]}]}}
    assert merge(a, b)["storage"]["files"][0]["append"] == [{"source": "data:,x"}] * 2


def test_merge_filesystems_by_device() -> None:
    a = {"storage": {"filesystems": [{"device": "/dev/sda", "format": "ext4"}]}}
    b = {"storage": {"filesystems": [{"device": "/dev/sda", "format": "xfs", "label": "D"},
                                     {"device": "/dev/sdb", "format": "ext4"}]}}
    assert merge(a, b)["storage"]["filesystems"] == [
        {"device": "/dev/sda", "format": "xfs", "label": "D"},
        {"device": "/dev/sdb", "format": "ext4"}]


@given(st.sampled_from([c[2] for c in CASES if c[0] != "file-append"]))
def test_merge_with_itself_or_nothing_is_identity(config: dict[str, Any]) -> None:
    # (a file's `append` list is the one list Ignition concatenates, see the test above)
    assert merge(config, {}) == config
    assert merge({}, config) == config
    assert merge(config, config) == config


# --- errors name the file, the line and the key ---------------------------------------------

ERRORS: list[tuple[str, str, str, str]] = [
    # (case id, CLC text, expected "file:line[:col]" prefix, a part of the message)
    ("typo-top-level", "systemd:\n  units: []\nsystmd: {}\n", "n.yaml:3:1",
     "unknown key systmd"),
    ("typo-nested", "passwd:\n  users:\n    - name: core\n      ssh_authorized_key: [k]\n",
     "n.yaml:4:7", "unknown key passwd.users[0].ssh_authorized_key"),
    ("unsupported-etcd", "etcd:\n  version: 3.5\n", "n.yaml:1:1", "etcd is not supported"),
    ("unsupported-local", "storage:\n  files:\n    - path: /a\n      contents: {local: f}\n",
     "n.yaml:4:18", "storage.files[0].contents.local is not supported"),
    ("mode-quoted", "storage:\n  files:\n    - path: /a\n      mode: '0644'\n", "n.yaml:4:13",
     "mode must be an integer"),
    ("mode-too-big", "storage:\n  files:\n    - path: /a\n      mode: 99999\n", "n.yaml:4:7",
     "is not a file mode"),
    ("relative-path", "storage:\n  files:\n    - path: etc/hosts\n", "n.yaml:3:7",
     "must be absolute"),
    ("other-filesystem", "storage:\n  files:\n    - path: /a\n      filesystem: oem\n",
     "n.yaml:4:7", "filesystem 'oem' is not supported"),
    ("duplicate-path", "storage:\n  files:\n    - path: /a\n    - path: /b\n    - path: /a\n",
     "n.yaml:5", "path /a is given twice (first on line 3)"),
    ("duplicate-networkd-vs-file", "networkd:\n  units: [{name: x.network, contents: a}]\n"
     "storage:\n  files:\n    - path: /etc/systemd/network/x.network\n", "n.yaml:",
     "is given twice"),
    ("duplicate-unit", "systemd:\n  units:\n    - name: a.service\n    - name: a.service\n",
     "n.yaml:4", "systemd unit a.service is given twice"),
    ("duplicate-key", "systemd:\n  units: []\nsystemd:\n  units: []\n", "n.yaml:3:1",
     "systemd is given twice"),
    ("bad-yaml", "storage:\n  files:\n    - path: /a\n   bad: [\n", "n.yaml:", "not valid YAML"),
    ("tab-indent", "storage:\n\tfiles: []\n", "n.yaml:2", "not valid YAML"),
    ("control-character", "systemd:\n  units: []\n# bell \x07\n", "n.yaml:3:",
     "is not allowed in YAML"),
    ("unit-type", "systemd:\n  units:\n    - name: hello\n", "n.yaml:3:7",
     "systemd.units[0].name 'hello' has no systemd unit type"),
    ("top-level-list", "- a\n- b\n", "n.yaml:1:1", "the document must be a mapping"),
    ("top-level-scalar", "hello\n", "n.yaml:1:1", "the document must be a mapping"),
    ("two-documents", "a: 1\n---\nb: 2\n", "n.yaml:2", "not valid YAML"),
    ("dropin-name", "systemd:\n  units:\n    - name: a.service\n      dropins: [{name: x}]\n",
     "n.yaml:4:18", "must end with .conf"),
    ("units-not-list", "systemd:\n  units:\n    name: a.service\n", "n.yaml:3:5",
     "systemd.units must be a list"),
    ("enabled-not-bool", "systemd:\n  units:\n    - name: a.service\n      enabled: maybe\n",
     "n.yaml:4:16", "must be true or false"),
    ("unit-without-name", "systemd:\n  units:\n    - enabled: true\n", "n.yaml:3:7",
     "systemd.units[0].name is required"),
    ("inline-and-remote", "storage:\n  files:\n    - path: /a\n      contents:\n"
     "        inline: x\n        remote: {url: 'http://h/x'}\n", "n.yaml:5:9",
     "both inline and remote.url"),
    ("size-without-unit", "storage:\n  disks:\n    - device: /dev/sdb\n      partitions:\n"
     "        - size: 100\n", "n.yaml:5:11", "is not a whole number of MiB"),
    ("filesystem-format", "storage:\n  filesystems:\n    - mount: {device: /dev/sdb, "
     "format: ntfs}\n", "n.yaml:3:33", "format must be one of"),
    ("filesystem-without-mount", "storage:\n  filesystems:\n    - name: x\n", "n.yaml:3:7",
     "mount is required"),
    ("ssh-keys-not-list", "passwd:\n  users:\n    - name: core\n      ssh_authorized_keys: k\n",
     "n.yaml:4:28", "must be a list"),
    ("ssh-key-not-text", "passwd:\n  users:\n    - name: core\n"
     "      ssh_authorized_keys: [{a: b}]\n", "n.yaml:4:29", "must be a text value"),
    ("hash-function", "ignition:\n  config:\n    append:\n      - source: http://h/x\n"
     "        verification: {hash: {function: md5, sum: x}}\n", "n.yaml:5:", "sha512"),
    ("hash-size", "storage:\n  files:\n    - path: /a\n      contents:\n        remote:\n"
     "          url: http://h/a\n          verification: {hash: {function: sha256, sum: ab}}\n",
     "n.yaml:7:", "sum must be 64 hex digits"),
    ("typo-of-required-key", "storage:\n  files:\n    - pth: /a\n", "n.yaml:3:7",
     "unknown key storage.files[0].pth"),
    ("locksmith-strategy", "locksmith:\n  reboot_strategy: sometimes\n", "n.yaml:2:3",
     "reboot_strategy must be reboot, etcd-lock or off"),
    ("locksmith-window", "locksmith:\n  window_start: 04:00\n", "n.yaml:2:3",
     "both window_start and window_length"),
    ("update-typo", "update:\n  gruop: beta\n", "n.yaml:2:3", "unknown key update.gruop"),
    ("update-and-file", "update: {group: beta}\nstorage:\n  files:\n"
     "    - path: /etc/flatcar/update.conf\n", "n.yaml:1",
     "path /etc/flatcar/update.conf is given twice (first on line 4)"),
    ("user-create", "passwd:\n  users:\n    - name: a\n      create: {uid: 5}\n", "n.yaml:4:7",
     "create is not supported"),
    ("explicit-bool-tag", "systemd: {units: [{name: a.service, enabled: !!bool x}]}\n",
     "n.yaml:1:46", "must be true or false"),
    ("explicit-int-tag", "storage: {files: [{path: /a, mode: !!int ''}]}\n", "n.yaml:1:36",
     "mode is not a valid integer"),
    ("recursive-alias", "a: &a {b: *a}\n", "n.yaml:1:1", "unknown key a"),
    ("append-and-overwrite", "storage:\n  files:\n    - path: /a\n      append: true\n"
     "      overwrite: true\n", "n.yaml:3:7", "both append and overwrite"),
]


@pytest.mark.parametrize(("text", "where", "message"), [(t, w, m) for _, t, w, m in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_errors_name_file_line_and_key(text: str, where: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        transpile_one(text, "n.yaml")
    text_of_error = str(exc.value)
    assert text_of_error.startswith(where), text_of_error
    assert message in text_of_error


def test_typo_gets_a_did_you_mean_hint() -> None:
    with pytest.raises(InputError) as exc:
        transpile_one("passwd:\n  users:\n    - name: core\n      ssh_authorized_key: [k]\n",
                      "n.yaml")
    assert exc.value.hint == "did you mean 'ssh_authorized_keys'?"


def test_error_in_second_snippet_names_that_file() -> None:
    with pytest.raises(InputError) as exc:
        transpile([("base.yaml", BASE), ("cl/node-1-custom.yaml", "networkd:\n  unit: []\n")])
    assert str(exc.value).startswith("cl/node-1-custom.yaml:2:3: unknown key networkd.unit")


# --- arbitrary input raises nothing but racker's own errors ------------------------------------

_KEYS = ["systemd", "units", "name", "enabled", "enable", "mask", "contents", "dropins",
         "networkd", "storage", "files", "path", "mode", "inline", "remote", "url",
         "filesystems", "mount", "device", "format", "wipe_filesystem", "label", "passwd",
         "users", "ssh_authorized_keys", "groups", "directories", "links", "target", "disks",
         "partitions", "size", "ignition", "config", "append", "filesystem", "user", "id"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 70000),
                     st.sampled_from(["/a", "a.service", "x.conf", "0644", "ext4", "/dev/sda",
                                      "1GiB", "root", ""]),
                     st.text(max_size=8))
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _trees, max_size=4))
def test_arbitrary_clc_shapes_raise_only_racker_errors(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc)
    with contextlib.suppress(RackerError):
        transpile_one(text, "fuzz.yaml")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`\n\t ,?0123456789.")),
               max_size=80))
def test_arbitrary_text_raises_only_racker_errors(text: str) -> None:
    try:
        transpile_one(text, "fuzz.yaml")
    except RackerError as e:
        assert "fuzz.yaml" in str(e)


@pytest.mark.parametrize(("text", "warning"), [
    ("systemd:\n  units:\n    - name: a.service\n      enabled: true\n"
     "      contents: \"[Service]\\nExecStart=/bin/true\\n\"\n",
     "n.yaml:4:7: warning: systemd.units[0] (a.service) is enabled but has no [Install]"),
    ("passwd:\n  users:\n    - name: core\n      ssh_authorized_keys: [k1, k2, k1]\n",
     "n.yaml:4:37: warning: passwd.users[0].ssh_authorized_keys[2] repeats an earlier entry"),
    ("storage:\n  files:\n    - path: /opt/x\n      mode: 04755\n",
     "n.yaml:4:7: warning: storage.files[0].mode 0o4755: Ignition spec 3.3 does not support"),
])
def test_warnings_for_what_ignition_would_warn_about(text: str, warning: str) -> None:
    assert next(str(w) for w in transpile_one(text, "n.yaml").warnings).startswith(warning)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_unicode_text_raises_only_racker_errors(text: str) -> None:
    with contextlib.suppress(RackerError):
        transpile_one(text, "fuzz.yaml")


def test_merge_directory_replaces_file_at_same_path_when_both_lists_merge() -> None:
    a = {"storage": {"files": [{"path": "/x"}, {"path": "/y"}]}}
    b = {"storage": {"files": [{"path": "/z"}], "directories": [{"path": "/x"}],
                     "filesystems": [{"device": "/x", "format": "ext4"}]}}
    assert merge(a, b) == {"storage": {
        "files": [{"path": "/y"}, {"path": "/z"}], "directories": [{"path": "/x"}],
        "filesystems": [{"device": "/x", "format": "ext4"}]}}
