"""The API reference documents what users call: Args and Returns, type aliases, no plumbing.

mkdocstrings renders the Google-style sections of these docstrings on docs/api.md; hop,
credential and cache plumbing is hidden there by the `filters` of mkdocs.yml, so it is
exempt here too.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import refreshsts
import refreshsts.integrations

ROOT = Path(__file__).resolve().parents[2]
API_PAGE = ROOT / "docs" / "api.md"

TYPE_ALIASES = (
    "DurationLike",
    "MfaToken",
    "PolicyLike",
    "RefreshListener",
    "SourceLike",
    "TagsLike",
    "TokenLike",
)
VALUES = {"MAX", "__version__", *TYPE_ALIASES}
"""Names in __all__ that are no callable: documented by their attribute docstring."""
IMPLEMENTS = {
    refreshsts.MemoryCache: refreshsts.CredentialCache,
    refreshsts.NoCache: refreshsts.CredentialCache,
    refreshsts.FileCache: refreshsts.CredentialCache,
    refreshsts.RedisCache: refreshsts.CredentialCache,
    refreshsts.OnDemandRefresh: refreshsts.RefreshStrategy,
    refreshsts.BackgroundRefresh: refreshsts.RefreshStrategy,
}
"""A protocol's methods are documented once, on the protocol; docs/api.md lists only the
implementations' other members."""


def _protocol_methods(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items() if inspect.isfunction(value)}


def _hidden() -> set[str]:
    """Member names the reference leaves out: the `!^name$` filters of mkdocs.yml."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    plugin = next(p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    filters = plugin["mkdocstrings"]["handlers"]["python"]["options"]["filters"]
    return {m.group(1) for f in filters if (m := re.fullmatch(r"!\^(\w+)\$", f))}


HIDDEN = _hidden()


def _section(doc: str, title: str) -> str | None:
    """The indented body of every `title:` section of `doc`, or None when it has none."""
    blocks = re.findall(rf"^{title}:\n((?:[ \t]+.*\n?|\n)*)", doc, re.M)
    return "".join(blocks) if blocks else None


def _arg_names(doc: str) -> set[str]:
    names: set[str] = set()
    for title in ("Args", "Attributes"):
        block = _section(doc, title) or ""
        names |= set(re.findall(r"^ {4}\**(\w+)(?: \([^)]*\))?:", block, re.M))
    return names


def _params(func: Callable[..., Any]) -> list[str]:
    return [name for name in inspect.signature(func).parameters if name not in ("self", "cls")]


def _returns_something(func: Callable[..., Any]) -> bool:
    annotation = inspect.signature(func).return_annotation
    return annotation not in (None, "None", inspect.Signature.empty)


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties refreshsts defines on `cls` or its bases."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("refreshsts"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in HIDDEN or name in seen:
                continue
            if cls in IMPLEMENTS and name in _protocol_methods(IMPLEMENTS[cls]):
                continue
            seen.add(name)
            if isinstance(value, property) and value.fget is not None:
                yield f"{cls.__name__}.{name}", value
            elif isinstance(value, (classmethod, staticmethod)):
                yield f"{cls.__name__}.{name}", value.__func__
            elif inspect.isfunction(value):
                yield f"{cls.__name__}.{name}", value


def _field_docs(cls: type) -> str:
    """A dataclass's attribute docstrings, written as Args entries."""
    if not is_dataclass(cls):
        return ""
    source = textwrap.dedent(inspect.getsource(cls))
    names = re.findall(r'^    (\w+): .*\n    """', source, re.M)
    return "\nArgs:\n" + "".join(f"    {name}: documented\n" for name in names)


def _problems(where: str, func: Callable[..., Any], extra_doc: str = "") -> list[str]:
    doc = (inspect.getdoc(func) or "") + "\n" + extra_doc
    problems = []
    if not doc.strip():
        problems.append(f"{where}: no docstring")
    missing = [p for p in _params(func) if p not in _arg_names(doc)]
    if missing:
        problems.append(f"{where}: Args does not describe {', '.join(missing)}")
    if (
        where.rsplit(".", maxsplit=1)[-1] != "__init__"
        and _returns_something(func)
        and _section(doc, "Returns") is None
        and _section(doc, "Yields") is None
    ):
        problems.append(f"{where}: no Returns section")
    return problems


def _object_problems(name: str, obj: Any) -> Iterator[str]:
    if inspect.isclass(obj):
        class_doc = inspect.getdoc(obj) or ""
        if not class_doc.strip():
            yield f"{name}: no docstring"
        init = obj.__init__
        if getattr(init, "__module__", "").startswith("refreshsts") or is_dataclass(obj):
            yield from _problems(f"{name}.__init__", init, class_doc + _field_docs(obj))
        for where, member in _members(obj):
            if isinstance(member, property):
                if not (inspect.getdoc(member.fget) or "").strip():
                    yield f"{where}: no docstring"
            else:
                yield from _problems(where, member)
    else:
        yield from _problems(name, obj)


def _public_problems() -> Iterator[str]:
    for name in refreshsts.__all__:
        if name not in VALUES:
            yield from _object_problems(name, getattr(refreshsts, name))


def _rendered() -> list[str]:
    """Every object docs/api.md renders from outside `refreshsts.__all__`."""
    names = re.findall(r"^::: (refreshsts\.[\w.]+)$", API_PAGE.read_text(encoding="utf-8"), re.M)
    return [name for name in names if name.count(".") > 1]


def _resolve(dotted: str) -> Any:
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def test_every_public_callable_documents_its_args_and_returns() -> None:
    problems = list(_public_problems())
    assert not problems, "\n".join(problems)


def test_the_reference_renders_the_pipeline_api() -> None:
    assert {
        "refreshsts.aio.RefreshableSession",
        "refreshsts.integrations.polars_credential_provider",
        "refreshsts.integrations.pyarrow_filesystem",
        "refreshsts.integrations.duckdb_secret",
    } <= set(_rendered())
    assert "CredentialServer" in refreshsts.__all__


RETURNED = (
    "refreshsts.integrations.DuckDBSecret",
    "refreshsts.integrations.PolarsCredentialProvider",
    "refreshsts.tokens.GitHubActionsToken",
    "refreshsts.tokens.GcpMetadataToken",
    "refreshsts.tokens.AzureManagedIdentityToken",
)
"""What rendered functions return: users call their methods, so they are checked too."""


@pytest.mark.parametrize("dotted", [*_rendered(), *RETURNED])
def test_every_rendered_callable_outside_all_documents_its_args_and_returns(dotted: str) -> None:
    if dotted.startswith("refreshsts.aio."):
        pytest.importorskip("aiobotocore")
    problems = list(_object_problems(dotted.removeprefix("refreshsts."), _resolve(dotted)))
    assert not problems, "\n".join(problems)


BAD_INPUT: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (refreshsts.AssumeRole, ("not-an-arn",), {}),
    (refreshsts.AssumeRoleWithWebIdentity, ("arn:aws:iam::123456789012:role/r",), {}),
    (refreshsts.AssumeRoleWithSAML, ("arn:aws:iam::123456789012:role/r", "x"), {"assertion": "a"}),
    (refreshsts.GetFederationToken, ("x",), {}),
    (refreshsts.GetSessionToken, (), {"duration": "1y"}),
    (refreshsts.RefreshableSession, (), {}),
    (refreshsts.RefreshWindows, (), {"advisory_fraction": 2}),
    (refreshsts.OnDemandRefresh, (), {"wait_timeout": 0}),
    (refreshsts.BackgroundRefresh, (), {"jitter": 1}),
    (refreshsts.MemoryCache, (), {"maxsize": 0}),
    (refreshsts.FileCache, ("/dev/null",), {}),
    (refreshsts.RedisCache, ("redis://localhost",), {"namespace": ""}),
    (refreshsts.InstanceMetadata, (), {"endpoint": "nope"}),
    (refreshsts.ContainerCredentials, (), {"full_uri": "http://a", "relative_uri": "/b"}),
    (refreshsts.parse_duration, ("1 hour",), {}),
    (refreshsts.RefreshableSession.from_profile, ("refreshsts-no-such-profile",), {}),
    (refreshsts.integrations.duckdb_secret, (None, None), {"name": "1st"}),
    (refreshsts.integrations.pyarrow_filesystem, (None,), {"access_key": "AKIA"}),
    (refreshsts.tokens.github_actions, ("",), {}),
    (refreshsts.tokens.gcp_metadata, ("",), {}),
    (refreshsts.tokens.azure_managed_identity, ("",), {}),
    (refreshsts.tokens.aws_web_identity, (None, []), {"region": "us-west-2"}),
]
"""Bad input for each callable that validates it, with the error its Raises section names."""


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [pytest.param(*case, id=case[0].__qualname__) for case in BAD_INPUT],
)
def test_raises_names_the_error_bad_input_gets(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(refreshsts.ConfigurationError):
        func(*args, **kwargs)
    raises = _section(inspect.getdoc(func) or "", "Raises") or ""
    assert re.search(r"^ {4}ConfigurationError:", raises, re.M), f"{func.__qualname__}: {raises}"


def test_the_checker_sees_a_missing_section() -> None:
    def undocumented(value: int, *, name: str = "x") -> int:
        """Only a summary line."""
        return value

    def documented(value: int, *, name: str = "x") -> int:
        """A summary line.

        Args:
            value: A number.
            name (str): A label.

        Returns:
            The number.
        """
        return value

    assert _problems("undocumented", undocumented) == [
        "undocumented: Args does not describe value, name",
        "undocumented: no Returns section",
    ]
    assert _problems("documented", documented) == []


def test_plumbing_is_hidden_from_the_reference() -> None:
    plumbing = {"limits", "request", "call", "step_down", "resolve_duration", "cache_fields"}
    assert plumbing <= HIDDEN


@pytest.mark.parametrize("cls", IMPLEMENTS, ids=lambda cls: cls.__name__)
def test_the_reference_lists_an_implementation_without_the_protocol_methods(cls: type) -> None:
    page = API_PAGE.read_text(encoding="utf-8")
    match = re.search(
        rf"^::: refreshsts\.{cls.__name__}\n {{4}}options:\n {{6}}members: (.*)$", page, re.M
    )
    assert match is not None, f"docs/api.md: give {cls.__name__} a members: list"
    listed = set(re.findall(r"\w+", match.group(1))) - {"false"}
    assert not listed & _protocol_methods(IMPLEMENTS[cls])


@pytest.mark.parametrize("alias", TYPE_ALIASES)
def test_type_alias_is_exported_and_on_the_reference_page(alias: str) -> None:
    assert alias in refreshsts.__all__
    assert getattr(refreshsts, alias) is not None
    assert f"::: refreshsts.{alias}\n" in API_PAGE.read_text(encoding="utf-8")


@pytest.mark.skipif(
    importlib.util.find_spec("mypy_boto3_s3") is None or importlib.util.find_spec("mypy") is None,
    reason="needs boto3-stubs[s3] and mypy installed",
)
def test_client_keeps_boto3_stubs_overloads(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """\
            import refreshsts

            session = refreshsts.RefreshableSession(
                refreshsts.AssumeRole("arn:aws:iam::123456789012:role/r")
            )
            reveal_type(session.client("s3"))
            """
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path), snippet],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 'Revealed type is "mypy_boto3_s3.client.S3Client"' in result.stdout, result.stdout
