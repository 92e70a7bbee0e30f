"""The `refreshsts` command without a server: parsing, quoting, loopback, child environment."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess

import pytest
from cli_helpers import REFRESHSTS, run

import refreshsts
from refreshsts.cli import main
from refreshsts.cli._credentials import Snapshot
from refreshsts.cli._exec import SHADOWING, child_environment
from refreshsts.cli._export import FORMATS, render, variables
from refreshsts.cli._server import CredentialServer, loopback_address
from refreshsts.cli._status import countdown

ARN = "arn:aws:iam::123456789012:role/r"
NASTY = 'it\'s "$HOME" `id` \\ $(echo x) ;|&<>*?~!#%{}[] \u00e9 \u2019'
EXPIRY = dt.datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def _own_cache_home(cache_home):
    """`main()` runs in this process: keep its default FileCache out of the real home."""


def snapshot(**changes):
    fields = {
        "access_key_id": "ASIAEXAMPLE",
        "secret_access_key": "wJalr/XUtnFEMI+K7MDENG",
        "session_token": "FwoGZXIvYXdzE/token==",
        "expiration": EXPIRY,
        "arn": "arn:aws:sts::123456789012:assumed-role/r/s",
    }
    fields.update(changes)
    return Snapshot(**fields)


def test_variables_set_the_legacy_token_and_an_rfc3339_expiration():
    names = variables(snapshot())
    assert list(names) == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    ]
    assert names["AWS_SECURITY_TOKEN"] == names["AWS_SESSION_TOKEN"]
    assert names["AWS_CREDENTIAL_EXPIRATION"] == "2030-01-02T03:04:05Z"


def test_the_snapshot_repr_shows_no_secret():
    text = repr(snapshot())
    assert "wJalr" not in text
    assert "FwoG" not in text
    assert "ASIAEXAMPLE" not in text


def test_sh_output_sourced_by_a_real_sh_gives_back_every_byte(tmp_path):
    names = {"AWS_ACCESS_KEY_ID": NASTY, "AWS_SECRET_ACCESS_KEY": "plain/+=", "AWS_X": ""}
    script = tmp_path / "out.sh"
    script.write_text(render("sh", names), encoding="utf-8")
    shown = subprocess.run(
        [
            "sh",
            "-c",
            '. "$1"; printf "%s\\0%s\\0%s" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_X"',
            "sh",
            str(script),
        ],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"},
    ).stdout.decode()
    assert shown.split("\0") == [NASTY, "plain/+=", ""]


def test_fish_and_powershell_quote_single_quotes_and_backslashes():
    assert render("fish", {"A": "x'y\\z"}) == "set -gx A 'x\\'y\\\\z'\n"
    assert render("powershell", {"A": "x'y\u2019z$HOME"}) == "$Env:A = 'x''y\u2019\u2019z$HOME'\n"


def test_dotenv_writes_sts_values_bare_and_refuses_what_it_cannot_quote():
    assert render("dotenv", variables(snapshot())).splitlines()[1] == (
        "AWS_SECRET_ACCESS_KEY=wJalr/XUtnFEMI+K7MDENG"
    )
    assert render("dotenv", {"A": "two words"}) == "A='two words'\n"
    with pytest.raises(ValueError, match="dotenv"):
        render("dotenv", {"A": "it's"})


def test_json_output_is_an_object_of_variables():
    assert json.loads(render("json", variables(snapshot())))["AWS_SESSION_TOKEN"] == (
        "FwoGZXIvYXdzE/token=="
    )
    assert set(FORMATS) == {"sh", "fish", "powershell", "dotenv", "json"}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_accepted(host):
    address, _ = loopback_address(host)
    assert address in ("127.0.0.1", "127.8.9.10", "::1")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.20", "example.com", ""])
def test_other_hosts_are_refused(host):
    with pytest.raises(refreshsts.ConfigurationError, match="loopback"):
        loopback_address(host)
    with pytest.raises(refreshsts.ConfigurationError):
        CredentialServer(host=host)


def test_the_server_listens_on_loopback_only():
    with CredentialServer() as server:
        assert server.host == "127.0.0.1"
        assert server.uri().startswith(f"http://127.0.0.1:{server.port}/")
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert len(server.token) >= 40
    with CredentialServer(host="::1") as server:
        assert server.uri() == f"http://[::1]:{server.port}/"


def test_the_child_environment_drops_what_would_shadow_the_endpoint(tmp_path):
    parent = {name: "x" for name in SHADOWING}
    parent.update({"HOME": str(tmp_path), "PATH": "/bin", "AWS_DEFAULT_REGION": "eu-west-1"})
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t0k")
    assert not set(SHADOWING) & set(env)
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://127.0.0.1:5/"
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == "t0k"
    assert env["PATH"] == "/bin"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t", region="us-west-2")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"


def test_the_child_environment_keeps_no_refreshsts_variable(tmp_path):
    parent = {
        "HOME": str(tmp_path),
        "REFRESHSTS_CACHE_KEY": "k" * 43,
        "REFRESHSTS_REDIS_URL": "redis://:secret@127.0.0.1:6379/0",
        "refreshsts_anything": "x",
        "REFRESHSTS": "not ours: no underscore",
    }
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t")
    assert not [name for name in env if name.upper().startswith("REFRESHSTS_")]
    assert env["REFRESHSTS"] == "not ours: no underscore"


def test_the_child_skips_http_proxies_for_the_endpoint(tmp_path):
    parent = {"HOME": str(tmp_path), "HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "corp"}
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t")
    assert env["NO_PROXY"] == "corp,127.0.0.1"
    assert env["no_proxy"] == "127.0.0.1"


def test_default_profile_keys_in_the_credentials_file_are_hidden_from_the_child(tmp_path, capsys):
    shared = tmp_path / "credentials"
    shared.write_text("[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n")
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-west-2\ncredential_process = x\n")
    parent = {
        "HOME": str(tmp_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(shared),
        "AWS_CONFIG_FILE": str(config),
    }
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t")
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    err = capsys.readouterr().err
    assert "hiding" in err
    assert "warning: the [default] profile" in err
    shared.write_text("[other]\naws_access_key_id = AKIA\n")
    config.write_text("[default]\nregion = us-west-2\n")
    env = child_environment(parent, uri="http://127.0.0.1:5/", token="t")
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == str(shared)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "expired"), (-5, "expired"), (9.9, "9s"), (245, "4m05s"), (3723, "1h02m03s")],
)
def test_countdown(seconds, text):
    assert countdown(seconds) == text


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["credential-process"]) == 2
    assert "--role-arn" in capsys.readouterr().err
    assert main(["export", "--role-arn", "a", "--from-profile", "b"]) == 2


def test_bad_options_exit_2_before_any_network_call(capsys):
    arn = "arn:aws:iam::123456789012:role/r"
    assert main(["credential-process", "--role-arn", "nope"]) == 2
    assert "is not a role ARN" in capsys.readouterr().err
    assert main(["export", "--role-arn", arn, "--duration", "5 parsecs"]) == 2
    assert "is not a duration" in capsys.readouterr().err
    assert main(["exec", "--role-arn", arn, "--no-cache"]) == 2
    assert "exec needs a command" in capsys.readouterr().err
    assert main(["serve", "--role", "no-equals-sign"]) == 2
    assert "NAME=ARN" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--role-arn", arn]) == 2
    assert "not a loopback address" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_refuses_a_port_out_of_range_before_any_sts_call(capsys, refusing_sts, port):
    argv = ["serve", "--role-arn", ARN, "--port", port, "--no-cache", "--region", "us-east-1"]
    assert main(argv) == 2
    assert "argument --port" in capsys.readouterr().err
    assert refusing_sts == []


def test_serve_binds_its_port_before_fetching_credentials(capsys, refusing_sts):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        argv = ["serve", "--role-arn", ARN, "--port", port, "--no-cache", "--region", "us-east-1"]
        assert main(argv) == 2
    assert f"cannot listen on 127.0.0.1 port {port}" in capsys.readouterr().err
    assert refusing_sts == []


def test_serve_stops_its_server_when_a_role_cannot_be_assumed(capsys, refusing_sts):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["serve", "--role-arn", ARN, "--port", str(port), "--no-cache", "--region", "us-east-1"]
    assert main(argv) == 1
    assert "AccessDenied" in capsys.readouterr().err
    assert len(refusing_sts) >= 1
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # the endpoint's socket was closed


def test_status_refuses_no_cache_with_a_cache_dir(capsys, tmp_path):
    assert main(["status", "--no-cache", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "--no-cache and --cache-dir contradict each other" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_from_profile_refuses_options_the_profile_sets(capsys):
    argv = ["export", "--from-profile", "p", "--session-name", "s", "--external-id", "x"]
    assert main([*argv, "--no-cache"]) == 2
    assert "set --session-name, --external-id there instead" in capsys.readouterr().err


def test_python_dash_m_and_version():
    done = run([*REFRESHSTS, "--version"])
    assert done.returncode == 0
    assert done.stdout.strip() == f"refreshsts {refreshsts.__version__}"
