"""DuckDB `read_parquet` on `duckdb_secret`, across rotations, through the proxy."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest

from fixtures.datasets import ROTATIONS, read_across_rotations, s3_signers
from refreshsts import (
    ConfigurationError,
    RefreshstsError,
    RefreshWindows,
    TemporaryCredentials,
)
from refreshsts.integrations import duckdb as duckdb_integration
from refreshsts.integrations import duckdb_secret
from refreshsts.integrations.duckdb import _scrub

duckdb = pytest.importorskip("duckdb")


def _endpoint(proxy):
    return {"endpoint": f"127.0.0.1:{proxy.port}", "url_style": "path", "use_ssl": False}


def _secrets(con):
    return con.execute("SELECT name, scope FROM duckdb_secrets()").fetchall()


def test_options_are_quoted_never_spliced(pipeline_session, sts_proxy):
    con = duckdb.connect()
    tricky = "it's', KEY_ID 'evil"
    with duckdb_secret(con, pipeline_session, scope=f"s3://{tricky}", **_endpoint(sts_proxy)):
        ((name, scope),) = _secrets(con)
        assert name == "refreshsts"
        assert scope == [f"s3://{tricky}"]
        shown = con.execute("SELECT secret_string FROM duckdb_secrets()").fetchone()[0]
        current = pipeline_session.get_credentials().credentials
        assert f"key_id={current.access_key_id}" in shown
        assert current.secret_access_key not in shown
        assert f"endpoint=127.0.0.1:{sts_proxy.port}" in shown
    assert _secrets(con) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "x; DROP TABLE t"}, "name="),
        ({"key_id": "AKIA"}, "option 'key_id' is not accepted"),
        ({"bad-option": "1"}, "option 'bad-option'"),
        ({"endpoint": object()}, "endpoint=object"),
        ({"endpoint": "a\x00b"}, "NUL"),
    ],
)
def test_bad_options_are_refused_before_any_network_call(
    pipeline_session, sts_proxy, options, message
):
    with pytest.raises(ConfigurationError, match=message):
        duckdb_secret(duckdb.connect(), pipeline_session, **options)
    assert sts_proxy.calls() == 0


@pytest.mark.slow
def test_read_parquet_across_rotations(pipeline_session, parquet_dataset, sts_proxy):
    con = duckdb.connect()
    query = f"SELECT sum(value) FROM read_parquet('{parquet_dataset.glob}')"
    with duckdb_secret(con, pipeline_session, **_endpoint(sts_proxy)) as secret:
        answers, reads = read_across_rotations(sts_proxy, lambda: con.execute(query).fetchone()[0])
        assert secret.replaced > ROTATIONS
    assert answers == {parquet_dataset.total}
    assert len(s3_signers(sts_proxy)) > ROTATIONS, f"{reads} reads"
    assert sts_proxy.expired_signings() == []


class _FakeConnection:
    def __init__(self):
        self.statements: list[str] = []

    def execute(self, statement):
        self.statements.append(statement)
        return self

    def cursor(self):
        return self

    def close(self):
        pass


def _stale_session(fetch=None):
    """Keys past their refresh point: the handle comes back for new ones every second."""
    now = time.time()
    stale = TemporaryCredentials(
        "AKIASTALE", "secret", "token", expiration=now + 5, issued=now - 95
    )
    return SimpleNamespace(
        region_name="us-west-2",
        windows=RefreshWindows(),
        get_credentials=lambda: SimpleNamespace(get_temporary_credentials=fetch or (lambda: stale)),
    ), stale


def test_keys_past_their_refresh_point_are_retried_later_not_in_a_loop():
    """While STS fails, the session hands back keys whose refresh point has passed."""
    session, _ = _stale_session()
    con = _FakeConnection()
    with duckdb_secret(con, session) as secret:  # type: ignore[arg-type]
        time.sleep(0.5)
        assert secret.replaced == 1
        assert secret.renew_at > time.time()
    creates = [s for s in con.statements if s.startswith("CREATE OR REPLACE TEMPORARY SECRET")]
    assert len(creates) == 1
    assert "KEY_ID 'AKIASTALE'" in creates[0]
    assert con.statements[-1] == 'DROP TEMPORARY SECRET IF EXISTS "refreshsts"'


def test_a_failed_create_never_shows_the_secret(pipeline_session, sts_proxy):
    con = duckdb.connect()
    with pytest.raises(RefreshstsError) as failed:
        duckdb_secret(con, pipeline_session, no_such_option="x", **_endpoint(sts_proxy))
    current = pipeline_session.get_credentials().credentials
    assert "NO_SUCH_OPTION" in str(failed.value).upper()
    assert current.secret_access_key not in str(failed.value)
    assert current.session_token not in str(failed.value)
    assert failed.value.__cause__ is None
    assert failed.value.__suppress_context__


def test_a_message_quoting_part_of_the_token_shows_no_usable_fragment():
    token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample+token=="
    cut = f"Parser Error: syntax error at or near \"{token[5:45]}\" (SECRET 'abc')"
    shown = _scrub(cut, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
    assert token[5:45] not in shown
    assert all(token[i : i + 16] not in shown for i in range(len(token) - 16))
    assert shown.startswith("Parser Error: syntax error at or near")


class _RecordingConnection(_FakeConnection):
    """Records which thread ran each statement and how many ran at once."""

    def __init__(self):
        super().__init__()
        self.running = 0
        self.overlaps = 0

    def execute(self, statement):
        self.running += 1
        self.overlaps += self.running > 1
        time.sleep(0.01)
        self.running -= 1
        return super().execute(statement)


def test_a_replacement_still_in_sts_after_close_never_brings_the_secret_back(monkeypatch):
    """STS outlasts close()'s join: the late CREATE must not follow the DROP."""
    monkeypatch.setattr(duckdb_integration, "_JOIN_TIMEOUT", 0.2, raising=False)
    sts_answers = threading.Event()
    calls = []

    def fetch():
        calls.append(time.time())
        if len(calls) > 1:
            sts_answers.wait(10)
        return stale

    session, stale = _stale_session(fetch)
    con = _RecordingConnection()
    secret = duckdb_secret(con, session)  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) == 2, "the thread should be waiting for STS"
    secret.close()
    sts_answers.set()
    secret._thread.join(5)
    assert not secret._thread.is_alive()
    creates = [s for s in con.statements if s.startswith("CREATE OR REPLACE")]
    assert len(creates) == 1
    assert con.statements[-1] == 'DROP TEMPORARY SECRET IF EXISTS "refreshsts"'
    assert con.overlaps == 0


def test_a_connection_closed_without_close_stops_the_thread_quietly(caplog):
    session, _ = _stale_session()
    con = duckdb.connect()
    secret = duckdb_secret(con, session)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="refreshsts"):
        con.close()
        secret._thread.join(5)
    assert not secret._thread.is_alive()
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "connection is closed" in caplog.text
    secret.close()  # nothing left to drop, and no error
