#!/usr/bin/env bash
# ctrlens developer entry point. Installs what it needs, then:
#   ./dev.sh demo [ctrlens demo flags]   run the example site + dashboard on SQLite
#   ./dev.sh test [pytest args]          run the whole test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"

VENV=${CTRLENS_VENV:-.venv}
PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "dev.sh: please install: $*" >&2; return 1
  fi
  if [ ! -f /tmp/.ctrlens-apt-updated ]; then
    as_root apt-get update -qq && touch /tmp/.ctrlens-apt-updated
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_venv() {
  local extras=$1
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$PY" -m venv "$VENV"; }
  fi
  # Reinstall only when the dependencies changed.
  local stamp="$VENV/.ctrlens-${extras:-base}-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".${extras:+[$extras]}"
    touch "$stamp"
  fi
}

ensure_chromium() {
  # Playwright cannot download its browser here; Debian's chromium works with it.
  if "$VENV/bin/python" - <<'PY' 2>/dev/null; then return 0; fi
from pathlib import Path
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    raise SystemExit(0 if Path(p.chromium.executable_path).exists() else 1)
PY
  command -v chromium >/dev/null || apt_install chromium
}

ensure_postgres() {
  # A local PostgreSQL for the PostgreSQL half of the suite (tests/pg_setup.sh).
  if [ -x tests/pg_setup.sh ]; then
    eval "$(tests/pg_setup.sh)"
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    ensure_venv ""
    exec "$VENV/bin/ctrlens" demo "$@"
    ;;
  test)
    ensure_venv test
    ensure_chromium
    ensure_postgres
    # Two workers, one test file each at a time (module fixtures start one server per file): most
    # tests wait on a server or a browser, so two cores run the suite in about two thirds of the
    # time. CTRLENS_TEST_WORKERS=0 runs it in one process.
    workers=${CTRLENS_TEST_WORKERS:-2}
    if [ "$workers" != 0 ]; then
      set -- -n "$workers" --dist loadfile "$@"
    fi
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo [flags] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
