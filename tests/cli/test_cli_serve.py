"""The credential endpoint: tokens, roles, loopback only; `refreshsts serve` as a process."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from cli_helpers import REFRESHSTS, role_args, serve_process, stalled_connections

from fixtures.moto_server import free_port
from fixtures.sts_proxy import GARBLED_SECRET, GARBLED_TOKEN, garbled_credentials
from refreshsts import AssumeRole, NoCache, RefreshableSession
from refreshsts.cli._server import CredentialServer, _HTTPServer


def get(url, token=None, method="GET"):
    """(status, JSON body) of one request to the endpoint."""
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body else None


def seed_session(world, name="mytestsession"):
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name=name),
        source="ststestprofile",
        region="us-west-2",
        cache=NoCache(),
    )


@pytest.fixture
def server(world, proxied_aws_env):
    session = seed_session(world)
    with CredentialServer({"reader": session}, default=session) as running:
        yield running


def test_requests_without_the_right_token_get_403_and_no_keys(server, sts_proxy):
    for token in (
        None,
        "",
        "wrong",
        server.token[:-1],
        server.token + "x",
        f"Bearer {server.token}",
    ):
        status, body = get(server.uri(), token)
        assert status == 403
        assert "AccessKeyId" not in json.dumps(body)
    assert sts_proxy.calls("AssumeRole") == 0


def test_the_token_gets_the_container_credentials_shape(server, world, sts_proxy):
    status, body = get(server.uri(), server.token)
    assert status == 200
    assert set(body) == {
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "RoleArn",
        "AccountId",
    }
    assert body["RoleArn"] == world.role_arn
    assert body["AccountId"] == world.account_id
    assert body["Expiration"].endswith("Z")
    assert get(server.uri("reader"), server.token) == (200, body)
    assert sts_proxy.calls("AssumeRole") == 1


def test_unknown_paths_and_other_methods_are_refused(server):
    status, body = get(server.uri("nobody"), server.token)
    assert status == 404
    assert "/role/reader" in body["message"]
    assert get(server.uri() + "etc/passwd", server.token)[0] == 404
    assert get(server.uri(), server.token, method="POST")[0] == 405


def test_a_plain_boto3_session_reads_the_endpoint(server, world, monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.uri("reader"))
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", server.token)
    plain = boto3.Session(region_name="us-west-2")
    arn = plain.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/{world.role_name}/mytestsession")
    assert plain.get_credentials().method == "container-role"


def test_a_refresh_failure_is_a_500_without_secrets(world, proxied_aws_env, sts_proxy):
    sts_proxy.fail_all(("error", "AccessDenied", "not today", 403))
    with CredentialServer(default=seed_session(world)) as server:
        status, body = get(server.uri(), server.token)
    assert status == 500
    assert body["code"] == "RefreshError"
    assert world.secret_access_key not in json.dumps(body)


def test_an_unparsable_sts_answer_is_a_500_without_its_body(
    world, proxied_aws_env, sts_proxy, caplog
):
    caplog.set_level(logging.DEBUG, logger="refreshsts")
    sts_proxy.fail_all(("raw", 200, garbled_credentials()))
    with CredentialServer(default=seed_session(world)) as server:
        status, body = get(server.uri(), server.token)
    assert status == 500
    assert "ResponseParserError" in body["message"]
    told = json.dumps(body) + caplog.text
    assert GARBLED_SECRET not in told
    assert GARBLED_TOKEN not in told


def read_until_closed(sock, timeout):
    """Everything `sock` receives until the server closes it; fails after `timeout` s."""
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_300_idle_connections_neither_pin_threads_nor_delay_an_answer(server, sts_proxy):
    threads_before = threading.active_count()
    idle = [socket.create_connection((server.host, server.port), timeout=2) for _ in range(300)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= threads_before + 1
        started = time.monotonic()
        status, body = get(server.uri(), server.token)
        assert status == 200
        assert body["AccessKeyId"]
        assert time.monotonic() - started < 2.0
        assert threading.active_count() <= threads_before + _HTTPServer.workers
    finally:
        for sock in idle:
            sock.close()


def test_an_unauthenticated_connection_gets_one_reply_then_is_closed(server):
    with socket.create_connection((server.host, server.port), timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 3)
        received = read_until_closed(sock, timeout=3)
    assert received.count(b"HTTP/1.1 ") == 1
    assert received.startswith(b"HTTP/1.1 403")


def test_slow_and_silent_connections_are_closed_after_their_timeouts(monkeypatch):
    monkeypatch.setattr(_HTTPServer, "read_timeout", 0.5)
    monkeypatch.setattr(_HTTPServer, "idle_timeout", 0.5)
    with CredentialServer() as running:
        address = (running.host, running.port)
        with socket.create_connection(address) as silent, socket.create_connection(address) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")  # and never the end of it
            started = time.monotonic()
            assert read_until_closed(silent, timeout=3) == b""
            assert b"200" not in read_until_closed(slow, timeout=3)
            assert time.monotonic() - started < 2.5


class GatedSelector(selectors.DefaultSelector):
    """A selector whose `select` waits for `gate` and reports the listening socket first."""

    gate = threading.Event()
    listening: socket.socket | None = None

    def select(self, timeout=None):
        self.gate.wait(10)
        ready = super().select(timeout)
        return sorted(ready, key=lambda event: event[0].fileobj is not self.listening)


@pytest.fixture
def gated(monkeypatch):
    """A CredentialServer whose loop `held()` stops before a select(), to batch what happens."""
    monkeypatch.setattr(selectors, "DefaultSelector", GatedSelector)
    GatedSelector.gate.set()
    with CredentialServer() as running:
        GatedSelector.listening = running._httpd.socket
        try:
            yield running
        finally:
            GatedSelector.gate.set()


@contextlib.contextmanager
def held():
    """Whatever the block does, the endpoint's loop sees in one select() after it."""
    GatedSelector.gate.clear()
    time.sleep(0.5)
    try:
        yield
        time.sleep(0.2)
    finally:
        GatedSelector.gate.set()


def test_a_batch_evicting_a_connection_that_also_has_an_event_keeps_serving(gated):
    gated._httpd.max_connections = 1
    address = (gated.host, gated.port)
    with socket.create_connection(address) as oldest:
        time.sleep(0.3)
        with held():  # the newcomer evicts `oldest`, then comes `oldest`'s own event
            newcomer = socket.create_connection(address)
            oldest.sendall(b"GET / HTTP/1.1\r\n\r\n")
        time.sleep(0.3)
        newcomer.close()
        assert gated._thread.is_alive()
        assert get(gated.uri())[0] == 403


def test_a_request_in_the_backlog_is_read_before_newer_connections_evict_it(gated):
    gated._httpd.max_connections = 4
    address = (gated.host, gated.port)
    with held():
        sdk = socket.create_connection(address, timeout=3)
        sdk.sendall(f"GET / HTTP/1.1\r\nAuthorization: {gated.token}\r\n\r\n".encode())
        flood = [socket.create_connection(address) for _ in range(4)]
        for sock in flood:
            sock.sendall(b"G")
    try:
        assert sdk.recv(12) == b"HTTP/1.1 404"
    finally:
        for sock in [sdk, *flood]:
            sock.close()


def test_connections_that_sent_one_byte_do_not_keep_an_sdk_out(server, sts_proxy):
    assert get(server.uri(), server.token)[0] == 200
    address = (server.host, server.port)
    with stalled_connections(address, _HTTPServer.max_connections) as stalled:
        started = time.monotonic()
        status, body = get(server.uri(), server.token)
        assert status == 200
        assert body["AccessKeyId"]
        assert time.monotonic() - started < 2.0
        assert read_until_closed(stalled[0], timeout=2) == b"", "the oldest made room"


def test_requests_get_through_a_steady_flood_of_one_byte_connections():
    with CredentialServer() as running:
        address = (running.host, running.port)
        stop = threading.Event()

        def flood():
            held = []
            while not stop.is_set() and len(held) < 3000:
                with contextlib.suppress(OSError):
                    sock = socket.create_connection(address, timeout=1)
                    sock.send(b"G")
                    held.append(sock)
                if len(held) > 300:
                    held.pop(0).close()
            for sock in held:
                sock.close()

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            time.sleep(0.5)
            answers = [get(running.uri(), running.token)[0] for _ in range(10)]
        finally:
            stop.set()
            flooder.join()
    assert answers == [404] * 10


def test_an_error_on_one_connection_closes_that_one_only(monkeypatch, caplog):
    read = _HTTPServer._read
    failed = []

    def fail_once(self, selector, connection):
        if not failed:
            failed.append(connection)
            raise OSError(f"unexpected while reading {self.endpoint.token}")
        read(self, selector, connection)

    monkeypatch.setattr(_HTTPServer, "_read", fail_once)
    caplog.set_level(logging.DEBUG, logger="refreshsts.cli")
    with CredentialServer() as running:
        with socket.create_connection((running.host, running.port)) as unlucky:
            unlucky.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert read_until_closed(unlucky, timeout=3) == b""
        assert get(running.uri(), running.token)[0] == 404
        assert running._thread.is_alive()
    assert "OSError" in caplog.text
    assert running.token not in caplog.text


def test_a_head_longer_than_the_limit_is_closed_unanswered():
    with CredentialServer() as running:
        with socket.create_connection((running.host, running.port)) as sock:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * _HTTPServer.max_head)
            try:
                received = read_until_closed(sock, timeout=3)
            except ConnectionResetError:
                received = b""
        assert received == b""
        assert get(running.uri())[0] == 403


def test_stopping_cuts_off_a_request_still_arriving():
    others = set(threading.enumerate())  # endpoints other tests keep for the process's life
    running = CredentialServer().start()
    with socket.create_connection((running.host, running.port)) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\n")  # the rest never comes
        time.sleep(0.5)
        started = time.monotonic()
        running.stop()
        assert read_until_closed(slow, timeout=3) == b""
        assert time.monotonic() - started < 1.5
    for _ in range(40):
        workers = [
            t
            for t in threading.enumerate()
            if t.name.startswith("refreshsts-endpoint") and t not in others
        ]
        if not workers:
            break
        time.sleep(0.05)
    assert workers == []


def listening_addresses(port):
    """Local addresses in LISTEN state on `port`, read from /proc/net/tcp{,6}."""
    found = []
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                found.append(address)
    return found


def test_serve_runs_until_sigterm_with_named_roles_and_a_0600_token_file(
    world, cross_account_chain, proxied_aws_env, sts_proxy, cache_home, tmp_path
):
    chain = cross_account_chain
    port = free_port()
    token_file = tmp_path / "token"
    process = subprocess.Popen(
        [
            *REFRESHSTS,
            "serve",
            *role_args(world),
            "--port",
            str(port),
            "--role",
            f"data={chain.hub_role_arn},{chain.target_role_arn}",
            "--external-id",
            "xyz-123",
            "--token-file",
            str(token_file),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == f"export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:{port}/\n"
        assert process.stdout.readline() == (
            f"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={token_file}\n"
        )
        assert process.stdout.readline() == f"# role data: http://127.0.0.1:{port}/role/data\n"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text()
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, nothing else
        assert get(f"http://127.0.0.1:{port}/")[0] == 403
        status, body = get(f"http://127.0.0.1:{port}/role/data", token)
        assert status == 200
        assert body["RoleArn"] == chain.target_role_arn
        assert body["AccountId"] == chain.target_account_id
        assert get(f"http://127.0.0.1:{port}/", token)[1]["RoleArn"] == world.role_arn
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert token not in stderr
    assert not token_file.exists()


def test_serve_refuses_a_non_loopback_host(world, proxied_aws_env, cli):
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.com"):
        done = cli("serve", *role_args(world), "--host", host)
        assert done.returncode == 2
        assert "loopback" in done.stderr


def test_serve_prints_the_token_on_stderr_without_a_token_file(world, proxied_aws_env, cache_home):
    port = free_port()
    with serve_process(*role_args(world), "--port", str(port)) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("export AWS_CONTAINER_CREDENTIALS_FULL_URI=")
        line = process.stderr.readline()
        assert line.startswith("export AWS_CONTAINER_AUTHORIZATION_TOKEN=")
        token = line.split("=", 1)[1].strip()
        assert get(f"http://127.0.0.1:{port}/", token)[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert token not in process.stdout.read()


def test_the_endpoint_socket_is_not_inherited_by_children():
    with CredentialServer() as server:
        fd = server._httpd.socket.fileno()
        assert not os.get_inheritable(fd)
        assert server._httpd.socket.family == socket.AF_INET


def test_serve_never_writes_the_token_through_a_symlink(
    world, proxied_aws_env, sts_proxy, cli, tmp_path
):
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    link = tmp_path / "token"
    link.symlink_to(target)
    done = cli("serve", *role_args(world), "--token-file", str(link))
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert link.is_symlink()
    assert target.read_text() == "untouched"
    assert sts_proxy.calls() == 0


def test_serve_refuses_an_existing_token_file_and_leaves_it_alone(
    world, proxied_aws_env, sts_proxy, cli, tmp_path
):
    existing = tmp_path / "notes.txt"
    existing.write_text("someone's work")
    existing.chmod(0o644)
    done = cli("serve", *role_args(world), "--token-file", str(existing))
    assert done.returncode == 2
    assert str(existing) in done.stderr
    assert existing.read_text() == "someone's work"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o644
    assert sts_proxy.calls() == 0


def test_serve_removes_on_exit_only_the_token_file_it_created(
    world, proxied_aws_env, cache_home, tmp_path
):
    token_file = tmp_path / "token"
    with serve_process(*role_args(world), "--token-file", str(token_file)) as process:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("export AWS_CONTAINER_CREDENTIALS_FULL_URI=")
        token_file.unlink()
        token_file.write_text("another program's file, same name")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert token_file.read_text() == "another program's file, same name"
