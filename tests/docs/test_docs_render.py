"""The rendered docs, looked at in headless Chromium at 1280 px (scripts/check_docs_render.py)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),  # a site build and a browser on a busy CI machine
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does it as root)",
    ),
]


def _load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_docs_render", ROOT / "scripts" / "check_docs_render.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load_check()


def test_every_page_of_the_docs_fits_at_1280_px_and_every_link_lands(tmp_path):
    site = tmp_path / "site"
    check.build_site(ROOT / "mkdocs.yml", site)

    count, problems = check.check_site(site, CHROMIUM, 1280)

    assert count >= 20
    assert [str(problem) for problem in problems] == []


def _write_site(root: Path, pages: dict[str, str]) -> Path:
    """A tiny Material site without refreshsts' stylesheet, built into root/site."""
    (root / "docs").mkdir()
    for name, text in pages.items():
        (root / "docs" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "mkdocs.yml").write_text(
        textwrap.dedent(
            """\
            site_name: render check
            theme:
              name: material
              font: false
            validation:
              links:
                not_found: info
                anchors: info
            markdown_extensions:
              - tables
              - pymdownx.superfences
              - pymdownx.tabbed:
                  alternate_style: true
            """
        ),
        encoding="utf-8",
    )
    site = root / "site"
    check.build_site(root / "mkdocs.yml", site)
    return site


def test_the_check_flags_wide_code_wide_tables_and_broken_links(tmp_path):
    wide_row = " | ".join(f"`{'x' * 30}{n}`" for n in range(8))
    site = _write_site(
        tmp_path,
        {
            "index.md": """\
                # Fits

                ```sh
                aws s3 ls
                ```

                [the other page](other.md), [a missing page](missing.md),
                [a missing anchor](other.md#nowhere), [a real anchor](other.md#wide-table).
                """,
            "other.md": f"""\
                # Too wide

                ```sh
                credential_process = refreshsts credential-process {"--role-arn arn " * 20}
                ```

                === "Shown"

                    ```sh
                    aws s3 ls
                    ```

                === "Hidden until clicked"

                    ```sh
                    hidden-tab {"--long-option value " * 20}
                    ```

                ## Wide table

                | {" | ".join(f"c{n}" for n in range(8))} |
                |{"---|" * 8}
                | {wide_row} |
                """,
        },
    )

    count, problems = check.check_site(site, CHROMIUM, 1280)

    assert count == 2
    assert sorted((p.page, p.kind.split(" under ")[0]) for p in problems) == [
        ("index", "broken anchor"),
        ("index", "broken link"),
        ("other/", "code block wider than its box"),
        ("other/", "code block wider than its box"),
        ("other/", "table wider than its box"),
    ]
    code = [p.detail for p in problems if p.kind.startswith("code block")]
    assert any("hidden-tab --long-option" in detail for detail in code)
    details = {p.kind.split(" under ")[0]: p.detail for p in problems}
    assert details["broken link"] == "/missing.md"
    assert details["broken anchor"] == "/other/#nowhere"
    assert any("credential_process = refreshsts" in detail for detail in code)
