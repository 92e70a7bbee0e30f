"""CredentialProcess: a `credential_process` command as the first hop of a chain, cached.

botocore runs a profile's credential_process again whenever its credentials near expiry, in
every process, and waits for it forever. Here the command's Version 1 JSON goes through the
session's cache under a key naming the command line, the program it resolves to, the user
and the host, so the processes of one user sharing a FileCache run it once per credential
lifetime, and a run that outlasts `timeout` is stopped.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar

import botocore.session
from botocore.compat import compat_shell_split
from botocore.utils import parse_timestamp

from ._internal import forks
from ._internal.botocore_sessions import new_botocore_session
from ._temporary import NEVER_EXPIRES, TemporaryCredentials
from .caches import NoCache
from .credentials import RefreshingCredentials
from .durations import DurationLimits
from .errors import ConfigurationError, RefreshError
from .hops import Hop
from .hops._base import Duration, SourceHop
from .refresh import OnDemandRefresh, waiting_at_least
from .sources import Source, check_profile

__all__ = ["CredentialProcess", "CredentialProcessFailed", "profile_process"]

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
STDERR_SHOWN = 2000
"""Characters of a failed command's stderr a RefreshError quotes (its end, where errors are)."""
MAX_OUTPUT = 1024 * 1024
"""Bytes of stdout a command may print before it is stopped (Version 1 JSON is tiny)."""
_CHUNK = 65536
_DIGEST_SHOWN = 8
_BEFORE_PROCESS = (
    "role_arn",
    "aws_access_key_id",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
    "login_session",
)
"""Settings botocore reads a profile's credentials from before (or instead of) its process."""
_REAP_WAIT = 1.0
_NO_DURATION = DurationLimits(1, int(NEVER_EXPIRES), 3600, "the command decides how long")


class CredentialProcessFailed(RefreshError):
    """The command exited with a status other than 0 (`returncode`; negative: a signal).

    Args:
        message: What failed: the exit status and the command's stderr, never its stdout.
        returncode: The command's exit status; negative for the signal that ended it.
        description: The source, as errors and events name it.
    """

    def __init__(self, message: str, *, returncode: int, description: str) -> None:
        super().__init__(message, hop=0, description=description)
        self.returncode = returncode


class CredentialProcess(Source):
    """Credentials printed by a command, as `credential_process` in ``~/.aws/config`` runs it.

    The command prints the Version 1 JSON (``Version``, ``AccessKeyId``,
    ``SecretAccessKey``, ``SessionToken``, ``Expiration``, ``AccountId``). RefreshableSession
    makes the run of the command the first hop of its chain (with no hops of its own, the
    session uses the printed keys), so each session refreshes it with its own cache and
    settings and lists it in `status()`. Credentials with an Expiration go through that
    cache like a hop's: with a FileCache, the
    processes of this user run the command once while they are fresh (before their advisory
    window), and an expired answer is never used. Without an Expiration they never expire,
    as in botocore: the command runs once per session (per account session of an
    AccountRoles without hub) and its keys are never written to a cache, since such keys
    are usually an IAM user's long-term ones that a secret store hands out so that they stay
    off disk. The cache key is a digest of the command line, the
    program it resolves to, the user id and the host name: no secret goes in, and an entry
    only serves the user and host that ran the command (FileCache refuses files others
    could write; with a key, an entry changed by anyone fails authentication and the command
    runs again). The command inherits this process's environment and working directory,
    which are not in the key: a command whose output depends on them should name what it
    depends on in its arguments.

    Args:
        command: The command line, split as botocore splits `credential_process` (shell
            words, no shell), or its words as a list.
        timeout: Seconds the command may run before it is stopped, above 0 and at most
            3600 (botocore waits forever); raise it for commands that sign in interactively.
        profile: The profile whose `credential_process` this is: logs and errors name it,
            and its region is the session's default.

    Raises:
        ConfigurationError: `command` is empty or not text, `timeout` is out of range, or
            `profile` names no profile.
    """

    pickles_itself: ClassVar[bool] = True

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        profile: str | None = None,
    ) -> None:
        where = "CredentialProcess"
        if profile is not None:
            where = f"profile {check_profile(profile)!r}"
        self.argv = _argv(command, where)
        self.timeout = _timeout(timeout, where)
        self.command = command if isinstance(command, str) else shlex.join(self.argv)
        self._given: str | list[str] = command if isinstance(command, str) else list(self.argv)
        label = f"credential_process {_shown(self.argv)}"
        if profile is not None:
            label = f"{label} of profile {profile!r}"
        super().__init__(profile=profile, label=label)
        self.pass_stderr = False
        """True (the CLI's choice): the command's stderr goes to ours, not into errors."""
        self._creds_lock = threading.Lock()
        self._creds: RefreshingCredentials | None = None
        forks.reset_in_child(self, "_lock", "_creds_lock")
        self._hop = _RunProcess(self)

    # -- how sessions use it --------------------------------------------------------------

    def leading_hops(self) -> tuple[Hop, ...]:
        """The run of the command, the hop RefreshableSession puts before the hops it is given.

        Returns:
            The one hop of this source, cached under `cache_key()`'s material.
        """
        return (self._hop,)

    def credentials(self) -> RefreshingCredentials:
        """The command's credentials, for callers that ask the source itself.

        They refresh themselves but are not cached; RefreshableSession does not ask, since
        its chain holds the run of the command as a cached hop.

        Returns:
            Refreshing credentials, run on first use.
        """
        with self._creds_lock:
            if self._creds is None:
                self._creds = RefreshingCredentials(
                    self.fetch,
                    cache=NoCache(),
                    cache_key=self.cache_key,
                    label=self.label,
                    hop=0,
                    strategy=waiting_at_least(OnDemandRefresh(), self._hop.refresh_wait()),
                )
            return self._creds

    @property
    def botocore_session(self) -> botocore.session.Session:
        """A botocore session signing with the command's credentials."""
        with self._lock:
            if self._session is None:
                self._session = new_botocore_session(
                    profile=self.profile, credentials=self.credentials()
                )
            return self._session

    def cache_key(self) -> str:
        """A digest of the command line, its program, the user and the host; no secret.

        Returns:
            A SHA-256 hex digest.
        """
        text = json.dumps(self._hop.cache_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def fetch(self) -> TemporaryCredentials:
        """Run the command and read its Version 1 JSON.

        Returns:
            The credentials it printed; without an Expiration, expiring at NEVER_EXPIRES.

        Raises:
            CredentialProcessFailed: It exited with another status than 0.
            RefreshError: It could not start, ran past `timeout`, or printed no valid
                Version 1 JSON; the message never quotes its output.
        """
        stdout = self._run()
        return self._parse(stdout, time.time())

    # -- running the command ----------------------------------------------------------------

    def _run(self) -> bytes:
        alone = hasattr(os, "killpg") and not _has_terminal()
        try:
            process = subprocess.Popen(  # noqa: S603 - the user's own command, no shell
                self.argv,
                stdout=subprocess.PIPE,
                stderr=None if self.pass_stderr else subprocess.PIPE,
                start_new_session=alone,
            )
        except OSError as exc:
            raise self._error(
                f"{self.label} could not start: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            stdout, stderr = _communicate(process, self.timeout)
        except subprocess.TimeoutExpired:
            _stop(process, alone)
            raise self._error(
                f"{self.label} did not finish within {self.timeout:g} s and was stopped "
                "(raise the timeout if it signs in interactively)"
            ) from None
        except _TooMuchOutput:
            _stop(process, alone)
            raise self._error(
                f"{self.label} printed more than {MAX_OUTPUT // 1024} KiB and was stopped: "
                "Version 1 JSON is a few hundred bytes"
            ) from None
        except BaseException:
            _stop(process, alone)
            raise
        if process.returncode != 0:
            raise CredentialProcessFailed(
                f"{self.label} {_exit(process.returncode)}{_quoted(stderr)}",
                returncode=process.returncode,
                description=self.label,
            )
        return stdout

    def _parse(self, stdout: bytes, issued: float) -> TemporaryCredentials:
        """The credentials in `stdout`, which arrived at `issued`; errors name fields, never values.

        `issued` is when the output arrived, not when the command started: keys whose
        Expiration passed while it ran are refused, and the lifetime is never overstated.
        """
        try:
            parsed = json.loads(stdout.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._error(f"{self.label} printed output that is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise self._error(
                f"{self.label} did not print JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno}); its output is not shown, since it may hold credentials"
            ) from None
        if not isinstance(parsed, Mapping):
            raise self._error(f"{self.label} printed a JSON {type(parsed).__name__}, not an object")
        version = parsed.get("Version")
        if type(version) is not int or version != 1:
            shown = repr(version) if type(version) is int else f"a {type(version).__name__}"
            raise self._error(
                f"{self.label} printed Version {shown}; only Version 1 (a JSON number) is known"
            )
        missing = [
            name
            for name in ("AccessKeyId", "SecretAccessKey")
            if not isinstance(parsed.get(name), str) or not parsed[name]
        ]
        for name in ("SessionToken", "AccountId"):
            if parsed.get(name) is not None and not isinstance(parsed[name], str):
                missing.append(name)
        if missing:
            raise self._error(
                f"{self.label} printed no text for {' and '.join(missing)} (Version 1 needs "
                "AccessKeyId and SecretAccessKey; SessionToken and AccountId are optional text)"
            )
        return TemporaryCredentials(
            access_key_id=parsed["AccessKeyId"],
            secret_access_key=parsed["SecretAccessKey"],
            session_token=parsed.get("SessionToken") or None,
            expiration=self._expiration(parsed.get("Expiration"), issued),
            issued=issued,
            account_id=parsed.get("AccountId") or None,
        )

    def _expiration(self, value: object, issued: float) -> float:
        if value is None:
            return NEVER_EXPIRES
        try:
            if not isinstance(value, str):
                raise TypeError(type(value).__name__)
            moment = parse_timestamp(value)
        except (TypeError, ValueError, OverflowError):
            raise self._error(
                f"{self.label} printed an Expiration that is not an RFC 3339 timestamp"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.timezone.utc)
        expires = float(moment.timestamp())
        if expires <= issued:
            raise self._error(
                f"{self.label} printed credentials that expired at "
                f"{moment.astimezone(_dt.timezone.utc).isoformat()}: nothing was used"
            )
        return expires

    # -- hygiene ----------------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._given, self.timeout, self.profile))

    def __repr__(self) -> str:
        return f"CredentialProcess({_shown(self.argv)!r}, timeout={self.timeout:g})"


def profile_process(profile: str, config: Mapping[str, Any]) -> CredentialProcess | None:
    """Profile `profile`'s credential_process, when it is what gives the profile credentials.

    A profile that also assumes a role, holds keys or signs in another way is left to
    botocore, which prefers those (keys in the credentials file come before the process).
    """
    command = config.get("credential_process")
    if command is None or any(key in config for key in _BEFORE_PROCESS):
        return None
    return CredentialProcess(str(command), profile=profile)


@dataclass(frozen=True, eq=False)
class _RunProcess(SourceHop):
    """A run of the command as the first hop of a chain: no STS call, no AWS signature.

    Its keys may be an IAM user's long-term keys or temporary ones of any principal: STS
    counts an AssumeRole they sign as role chaining only when they are a role session,
    which nothing shows, so none is assumed; GetSessionToken may follow them.
    """

    source: CredentialProcess = field(repr=False)
    duration: Duration = None

    operation: ClassVar[str] = "credential_process"
    names_principal: ClassVar[bool] = False
    may_hand_out_user_keys: ClassVar[bool] = True
    keyed_by_public_facts: ClassVar[bool] = True

    def limits(self, *, chained: bool) -> DurationLimits:
        """No DurationSeconds is sent: the command decides how long its keys last."""
        del chained
        return _NO_DURATION

    def resolve_duration(self, session_default: Duration, *, chained: bool, where: str) -> Duration:
        """None: the session's duration is for the STS hops after it."""
        del session_default, chained, where
        return None

    def lifetime(self, planned: Duration, *, chained: bool, caller: int | None) -> int | None:
        """Unknown before the command runs."""
        del planned, chained, caller
        return None

    def refresh_wait(self) -> float:
        """Long enough for a run another caller started: the timeout twice, and 10 s."""
        return min(MAX_TIMEOUT, 2 * self.source.timeout + 10)

    @property
    def label(self) -> str:
        return self.source.label

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The command's words; nothing is sent to STS."""
        del duration
        return {"argv": list(self.source.argv)}

    def cache_fields(self) -> Mapping[str, Any]:
        """The command line, the program it resolves to now, the user and the host."""
        return {
            "source": "credential_process",
            "argv": list(self.source.argv),
            "program": _program(self.source.argv[0]),
            "user": os.geteuid() if hasattr(os, "geteuid") else getpass.getuser(),
            "host": socket.gethostname(),
        }

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Run the command; `client` is None (no STS client is built)."""
        del client, duration
        return self.source.fetch()


def _rebuild(command: str | list[str], timeout: float, profile: str | None) -> Source:
    return CredentialProcess(command, timeout=timeout, profile=profile)


def _argv(command: object, where: str) -> tuple[str, ...]:
    """The words of `command`: split like botocore's ProcessProvider, or checked as given."""
    if isinstance(command, str):
        try:
            words = compat_shell_split(command)
        except ValueError as exc:
            raise ConfigurationError(
                f"{where}: the credential_process command line cannot be split into words: {exc}"
            ) from None
    elif isinstance(command, Sequence) and not isinstance(command, (bytes, bytearray)):
        words = list(command)
        wrong = [type(word).__name__ for word in words if not isinstance(word, str)]
        if wrong:
            raise ConfigurationError(
                f"{where}: every word of the command must be text, not {', '.join(wrong)}"
            )
    else:
        raise ConfigurationError(
            f"{where}: the command must be text (a credential_process line) or a list of "
            f"words, not {type(command).__name__}"
        )
    if not words or not words[0]:
        raise ConfigurationError(f"{where}: the command is empty: name the program to run")
    return tuple(words)


def _timeout(timeout: object, where: str) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise ConfigurationError(
            f"{where}: timeout={timeout!r} must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:g}"
        )
    return float(timeout)


def _program(word: str) -> str:
    """The file `word` runs: a path made absolute, else what PATH finds, else the word."""
    if os.sep in word or (os.altsep is not None and os.altsep in word):
        return os.path.abspath(word)
    return shutil.which(word) or word


def _shown(argv: Sequence[str]) -> str:
    """The command as logs, errors and events show it: its program's name, a digest of the rest.

    Arguments may carry a secret (`vault-creds --token ...`); the digest tells commands
    apart without showing them.
    """
    program = os.path.basename(argv[0]) or argv[0]
    if len(argv) == 1:
        return program
    digest = hashlib.sha256(json.dumps(list(argv[1:])).encode()).hexdigest()
    return f"{program} [args sha256:{digest[:_DIGEST_SHOWN]}]"


def _exit(returncode: int) -> str:
    if returncode < 0:
        with suppress(ValueError):
            return f"was stopped by {signal.Signals(-returncode).name}"
        return f"was stopped by signal {-returncode}"
    return f"exited with status {returncode}"


def _quoted(stderr: bytes | None) -> str:
    """The end of the command's stderr, or where to find it when it was not captured."""
    if stderr is None:
        return " (its stderr is above)"
    text = stderr.decode("utf-8", "replace").strip()
    if not text:
        return " and wrote nothing to stderr"
    if len(text) > STDERR_SHOWN:
        text = "..." + text[-STDERR_SHOWN:]
    return f": {text}"


class _TooMuchOutput(Exception):
    """The command printed more than MAX_OUTPUT bytes."""


def _has_terminal() -> bool:
    """Whether this process has a controlling terminal a command could prompt on.

    With one, the command stays in our process group: in a group of its own, reading the
    terminal would stop it (SIGTTIN). Without one, it gets a session of its own, so that a
    timeout stops everything it started.
    """
    try:
        descriptor = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    os.close(descriptor)
    return True


def _communicate(process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes | None]:
    """The command's stdout (at most MAX_OUTPUT bytes) and the end of its stderr, once it exits.

    Raises:
        subprocess.TimeoutExpired: It ran past `timeout`.
        _TooMuchOutput: It printed more than MAX_OUTPUT bytes.
    """
    if os.name == "nt":  # select() takes only sockets there: no cap while it runs
        out, err = process.communicate(timeout=timeout)
        if len(out) > MAX_OUTPUT:
            raise _TooMuchOutput
        return out, None if err is None else err[-2 * _CHUNK :]
    deadline = time.monotonic() + timeout
    stdout = bytearray()
    stderr = None if process.stderr is None else bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, stdout)  # type: ignore[arg-type]
        if process.stderr is not None:
            selector.register(process.stderr, selectors.EVENT_READ, stderr)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(process.args, timeout)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if key.data is stderr and len(stderr) > 2 * _CHUNK:
                    del stderr[:-_CHUNK]
                if len(stdout) > MAX_OUTPUT:
                    raise _TooMuchOutput
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    process.wait(timeout=max(0.0, deadline - time.monotonic()))
    return bytes(stdout), None if stderr is None else bytes(stderr)


def _stop(process: subprocess.Popen[bytes], alone: bool) -> None:
    """Kill `process` (with all it started, when `alone` in its session) and reap it."""
    with suppress(OSError):
        # Until it is reaped, the leader's pid cannot be reused: the group is still ours.
        if alone and process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    with suppress(subprocess.TimeoutExpired, OSError, ValueError):
        process.communicate(timeout=_REAP_WAIT)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_REAP_WAIT)
