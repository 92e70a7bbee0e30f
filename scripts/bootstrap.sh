#!/usr/bin/env bash
# Sourced by scripts/demo, scripts/test and scripts/docs with one extra (demo, dev, docs): a
# project venv in .venv with refreshsts installed from this checkout (editable), plus that
# extra. pip runs only when .venv is new, the extra is new, or pyproject.toml has changed
# since the last install: a stamp in .venv holds the hash of pyproject.toml per extra.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
EXTRA="$1"
VENV_PY="$ROOT/.venv/bin/python"
if [ ! -x "$VENV_PY" ]; then
  echo "refreshsts: creating the project venv in .venv with $PY"
  "$PY" -m venv "$ROOT/.venv"
fi
STAMP="$ROOT/.venv/.refreshsts-installed-$EXTRA"
WANT="$("$VENV_PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$ROOT/pyproject.toml") $EXTRA"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  return 0 2>/dev/null || exit 0
fi
echo "refreshsts: installing refreshsts[$EXTRA] and its dependencies into .venv" \
  "(first run or pyproject.toml changed: this can take a few minutes)"
rm -f "$STAMP"
if "$VENV_PY" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$EXTRA]"; then
  printf '%s\n' "$WANT" > "$STAMP"
else
  echo "refreshsts: pip could not install refreshsts[$EXTRA] (its output is above)" >&2
  return 1 2>/dev/null || exit 1
fi
