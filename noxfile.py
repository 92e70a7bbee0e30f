"""Developer sessions: tests, lint, typecheck, docs, bench, demo."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (unit, moto server integration, Redis)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs, success_codes=[0])


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "scripts")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[typecheck]")
    session.run("mypy", "--strict")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "-d", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """refreshsts and plain botocore side by side on one moto server; prints ratios."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[demo]")
    session.run("python", "examples/seed_walkthrough.py")
