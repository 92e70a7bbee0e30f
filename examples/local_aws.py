"""A stand-in for AWS on 127.0.0.1, for the examples: moto's server and a small STS proxy.

The seed walkthrough needs an IAM user, a read-only role and a bucket with IAM checks
switched on (moto's server does all of that), and credentials that expire within seconds so
that refreshing can be watched. STS never hands out credentials shorter than 15 minutes,
so `ShortLivedSts` sits between the SDK and moto and rewrites the `Expiration` of each
credential it passes on, remembering when each key expires, and which key signed each
request, so the walkthrough can tell whether any request went out with an expired key.

Needs only `moto[server]` (the `demo` extra) besides refreshsts' own dependencies.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3

REGION = "us-west-2"
PROFILE = "ststestprofile"
USER = "myteststsuser"
ROLE = "sts-s3-read-only"
BUCKET = "mytestbucket"
"""The walkthrough's names, as the docs print them."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """`python -m moto.server` on a free loopback port, for the length of a `with` block."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoServer:
        port = self.url.rsplit(":", 1)[1]
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up and self._process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self._log.seek(0)
        output = self._log.read().decode(errors="replace")[-4000:]
        self.__exit__()
        raise RuntimeError(f"moto server did not start on {self.url}:\n{output}")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._log.close()

    def check_iam(self, on: bool) -> None:
        """Switch moto's IAM checks of signatures and policies on or off."""
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=b"0" if on else b"inf",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def root_client(self, service: str) -> Any:
        """A client with moto's catch-all keys: account 123456789012's root, for set-up."""
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@dataclass(frozen=True)
class Walkthrough:
    """What the walkthrough's AWS set-up created."""

    role_arn: str
    role_name: str
    bucket: str
    user_arn: str
    access_key_id: str
    secret_access_key: str


def _document(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def set_up_walkthrough(server: MotoServer) -> Walkthrough:
    """The user that may only assume the S3 read-only role, the role, and the bucket.

    Run with IAM checks off (moto's default), as an administrator would.
    """
    iam = server.root_client("iam")
    user = iam.create_user(UserName=USER)["User"]
    keys = iam.create_access_key(UserName=USER)["AccessKey"]
    trust = {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}
    role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=_document(trust))["Role"]
    iam.attach_role_policy(
        RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    may_assume = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}
    iam.put_user_policy(
        UserName=USER, PolicyName=f"assume-{ROLE}", PolicyDocument=_document(may_assume)
    )
    s3 = server.root_client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="hello.txt", Body=b"hello\n")
    return Walkthrough(
        user_arn=user["Arn"],
        access_key_id=keys["AccessKeyId"],
        secret_access_key=keys["SecretAccessKey"],
        role_name=ROLE,
        role_arn=role["Arn"],
        bucket=BUCKET,
    )


def aws_home(home: Path, walkthrough: Walkthrough, endpoint_url: str) -> dict[str, str]:
    """`~/.aws` under `home` with the user's keys as profile ststestprofile; its variables.

    Every SDK call made with these variables goes to `endpoint_url` and nowhere else.
    """
    aws = home / ".aws"
    aws.mkdir(parents=True, exist_ok=True)
    (aws / "config").write_text(f"[profile {PROFILE}]\nregion = {REGION}\n", encoding="utf-8")
    (aws / "credentials").write_text(
        f"[{PROFILE}]\naws_access_key_id = {walkthrough.access_key_id}\n"
        f"aws_secret_access_key = {walkthrough.secret_access_key}\n",
        encoding="utf-8",
    )
    return {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(aws / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


_SIGNED_BY = re.compile(r"Credential=([A-Z0-9]+)/")
_ISSUED = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")
_EXPIRES = re.compile(rb"<Expiration>[^<]*</Expiration>")
_DROPPED = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Relay(BaseHTTPRequestHandler):
    server: _RelayServer

    def log_message(self, format: str, *args: Any) -> None:
        """No line on stderr per request."""

    def _body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0] or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(parts)

    def _relay(self) -> None:
        arrived = time.time()
        body = self._body()
        signer = _SIGNED_BY.search(self.headers.get("Authorization", ""))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _DROPPED:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            answer = upstream.getresponse()
            payload = answer.read()
            headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in _DROPPED]
        finally:
            upstream.close()
        if answer.status == 200 and b"<Expiration>" in payload:
            payload = self.server.sts.shorten(payload)
        action = ""
        if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        self.server.sts.saw(arrived, signer.group(1) if signer else None, action)
        self.send_response(answer.status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream_port: int
    sts: ShortLivedSts


class ShortLivedSts:
    """Loopback proxy in front of the moto server; STS credentials it passes on can be shortened.

    With `lifetime` set, each credential's `Expiration` becomes now + `lifetime` seconds.
    """

    def __init__(self, upstream_url: str) -> None:
        self.lifetime: float | None = None
        self._server = _RelayServer(("127.0.0.1", 0), _Relay)
        self._server.upstream_port = int(upstream_url.rsplit(":", 1)[1])
        self._server.sts = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._expires: dict[str, float] = {}
        self._seen: list[tuple[float, str | None, str]] = []

    def __enter__(self) -> ShortLivedSts:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def shorten(self, payload: bytes) -> bytes:
        issued = _ISSUED.search(payload)
        expires = time.time() + (self.lifetime or 3600)
        if self.lifetime is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(expires)))
            payload = _EXPIRES.sub(f"<Expiration>{stamp}</Expiration>".encode(), payload)
        if issued:
            with self._lock:
                self._expires[issued.group(1).decode()] = float(int(expires))
        return payload

    def saw(self, arrived: float, signer: str | None, action: str) -> None:
        with self._lock:
            self._seen.append((arrived, signer, action))

    def forget(self) -> None:
        """Start counting afresh."""
        with self._lock:
            self._seen.clear()
            self._expires.clear()

    def calls(self, action: str) -> int:
        """Requests for an STS or IAM `action` (e.g. AssumeRole) so far."""
        with self._lock:
            return sum(1 for _, _, seen in self._seen if seen == action)

    def expired_signings(self) -> int:
        """Requests that arrived signed with a key whose (rewritten) expiration had passed."""
        with self._lock:
            return sum(
                1
                for arrived, signer, _ in self._seen
                if signer in self._expires and arrived >= self._expires[signer]
            )
