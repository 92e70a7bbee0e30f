"""The guides say what the code does: real messages, every variable, logger and extra."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import botocore

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "refreshsts"
GUIDES = ROOT / "docs" / "guides"

STS_ERROR_CODES = {
    "AccessDenied",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "MultiFactorAuthentication failed",
}
"""What STS itself answers: quoted in the guide, found in no source file here."""


def _sources(root: Path) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py")))


def _with_holes(text: str) -> str:
    """Source text with its %-placeholders and f-string fields written as `...`."""
    text = re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfo]", "...", text)
    return re.sub(r"\{[^{}\n]*\}", "...", text)


def _guide(name: str) -> str:
    return (GUIDES / name).read_text(encoding="utf-8")


def test_each_troubleshooting_heading_quotes_a_message_that_exists():
    ours = _with_holes(_sources(SRC))
    botocore_text = _sources(Path(botocore.__file__).parent)
    headings = re.findall(r"(?m)^### (.*`.*)$", _guide("troubleshooting.md"))
    quoted = [part for heading in headings for part in re.findall(r"`([^`]+)`", heading)]

    assert len(quoted) >= 30
    missing = []
    for fragment in quoted:
        for piece in (p.strip(" ()") for p in fragment.split("...")):
            if len(piece) < 5 or piece in STS_ERROR_CODES:
                continue
            if piece not in ours and piece not in botocore_text:
                missing.append(piece)
    assert missing == [], f"troubleshooting.md quotes messages no code produces: {missing}"


def test_the_environment_page_names_every_variable_the_code_reads():
    read = set(re.findall(r"\"((?:REFRESHSTS|AWS|XDG)_[A-Z0-9_]+)\"", _sources(SRC)))
    page = _guide("environment.md")

    assert "REFRESHSTS_CACHE_KEY" in read
    assert sorted(name for name in read if f"`{name}`" not in page) == []


def test_the_logging_page_names_every_logger():
    loggers = set(re.findall(r"getLogger\(\"([\w.]+)\"\)", _sources(SRC)))
    page = _guide("logging.md")

    assert loggers >= {"refreshsts", "refreshsts.cli"}
    assert sorted(name for name in loggers if f"`{name}`" not in page) == []


def test_the_installation_page_explains_every_extra():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    extras = re.findall(r"(?m)^([\w-]+) = \[", table)
    page = _guide("installation.md")

    assert {"encryption", "redis", "demo", "test", "dev"} <= set(extras)
    assert sorted(extra for extra in extras if f"`{extra}`" not in page) == []
    assert "not on PyPI" in page


def test_every_guide_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")

    assert sorted(p.name for p in GUIDES.glob("*.md") if f"guides/{p.name}" not in nav) == []


def test_the_refreshsts_snippets_of_coming_from_build_as_printed(tmp_path, monkeypatch):
    """Built, not run: construction checks every argument and profile before any call."""
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "config").write_text(
        "[profile ststestprofile]\nregion = us-west-2\n"
        "[profile s3-read-only]\n"
        "role_arn = arn:aws:iam::123456789012:role/sts-s3-read-only\n"
        "source_profile = ststestprofile\nrole_session_name = mytestsession\n",
        encoding="utf-8",
    )
    (aws / "credentials").write_text(
        "[ststestprofile]\naws_access_key_id = AKIAEXAMPLE000000000\n"
        "aws_secret_access_key = not-a-secret\n",
        encoding="utf-8",
    )
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    blocks = re.findall(r"```python\n(.*?)```", _guide("coming-from.md"), re.S)
    ours = [textwrap.dedent(block) for block in blocks if "import refreshsts" in block]

    assert len(ours) == 4
    for block in ours:
        namespace: dict[str, object] = {}
        exec(compile(block, "coming-from.md", "exec"), namespace)
        built = [
            value for value in namespace.values() if type(value).__name__ == "RefreshableSession"
        ]
        assert len(built) == 1, block
