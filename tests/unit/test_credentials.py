import pickle
import threading
import time

import botocore.session
import pytest
import time_machine
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from fixtures.fakes import FakeSTS, fake_credentials, refusals_from_threads, sts_error
from refreshsts import ConfigurationError, MemoryCache, NoCache, RefreshError, RefreshWindows
from refreshsts._internal import sts_errors
from refreshsts._temporary import TemporaryCredentials
from refreshsts.credentials import RefreshingCredentials

START = 1_900_000_000.0


def make(sts, cache=None, key="k"):
    return fake_credentials(sts, cache, key)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_is_a_botocore_refreshable_credentials_fetched_lazily(clock):
    sts = FakeSTS()
    creds = make(sts)
    assert isinstance(creds, RefreshableCredentials)
    assert sts.calls == 0
    assert creds.get_frozen_credentials().access_key == "AKID1"
    assert creds.access_key == "AKID1"
    assert creds.secret_key == "SECRET1"
    assert creds.token == "TOKEN1"


def test_900s_credentials_refresh_once_in_their_advisory_window(clock):
    sts = FakeSTS(900)
    creds = make(sts)
    for _ in range(200):
        creds.get_frozen_credentials()
    assert sts.calls == 1
    clock.shift(599)
    creds.get_frozen_credentials()
    assert sts.calls == 1, "a 15-minute credential must not refresh before 5 minutes remain"
    clock.shift(2)
    creds.get_frozen_credentials()
    assert creds.wait_for_refresh(5)
    assert creds.get_frozen_credentials().access_key == "AKID2"
    assert sts.calls == 2


@pytest.mark.parametrize(
    ("lifetime", "advisory", "mandatory"),
    [
        (900, 300, 60),
        (3600, 900, 60),
        (43200, 3600, 60),
        (129600, 3600, 60),
        (12, 4, 1.2),
        (300, 100, 30),
    ],
)
def test_windows_are_sized_by_lifetime(lifetime, advisory, mandatory):
    windows = RefreshWindows()
    assert windows.advisory(lifetime) == pytest.approx(advisory)
    assert windows.mandatory(lifetime) == pytest.approx(mandatory)


def test_advisory_failure_keeps_valid_credentials_and_backs_off(clock, caplog):
    sts = FakeSTS(900)
    creds = make(sts)
    creds.get_frozen_credentials()
    clock.shift(650)
    sts.fail = True
    assert creds.get_frozen_credentials().access_key == "AKID1"
    assert creds.wait_for_refresh(5)
    assert sts.calls == 2
    for _ in range(50):
        assert creds.get_frozen_credentials().access_key == "AKID1"
    assert sts.calls == 2, "a failing refresh must back off, not retry on every read"
    assert "next attempt in" in caplog.text
    assert "SECRET" not in caplog.text and "TOKEN" not in caplog.text
    clock.shift(200)
    sts.fail = False
    assert creds.get_frozen_credentials().access_key == "AKID3"


def test_mandatory_failure_still_serves_unexpired_and_never_expired(clock):
    sts = FakeSTS(900)
    creds = make(sts)
    creds.get_frozen_credentials()
    sts.fail = True
    clock.shift(870)
    assert creds.get_frozen_credentials().access_key == "AKID1"
    clock.shift(29)
    with pytest.raises(
        RefreshError, match=r"hop 1 of 1 \(test\).*ConnectionError: sts unreachable"
    ) as info:
        creds.get_frozen_credentials()
    assert info.value.hop == 1
    assert isinstance(info.value.__cause__, ConnectionError)
    assert "SECRET" not in str(info.value)


def test_expired_with_sts_down_raises_every_time_without_hammering(clock):
    sts = FakeSTS(900)
    creds = make(sts)
    creds.get_frozen_credentials()
    sts.fail = True
    clock.shift(1000)
    for _ in range(5):
        with pytest.raises(RefreshError):
            creds.get_frozen_credentials()
    assert sts.calls <= 3


def test_first_fetch_failure_is_a_refresh_error(clock):
    sts = FakeSTS()
    sts.fail = True
    with pytest.raises(RefreshError):
        make(sts).get_frozen_credentials()


def test_32_threads_on_fresh_credentials_make_one_call():
    sts = FakeSTS(900)
    sts.gate = threading.Event()
    creds = make(sts)
    seen = []
    threads = [
        threading.Thread(target=lambda: seen.append(creds.get_frozen_credentials().access_key))
        for _ in range(32)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    sts.gate.set()
    for t in threads:
        t.join()
    assert sts.calls == 1
    assert seen == ["AKID1"] * 32


def test_advisory_refresh_blocks_no_caller():
    sts = FakeSTS(3.0)
    creds = make(sts)
    creds.get_frozen_credentials()
    time.sleep(2.1)
    sts.gate = threading.Event()
    for _ in range(3):
        started = time.perf_counter()
        assert creds.get_frozen_credentials().access_key == "AKID1"
        assert time.perf_counter() - started < 0.05
    sts.gate.set()
    assert creds.wait_for_refresh(5)
    assert creds.get_frozen_credentials().access_key == "AKID2"
    assert sts.calls == 2


def test_refresh_forces_a_fetch(clock):
    sts = FakeSTS()
    creds = make(sts)
    creds.get_frozen_credentials()
    creds.refresh()
    assert creds.get_frozen_credentials().access_key == "AKID2"


def test_credentials_sharing_a_cache_make_one_call(clock):
    sts = FakeSTS()
    cache = MemoryCache()
    sessions = [make(sts, cache) for _ in range(10)]
    assert {c.get_frozen_credentials().access_key for c in sessions} == {"AKID1"}
    assert sts.calls == 1


def test_stale_cache_entry_serves_when_sts_fails(clock):
    sts = FakeSTS(900)
    cache = MemoryCache()
    make(sts, cache).get_frozen_credentials()
    clock.shift(700)
    sts.fail = True
    fresh_process = make(sts, cache)
    assert fresh_process.get_frozen_credentials().access_key == "AKID1"


def test_no_secret_in_repr_and_no_pickle(clock):
    creds = make(FakeSTS())
    creds.get_frozen_credentials()
    assert "SECRET" not in repr(creds) and "TOKEN" not in repr(creds) and "AKID" not in repr(creds)
    assert "SECRET" not in repr(creds.credentials)
    with pytest.raises(TypeError, match="pickle the RefreshableSession"):
        pickle.dumps(creds)


def test_get_frozen_credentials_is_cheap():
    creds = make(FakeSTS(3600))
    creds.get_frozen_credentials()
    n = 100_000
    started = time.perf_counter()
    for _ in range(n):
        creds.get_frozen_credentials()
    per_call = (time.perf_counter() - started) / n
    assert per_call < 2e-6, f"{per_call * 1e6:.2f} us per read"


def test_temporary_credentials_come_with_their_own_expiry(clock):
    creds = make(FakeSTS(900))
    first = creds.get_temporary_credentials()
    assert first.access_key_id == "AKID1"
    assert first.expiration == START + 900
    clock.shift(700)
    creds.get_temporary_credentials()
    assert creds.wait_for_refresh(5)
    second = creds.get_temporary_credentials()
    assert (second.access_key_id, second.expiration) == ("AKID2", START + 700 + 900)


@pytest.mark.parametrize("name", ["advisory_fraction", "mandatory_seconds", "mandatory_fraction"])
def test_windows_refuse_values_that_are_not_finite_numbers(name):
    with pytest.raises(ConfigurationError, match=f"{name}=nan must be a finite number"):
        RefreshWindows(**{name: float("nan")})


def test_the_mandatory_window_never_opens_before_the_advisory_one():
    windows = RefreshWindows(mandatory_seconds=600)
    for lifetime in (900, 3600, 43200):
        assert windows.mandatory(lifetime) <= windows.advisory(lifetime)


def test_a_failure_with_nothing_left_promises_no_next_attempt(clock, caplog):
    caplog.set_level("INFO", logger="refreshsts")
    sts = FakeSTS(900)
    sts.fail = True
    creds = make(sts)
    with pytest.raises(RefreshError):
        creds.get_frozen_credentials()
    assert "no valid credentials left" in caplog.text
    assert "next attempt" not in caplog.text, "the caller may be a command about to exit"


def test_a_refusal_no_retry_fixes_is_remembered_for_every_caller(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = FakeSTS(900)
    sts.error_code = "AccessDenied"
    creds = make(sts)
    for _ in range(50):
        with pytest.raises(RefreshError, match=r"AccessDenied.*STS is not asked again for \d+ s"):
            creds.get_frozen_credentials()
        clock.shift(0.5)
    assert sts.calls == 1, "an AccessDenied must not be asked again within 30 s"
    sts.error_code = None
    clock.shift(6)
    assert creds.get_frozen_credentials().access_key == "AKID2"
    assert sts.calls == 2


def test_a_throttled_refresh_keeps_the_shorter_backoff(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = FakeSTS(900)
    sts.error_code = "Throttling"
    creds = make(sts)
    with pytest.raises(RefreshError, match="Throttling") as info:
        creds.get_frozen_credentials()
    assert "not asked again" not in str(info.value)
    clock.shift(2.5)
    with pytest.raises(RefreshError, match="Throttling"):
        creds.get_frozen_credentials()
    assert sts.calls == 2


def test_50_calls_from_8_threads_on_a_refusal_make_one_sts_call():
    sts = FakeSTS(900)
    sts.error_code = "AccessDenied"
    creds = make(sts)
    errors = refusals_from_threads(creds.get_frozen_credentials)
    assert len(errors) == 50
    assert all("AccessDenied" in text for text in errors)
    assert sts.calls == 1


def test_a_refusal_in_the_advisory_window_keeps_valid_credentials(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = FakeSTS(900)
    creds = make(sts)
    creds.get_frozen_credentials()
    clock.shift(650)
    sts.error_code = "AccessDenied"
    for _ in range(29):
        assert creds.get_frozen_credentials().access_key == "AKID1"
        assert creds.wait_for_refresh(5)
        clock.shift(1)
    assert sts.calls == 2, "in the advisory window a refusal is asked again after 30 s only"
    assert creds.status().last_error.startswith("ClientError")
    clock.shift(2)
    creds.get_frozen_credentials()
    assert creds.wait_for_refresh(5)
    assert sts.calls == 3


def test_forced_refresh_does_not_ask_again_within_the_negative_cache(clock):
    sts = FakeSTS(900)
    creds = make(sts)
    creds.get_frozen_credentials()
    sts.error_code = "InvalidClientTokenId"
    for _ in range(5):
        with pytest.raises(RefreshError, match="InvalidClientTokenId"):
            creds.refresh()
    assert sts.calls == 2
    assert creds.get_frozen_credentials().access_key == "AKID1"


class TokenSTS(FakeSTS):
    """A web identity hop: STS refuses `refused` tokens with `code`, others get credentials."""

    def __init__(self, code: str) -> None:
        super().__init__(900)
        self.code = code
        self.token = "token-1"
        self.refused = {"token-1"}

    def __call__(self) -> TemporaryCredentials:
        if self.token in self.refused:
            with self._lock:
                self.calls += 1
            raise sts_error(self.code, operation="AssumeRoleWithWebIdentity")
        return super().__call__()

    def key(self) -> str:
        """As a web identity hop's cache key does, one that changes with the token."""
        return f"key-of-{self.token}"


def token_credentials(sts: TokenSTS) -> RefreshingCredentials:
    return RefreshingCredentials(sts, cache=NoCache(), cache_key=sts.key, label="t", hop=1)


@pytest.mark.parametrize("code", ["InvalidIdentityToken", "ExpiredTokenException"])
def test_a_rotated_token_goes_to_sts_at_once_despite_a_refusal(clock, monkeypatch, code):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = TokenSTS(code)
    creds = token_credentials(sts)
    for _ in range(3):
        with pytest.raises(RefreshError, match=code):
            creds.get_frozen_credentials()
        clock.shift(1)
    assert sts.calls == 1, "the same token is not asked again within the negative cache"
    sts.token = "token-2"
    assert creds.get_frozen_credentials().access_key == "AKID2"
    assert sts.calls == 2


def test_a_rotated_token_refused_again_is_remembered_in_turn(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = TokenSTS("InvalidIdentityToken")
    sts.refused.add("token-2")
    creds = token_credentials(sts)
    with pytest.raises(RefreshError):
        creds.get_frozen_credentials()
    sts.token = "token-2"
    for _ in range(3):
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            creds.get_frozen_credentials()
    assert sts.calls == 2, "token-2's refusal stands for token-2"


def test_a_forced_refresh_after_a_refusal_goes_to_sts_with_a_rotated_token(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = TokenSTS("InvalidIdentityToken")
    sts.token = "token-0"
    creds = token_credentials(sts)
    creds.get_frozen_credentials()
    sts.token = "token-1"
    with pytest.raises(RefreshError, match="InvalidIdentityToken"):
        creds.refresh()
    with pytest.raises(RefreshError, match="InvalidIdentityToken"):
        creds.refresh()
    assert sts.calls == 2
    sts.token = "token-2"
    creds.refresh()
    assert creds.get_frozen_credentials().access_key == "AKID3"


def test_a_key_that_cannot_be_made_leaves_the_refusal_standing(clock, monkeypatch):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 30.0)
    sts = TokenSTS("InvalidIdentityToken")
    keys = iter([sts.key()])

    def key() -> str:
        return next(keys)  # StopIteration after the first: the token file went away

    creds = RefreshingCredentials(sts, cache=NoCache(), cache_key=key, label="t", hop=1)
    for _ in range(3):
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            creds.get_frozen_credentials()
    assert sts.calls == 1


def test_the_account_id_comes_from_the_arn_and_survives_a_cache_entry():
    arn = "arn:aws:sts::210987654321:assumed-role/reader/app"
    fresh = TemporaryCredentials("ASIA1", "secret", "token", START + 900, START, arn)
    assert fresh.account_id == "210987654321"
    assert TemporaryCredentials.from_dict(fresh.to_dict()) == fresh
    older = {key: value for key, value in fresh.to_dict().items() if key != "account_id"}
    assert TemporaryCredentials.from_dict(older).account_id == "210987654321"
    signer_s = TemporaryCredentials("ASIA2", "s", "t", START + 900, START, None, "123456789012")
    assert TemporaryCredentials.from_dict(signer_s.to_dict()).account_id == "123456789012"


def test_frozen_credentials_carry_the_account_id_for_account_based_endpoints(clock):
    arn = "arn:aws:sts::210987654321:assumed-role/reader/app"
    fetched = TemporaryCredentials("ASIA1", "secret", "token", START + 900, START, arn)
    creds = RefreshingCredentials(
        lambda: fetched, cache=MemoryCache(), cache_key=lambda: "ab" * 16, label="t", hop=1
    )
    assert creds.get_frozen_credentials().account_id == "210987654321"


class _Sent(Exception):
    pass


def test_account_based_endpoints_see_the_account_id(clock, monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    arn = "arn:aws:sts::210987654321:assumed-role/reader/app"
    fetched = TemporaryCredentials("ASIA1", "secret", "token", START + 900, START, arn)
    creds = RefreshingCredentials(
        lambda: fetched, cache=MemoryCache(), cache_key=lambda: "ab" * 16, label="t", hop=1
    )
    core = botocore.session.Session()
    core._credentials = creds
    config = Config(account_id_endpoint_mode="required")
    client = core.create_client("dynamodb", region_name="us-east-1", config=config)
    urls = []

    def stop(request, **_):
        urls.append(request.url)
        raise _Sent

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Sent):
        client.list_tables()
    assert urls == ["https://210987654321.ddb.us-east-1.amazonaws.com/"]


def test_no_cache_never_reports_a_held_cache_lock(caplog):
    caplog.set_level("INFO", logger="refreshsts")
    creds = make(FakeSTS(900), cache=NoCache())
    creds.get_frozen_credentials()
    assert "cache lock stayed held" not in caplog.text, "NoCache has no lock to wait for"


@pytest.mark.parametrize("answer", ["raises", "expired"])
def test_keys_expired_on_arrival_fall_back_to_a_usable_cache_entry_like_a_failed_fetch(answer):
    """Another process's entry with 5 min left (advisory window, before the margin) serves
    when the fetch fails, whether it raises or hands out keys that already expired."""
    now = time.time()
    cache = MemoryCache()
    cache.set(
        "k", TemporaryCredentials("ASIACACHED", "s", "t", expiration=now + 300, issued=now - 3300)
    )

    def fetch() -> TemporaryCredentials:
        if answer == "raises":
            raise RuntimeError("STS unreachable")
        return TemporaryCredentials("ASIALATE", "s", "t", expiration=now - 5, issued=now - 3605)

    creds = RefreshingCredentials(fetch, cache=cache, cache_key=lambda: "k", label="hop", hop=1)
    assert creds.get_frozen_credentials().access_key == "ASIACACHED"
    assert cache.get("k").access_key_id == "ASIACACHED"
