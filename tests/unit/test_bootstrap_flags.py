"""`racker bootstrap` flags: both spellings, -h output, refused values, flags vs the wizard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.app.configuration.create import ConfigureResult
from racker.cli.cmd_bootstrap import bootstrap
from racker.cli.main import main
from racker.core.bootstrap.flags import FLAGS, checked_value, parse_flags, usage
from racker.core.bootstrap.options import SECRET_KEY_ENV, RackFacts
from racker.core.bootstrap.wizard import DefaultAsker, graph_for, without_keys
from racker.core.plan import make_plan
from racker.errors import InputError
from racker.model import Inventory, OnFailure, Options, Provision, StorageProvider
from racker.paths import Paths
from tests.rackfixtures import write_rack
from tests.unit.wizard_support import Script, mac, rack

SAMPLE = {
    "provision": "flatcar", "onfailure": "retry", "retries": "5",
    "exclude": "02:00:00:00:01:01 02:00:00:00:02:02", "cluster-name": "rack7",
    "num-controllers": "1", "controller-type": "small",
    "ip-addrs": "[02:00:00:00:03:01]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 10.0.0.1",
    "k8s-domain-name": "k8s.example.org", "subnet-prefix": "10.1.2", "web-ui": "false",
    "storage-provider": "openebs", "storage-node-type": "large",
    "number-of-storage-nodes": "2", "config-backup": "true", "aws-access-key": "AKIA",
    "aws-secret-key": "s3cr3t", "aws-secret-key-file": "/run/secrets/aws",
    "backup-name": "nightly", "backup-s3-bucket": "bucket-1",
    "backup-aws-location": "eu-west-1",
}
STYLES: dict[str, Callable[[str, str], list[str]]] = {
    "go": lambda n, v: [f"-{n}", v],
    "go=": lambda n, v: [f"-{n}={v}"],
    "gnu": lambda n, v: [f"--{n}", v],
    "gnu=": lambda n, v: [f"--{n}={v}"],
}


def test_every_flag_of_the_issue_has_a_sample() -> None:
    assert {f.name for f in FLAGS} == set(SAMPLE)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_every_flag_in_both_styles(name: str, style: str) -> None:
    parsed = parse_flags(STYLES[style](name, SAMPLE[name]))
    assert parsed.values == {name: SAMPLE[name]}
    assert not parsed.help and not parsed.render_only


def test_all_flags_at_once_in_mixed_styles() -> None:
    argv: list[str] = []
    for i, (name, value) in enumerate(sorted(SAMPLE.items())):
        argv += STYLES[sorted(STYLES)[i % 4]](name, value)
    assert parse_flags([*argv, "-render-only"]).values == SAMPLE


@pytest.mark.parametrize(
    ("argv", "render_only", "want_help"),
    [
        (["-render-only"], True, False),
        (["--render-only"], True, False),
        (["-render-only=true"], True, False),
        (["--render-only=false"], False, False),
        (["-h"], False, True),
        (["-help"], False, True),
        (["--help", "-render-only"], True, True),
    ],
)
def test_switches(argv: list[str], render_only: bool, want_help: bool) -> None:
    p = parse_flags(argv)
    assert (p.render_only, p.help) == (render_only, want_help)


def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var, sub in (("RACKER_OEM_DIR", "oem"), ("RACKER_STATE_DIR", "state"),
                     ("RACKER_SYS_CLASS_NET", "net"), ("HOME", "home")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("RACKER_HOSTS_FILE", str(tmp_path / "hosts"))


def test_help_general(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                      tmp_path: Path) -> None:
    _isolated(monkeypatch, tmp_path)
    assert main(["bootstrap", "-h"]) == 0
    out = capsys.readouterr().out
    assert '  -onfailure string\n    \tbehavior on provisioning failure; options are: ' \
           'ask|retry|exclude|cancel. (default "ask")' in out
    assert '  -provision string\n    \tValue should be "lokomotive" or "flatcar" ' \
           '(default "lokomotive")' in out
    assert '(default "3")' in out and "  -exclude string\n" in out and "  -render-only\n" in out
    assert "-cluster-name" not in out


def test_help_lokomotive(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                         tmp_path: Path) -> None:
    _isolated(monkeypatch, tmp_path)
    assert main(["bootstrap", "--provision=lokomotive", "--help"]) == 0
    out = capsys.readouterr().out
    names = [ln.split()[0][1:] for ln in out.splitlines() if ln.startswith("  -")]
    assert names == sorted(f.name for f in FLAGS if f.scope and Provision.LOKOMOTIVE in f.scope)
    assert '  -backup-name string\n    \tProvide the name for the backup; only needed when ' \
           'configuring backups (default "lokomotive-backup")' in out
    assert '(default "true")' in out and '(default "all")' in out
    # The long help keeps its line breaks, each continued with the Go-style indentation.
    assert "    \t S3 bucket, IAM user for Velero" in out


def test_help_flatcar(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                      tmp_path: Path) -> None:
    _isolated(monkeypatch, tmp_path)
    assert main(["bootstrap", "-provision", "flatcar", "-h"]) == 0
    out = capsys.readouterr().out
    names = [ln.split()[0] for ln in out.splitlines() if ln.startswith("  -")]
    assert names == ["-ip-addrs", "-subnet-prefix"]
    assert '(default "172.24.213")' in out and '(default "DHCP")' in out


@pytest.mark.parametrize(("types", "default"), [(("a", "a", "a", "b"), "3"), (("a", "b"), "1")])
def test_help_reads_the_rack_for_the_controller_default(
        types: tuple[str, ...], default: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var, value in write_rack(tmp_path, len(types), types).items():
        monkeypatch.setenv(var, value)
    assert main(["bootstrap", "-provision=lokomotive", "-h"]) == 0
    out = capsys.readouterr().out
    assert f'single-node control plane (default "{default}")' in out


def test_help_uses_the_rack_for_the_controller_default() -> None:
    assert '(default "1")' in usage(Provision.LOKOMOTIVE, RackFacts.from_inventory(rack("a")))
    ha = usage(Provision.LOKOMOTIVE, RackFacts.from_inventory(rack("a", "a", "a")))
    assert 'single-node control plane (default "3")' in ha


BAD = [
    (["-provision", "foo"], "-provision", "allowed values: lokomotive, flatcar"),
    (["--onfailure=sometimes"], "-onfailure", "allowed values: ask, retry, exclude, cancel"),
    (["-retries", "many"], "-retries", "whole number"),
    (["-retries=-1"], "-retries", "whole number"),
    (["-retries", "²"], "-retries", "whole number"),  # a digit to str.isdigit, not to int()
    (["-num-controllers", "2"], "-num-controllers", "allowed values: 1, 3"),
    (["-web-ui", "maybe"], "-web-ui", "allowed values: true, false"),
    (["-storage-provider", "ceph"], "-storage-provider", "allowed values: none, rook, openebs"),
    (["-config-backup=perhaps"], "-config-backup", "allowed values: true, false"),
    (["-subnet-prefix", "10.0"], "-subnet-prefix", "first three numbers"),
    (["--subnet-prefix", "300.1.1"], "-subnet-prefix", "first three numbers"),
    (["-k8s-domain-name", "bad domain"], "-k8s-domain-name", "domain name"),
    (["-cluster-name", "Rack_7"], "-cluster-name", "lower-case"),
    (["-number-of-storage-nodes", "some"], "-number-of-storage-nodes", "'all' or a whole"),
    (["-exclude", "zz:zz:zz:zz:zz:zz"], "-exclude", "not a MAC address: 'zz:zz:zz:zz:zz:zz'"),
    (["-ip-addrs", "static"], "-ip-addrs", '"DHCP" or INI text'),
    (["-backup-s3-bucket", "My_Bucket"], "-backup-s3-bucket", "S3 bucket name"),
    (["-backup-aws-location", "eu west"], "-backup-aws-location", "region"),
    (["-ip-addrs", "[02:00:00:00:03:01]\nip_addr = 10.0.0.2/24\n"], "-ip-addrs",
     "-ip-addrs:1:2: section [02:00:00:00:03:01] sets ip_addr but no gateway"),
    (["-ip-addrs", "[02:00:00:00:03:01]\nip_addr = 10.0.0.300/24\n"], "-ip-addrs",
     "-ip-addrs:2:11:"),
    (["-bogus", "1"], "-bogus", "unknown flag"),
    (["-p", "flatcar"], "-p", "unknown flag"),
    (["--provision"], "-provision", "a value is missing"),
    (["-render-only=maybe"], "-render-only", "allowed values: true, false"),
    (["-provision", "flatcar", "-cluster-name", "x"], "-cluster-name",
     "applies only to -provision lokomotive"),
    (["-provision=flatcar", "--web-ui=false"], "-web-ui", "applies only to -provision lokomotive"),
]


@pytest.mark.parametrize(("argv", "flag", "message"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_flags_are_refused(argv: list[str], flag: str, message: str,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _isolated(monkeypatch, tmp_path)
    assert main(["bootstrap", *argv]) == 2
    captured = capsys.readouterr()
    assert f"racker: error: flag {flag}: " in captured.err
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert captured.out == ""


def test_positional_argument_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "lokomotive"]) == 2
    err = capsys.readouterr().err
    assert "unexpected argument 'lokomotive'" in err and "Traceback" not in err


def test_bad_secret_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "-aws-secret-key", "top secret"]) == 2
    err = capsys.readouterr().err
    assert "flag -aws-secret-key: invalid value the value given" in err
    assert "top secret" not in err


# --- flags, the wizard and the rack together (bootstrap() with the outside world injected) -----

class Recorder:
    """Stands in for configure: plans for real (so the options must suit the plan) and records."""

    def __init__(self, inventory: Inventory | None = None) -> None:
        self.inventory = inventory
        self.calls: list[tuple[Options, bool]] = []

    def __call__(self, paths: Paths, options: Options, render_only: bool) -> ConfigureResult:
        self.calls.append((options, render_only))
        assert self.inventory is not None
        return ConfigureResult(
            plan=make_plan(options, self.inventory), folder=Path("/cfg"), files=(Path("/cfg/a"),),
            dnsmasq_conf=Path("/state/dnsmasq.conf"), hosts_file=Path("/hosts"),
            hosts_entries=(), hosts_changed=False, render_only=render_only,
        )


def run(argv: list[str], inventory: Inventory, asker: object = None,
        interactive: bool = False) -> tuple[int, Options]:
    rec = Recorder(inventory)
    code = bootstrap(
        argv, paths=Paths.from_env({"HOME": "/nonexistent"}),
        asker=asker or DefaultAsker(),  # type: ignore[arg-type]
        interactive=interactive, load_inventory=lambda p: inventory, configure=rec,
        check_folders=lambda p: None,
    )
    assert len(rec.calls) == 1 and rec.calls[0][1] is True
    return code, rec.calls[0][0]


HA = rack("large", "large", "large", "small", "small")
NOWHERE = Paths.from_env({"HOME": "/nonexistent"})


def no_folders(paths: Paths) -> None:
    pass


def test_configuration_folder_in_the_way_stops_before_the_first_question() -> None:
    def in_the_way(paths: Paths) -> None:
        raise InputError("A Lokomotive configuration already exists in /x/lokomotive.")

    s = Script()  # any question would fail the test
    with pytest.raises(InputError, match="already exists"):
        bootstrap(["-render-only"], paths=NOWHERE, asker=s, interactive=True,
                  load_inventory=lambda p: HA, configure=Recorder(), check_folders=in_the_way)
    assert not s.asked


def test_no_terminal_takes_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, o = run(["-render-only"], HA)
    assert code == 0 and o == Options(num_controllers=3, web_ui=True)
    captured = capsys.readouterr()
    assert "unanswered questions take their defaults" in captured.err
    assert "controllers: 3 of node type any" in captured.out


def test_provision_specific_flag_skips_the_questions() -> None:
    # The provision question is still asked; the Lokomotive ones are not (a flag was given).
    s = Script(("provision", "lokomotive"))
    _, o = run(["-render-only", "-k8s-domain-name", "k8s.example.org", "-onfailure",
                   "retry"], HA, s, interactive=True)
    assert s.done()
    assert o == Options(k8s_domain_name="k8s.example.org", num_controllers=3, web_ui=True,
                        onfailure=OnFailure.RETRY)


def test_ip_addrs_flag_with_blank_settings_as_the_editor_wrote_them() -> None:
    text = (f"[{mac(1, 3)}]\nip_addr =\ngateway =\ndns =\n\n"
            f"[{mac(2, 3)}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 10.0.0.1\n")
    _, o = run(["-render-only", "-provision", "flatcar", "-ip-addrs", text], HA, Script())
    assert "ip_addr =\n" not in o.ip_addrs and "ip_addr = 10.0.0.2/24" in o.ip_addrs


def test_general_flags_keep_the_wizard() -> None:
    s = Script(("ip-addrs", "DHCP"), ("subnet-prefix", "10.9.8"))
    _, o = run(["-render-only", "-provision", "flatcar", "-retries", "7", "-exclude",
                mac(2, 2).upper().replace(":", "-")], HA, s, interactive=True)
    assert s.done()
    assert (o.provision, o.subnet_prefix, o.retries, o.exclude) == (
        Provision.FLATCAR, "10.9.8", 7, (mac(2, 2),))


def test_all_lokomotive_flags_become_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-render-only", "-provision", "lokomotive"]
    for name in ("cluster-name", "num-controllers", "k8s-domain-name", "subnet-prefix",
                 "web-ui", "storage-provider", "number-of-storage-nodes", "config-backup",
                 "aws-access-key", "aws-secret-key", "backup-name", "backup-s3-bucket",
                 "backup-aws-location", "ip-addrs"):
        argv += [f"-{name}", SAMPLE[name]]
    argv += ["-controller-type", "large", "-storage-node-type", "small"]
    _, o = run(argv, HA, Script())
    assert o.cluster_name == "rack7" and o.controller_type == "large"
    assert o.storage_provider is StorageProvider.OPENEBS and o.number_of_storage_nodes == 2
    assert o.backup is not None and o.backup.aws_secret_key == "s3cr3t"
    out = capsys.readouterr().out
    assert "s3cr3t" not in out and "AKIA" not in out and "secret key (set)" in out


@pytest.mark.parametrize(
    ("argv", "flag", "message"),
    [
        (["-controller-type", "huge"], "-controller-type", "allowed values: any, large, small"),
        (["-storage-node-type", "tiny"], "-storage-node-type", "allowed values: any, large"),
        (["-num-controllers", "3", "-controller-type", "small"], "-num-controllers",
         "the rack has 2 such nodes"),
        (["-storage-provider", "rook", "-storage-node-type", "small",
          "-number-of-storage-nodes", "3"], "-number-of-storage-nodes", "the rack has 2"),
        (["-config-backup", "true", "-aws-access-key", "AK"], "-aws-secret-key",
         "needed when backups are configured"),
        (["-exclude", "02:00:00:00:99:01"], "-exclude", "not a MAC of any node"),
    ],
)
def test_flags_checked_against_the_rack(argv: list[str], flag: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        bootstrap(["-provision", "lokomotive", *argv], paths=NOWHERE, check_folders=no_folders,
                  asker=DefaultAsker(), interactive=False, load_inventory=lambda p: HA,
                  configure=Recorder(HA))
    assert e.value.where is not None and e.value.where.flag == flag
    assert message in str(e.value)


def test_without_render_only_the_provisioner_gets_the_configured_rack(
        capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[ConfigureResult] = []

    def provisioner(paths: Paths, configured: ConfigureResult) -> int:
        seen.append(configured)
        return 7

    code = bootstrap(["-provision", "flatcar"], paths=NOWHERE, asker=DefaultAsker(),
                     interactive=False, load_inventory=lambda p: HA, configure=Recorder(HA),
                     check_folders=no_folders, provision=provisioner)
    assert code == 7 and not seen[0].render_only
    assert [n.name for n in seen[0].plan.nodes] == [f"node-{i}" for i in range(5)]
    out = capsys.readouterr().out
    assert "✓ configuration folder /cfg (1 files)" in out and "-render-only" not in out


def test_lokomotive_without_lokoctl_stops_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from racker.errors import RackerError

    monkeypatch.setenv("PATH", str(tmp_path))  # no lokoctl
    rec, seen = Recorder(HA), list[ConfigureResult]()

    def provisioner(paths: Paths, configured: ConfigureResult) -> int:
        seen.append(configured)
        return 0

    with pytest.raises(RackerError, match=r"lokoctl is not installed.*nothing was written") as e:
        bootstrap(["-provision", "lokomotive"], paths=NOWHERE, asker=DefaultAsker(),
                  interactive=False, load_inventory=lambda p: HA, configure=rec,
                  check_folders=no_folders, provision=provisioner)
    assert rec.calls == [] and seen == []
    assert e.value.hint and "-render-only" in e.value.hint
    # the rerun the hint suggests works
    assert bootstrap(["-provision", "lokomotive", "-render-only"], paths=NOWHERE,
                     asker=DefaultAsker(), interactive=False, load_inventory=lambda p: HA,
                     configure=rec, check_folders=no_folders) == 0
    assert [r for _, r in rec.calls] == [True]


# --- the AWS secret key without argv: a file or the environment -------------------------------

BACKUP = ["-render-only", "-provision", "lokomotive", "-config-backup", "true",
          "-aws-access-key", "AKIA", "-backup-s3-bucket", "bucket-1"]


def _secret_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    f = tmp_path / "aws-secret"
    f.write_text(text)
    f.chmod(mode)
    return f


def run_env(argv: list[str], environ: dict[str, str], asker: object = None) -> Options:
    rec = Recorder(HA)
    bootstrap(argv, paths=NOWHERE, asker=asker or DefaultAsker(),  # type: ignore[arg-type]
              interactive=asker is not None, load_inventory=lambda p: HA, configure=rec,
              check_folders=no_folders, environ=environ)
    return rec.calls[0][0]


def test_secret_key_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _secret_file(tmp_path, "fr0mf1le\n")
    o = run_env([*BACKUP, "-aws-secret-key-file", str(f)], {})
    assert o.backup is not None and o.backup.aws_secret_key == "fr0mf1le"
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "fr0mf1le" not in captured.out + captured.err


def test_secret_key_from_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    o = run_env(BACKUP, {SECRET_KEY_ENV: "fr0men7"})
    assert o.backup is not None and o.backup.aws_secret_key == "fr0men7"
    assert "warning" not in capsys.readouterr().err


def test_wizard_does_not_ask_for_a_secret_key_from_the_environment() -> None:
    s = Script(("provision", "lokomotive"), ("cluster-name", ""), ("num-controllers", "1"),
               ("controller-type", "any"), ("ip-addrs", "DHCP"), ("k8s-domain-name", ""),
               ("subnet-prefix", ""), ("web-ui", "true"), ("storage-provider", "none"),
               ("config-backup", "true"), ("aws-access-key", "AKIA"),
               ("backup-name", ""), ("backup-s3-bucket", "bucket-1"),
               ("backup-aws-location", "us-east-2"))
    o = run_env(["-render-only"], {SECRET_KEY_ENV: "fr0men7"}, s)
    assert s.done() and "aws-secret-key" not in [q.name for q in s.asked]
    assert o.backup is not None and o.backup.aws_secret_key == "fr0men7"


def test_without_keys_leads_past_the_known_question() -> None:
    g = without_keys(graph_for(Provision.LOKOMOTIVE, RackFacts.from_inventory(HA)),
                     {"aws-secret-key"})
    assert "aws-secret-key" not in g.questions
    assert g.questions["aws-access-key"].then == "backup-name"


def test_secret_key_in_argv_warns(capsys: pytest.CaptureFixture[str]) -> None:
    o = run_env([*BACKUP, "-aws-secret-key", "s3cr3t"], {SECRET_KEY_ENV: "ignored"})
    assert o.backup is not None and o.backup.aws_secret_key == "s3cr3t"
    err = capsys.readouterr().err
    assert "warning: -aws-secret-key on the command line can be read by other users" in err
    assert "-aws-secret-key-file" in err and "s3cr3t" not in err


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("key\n", 0o644, "accessible by group or others (mode 0644)"),
        ("key\n", 0o640, "accessible by group or others (mode 0640)"),
        ("", 0o600, "AWS secret key file is empty"),
        ("a\nb\n", 0o600, "more than one line"),
        ("two words\n", 0o600, "invalid AWS secret key: expected a key without spaces"),
    ],
)
def test_bad_secret_key_file_is_refused(tmp_path: Path, text: str, mode: int,
                                        message: str) -> None:
    f = _secret_file(tmp_path, text, mode)
    with pytest.raises(InputError) as e:
        run_env([*BACKUP, "-aws-secret-key-file", str(f)], {})
    assert message in str(e.value)
    assert e.value.where is not None and e.value.where.file == str(f)


def test_missing_secret_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="AWS secret key file is missing"):
        run_env([*BACKUP, "-aws-secret-key-file", str(tmp_path / "nope")], {})


def test_secret_key_given_twice_is_refused(tmp_path: Path) -> None:
    f = _secret_file(tmp_path, "key\n")
    with pytest.raises(InputError, match="given twice") as e:
        run_env([*BACKUP, "-aws-secret-key", "k", "-aws-secret-key-file", str(f)], {})
    assert e.value.where is not None and e.value.where.flag == "-aws-secret-key-file"


def test_bad_secret_key_in_the_environment_names_the_variable() -> None:
    with pytest.raises(InputError) as e:
        run_env(BACKUP, {SECRET_KEY_ENV: "two words"})
    assert e.value.where is not None and e.value.where.variable == SECRET_KEY_ENV
    assert "two words" not in str(e.value)


# --- properties: arbitrary input gives racker's own errors, never anything else -----------------

_WORDS = st.sampled_from(
    [f"-{f.name}" for f in FLAGS] + [f"--{f.name}=" for f in FLAGS]
    + ["-h", "-render-only", "--render-only=", "-", "--", "---x", "-p", "x"]
)
_ARG = st.one_of(st.text(max_size=30), _WORDS, st.builds(lambda a, b: a + b, _WORDS, st.text(
    max_size=12)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ARG, max_size=8))
def test_parse_flags_raises_only_input_errors(argv: list[str]) -> None:
    try:
        parsed = parse_flags(argv)
    except InputError as e:
        assert e.message
    else:
        assert set(parsed.values) <= {f.name for f in FLAGS}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([f.name for f in FLAGS]), st.text(max_size=40))
def test_checked_value_raises_only_input_errors(name: str, raw: str) -> None:
    facts = RackFacts.from_inventory(HA)
    try:
        value = checked_value(name, raw, facts)
    except InputError as e:
        assert e.where is not None and e.where.flag == f"-{name}"
    else:
        assert checked_value(name, value, facts) == value  # normalising is idempotent


def test_recorded_values_give_back_every_flag_value_of_the_options() -> None:
    from racker.core.bootstrap.options import options_from_answers, recorded_values

    facts = RackFacts.from_inventory(HA)
    known = {m for n in HA.nodes for m in n.macs}
    given = {k: v for k, v in SAMPLE.items() if k not in ("aws-secret-key-file", "ip-addrs")}
    given["provision"] = "lokomotive"
    given["exclude"] = " ".join(sorted(known)[:1])
    checked = {k: checked_value(k, v, facts) for k, v in given.items()}
    recorded = recorded_values(options_from_answers(checked, facts))
    assert {k: recorded[k] for k in checked} == checked
