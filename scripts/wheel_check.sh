#!/usr/bin/env bash
# Builds Deskflow's sdist and wheel and uses the wheel the way a user would, away from the
# checkout: a clean venv in a temporary folder, the wheel installed there, and from another
# temporary folder `deskflow init` on a fresh SQLite file, a short demo and `deskflow replay
# --all`. Fails (non-zero exit) if setuptools warns while building, if a step fails, if
# replay reports a divergence, or if the installed package lacks what the app loads at run
# time (the bundled diagrams, templates, the bpmn-js files `make install` vendors).
#
#   scripts/wheel_check.sh      (`make test-wheel` runs it after `make install`)
#
# PYTHON: the interpreter the clean venv is made with (default python3).
# BUILD_PYTHON: a Python with the `build` package (default .venv/bin/python, dev extras).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUILD_PYTHON="${BUILD_PYTHON:-$ROOT/.venv/bin/python}"
INCIDENTS="${WHEEL_CHECK_INCIDENTS:-12}"
VIEWER=web/static/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js

WORK="$(mktemp -d "${TMPDIR:-/tmp}/deskflow-wheel.XXXXXX")"
WORK="$(cd "$WORK" && pwd -P)"
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in
"$ROOT"/*)
  echo "wheel check: the temporary folder $WORK is inside the checkout" >&2
  exit 1
  ;;
esac

step() { printf '== %s\n' "$*"; }
fail() {
  printf 'wheel check FAILED: %s\n' "$*" >&2
  exit 1
}

[ -f "$ROOT/$VIEWER" ] || fail "$VIEWER is missing: run \`make install\` first"

step "building the sdist, and the wheel from it"
start=$SECONDS
# Byte-compiling stays on so its lines are not mistaken for warnings; the wheel is built
# from the unpacked sdist, so no stale build/ folder of the checkout can leak into it.
if ! env -u PYTHONDONTWRITEBYTECODE "$BUILD_PYTHON" -m build --outdir "$WORK/dist" "$ROOT" \
  >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log" >&2
  fail "the build failed"
fi
if grep -nE 'Warning|^ *!!|absent from the .packages' "$WORK/build.log" >&2; then
  fail "setuptools warned while building (above; the whole log: $WORK/build.log)"
fi
wheel=("$WORK"/dist/deskflow-*.whl)
[ -f "${wheel[0]}" ] || fail "no wheel in $WORK/dist"
echo "$(basename "${wheel[0]}"), $(du -k "${wheel[0]}" | cut -f1) KiB, $((SECONDS - start)) s"

step "installing it in a clean venv outside the checkout"
start=$SECONDS
"$PYTHON" -m venv "$WORK/venv"
if ! "$WORK/venv/bin/python" -m pip install --disable-pip-version-check "${wheel[0]}" \
  >"$WORK/install.log" 2>&1; then
  cat "$WORK/install.log" >&2
  fail "pip could not install the wheel"
fi
echo "installed in $((SECONDS - start)) s"

mkdir "$WORK/run"
cd "$WORK/run"
unset PYTHONPATH PYTHONHOME
export DESKFLOW_DATABASE_URL="sqlite:///$WORK/run/deskflow.db"
export DESKFLOW_SECRET_KEY=wheel-check
deskflow="$WORK/venv/bin/deskflow"

step "what the installed package holds"
# -I: the venv's site-packages only, never the current folder or the checkout.
"$WORK/venv/bin/python" -I - "$WORK/venv" "$VIEWER" <<'EOF'
import sys
from importlib import resources
from pathlib import Path

import cli.main
import engine
import engine.audit.replay
import engine.store.migrations
import handlers
import web
from engine.process import definitions
from engine.store.db import Database
from web import create_app

venv, viewer = Path(sys.argv[1]).resolve(), sys.argv[2]
for module in (engine, engine.audit.replay, cli.main, handlers, web):
    where = Path(module.__file__).resolve()
    assert where.is_relative_to(venv), f"{module.__name__} imported from {where}, not the venv"

wanted = [
    ("web", viewer.removeprefix("web/")),
    ("web", "templates/base.html"),
    ("web", "templates/desk/queue.html"),
    ("web", "static/deskflow.css"),
    ("handlers", "catalog.json"),
    ("handlers", "templates/received.html"),
    ("engine.store.migrations", "env.py"),
    ("engine.store.migrations", "script.py.mako"),
    ("engine.store.migrations", "versions/0001_initial_schema.py"),
]
missing = [f"{pkg}: {name}" for pkg, name in wanted if not resources.files(pkg).joinpath(name).is_file()]
assert not missing, f"not in the installed package: {missing}"
assert definitions.DIAGRAMS_DIR.resolve().is_relative_to(venv), definitions.DIAGRAMS_DIR
bundle = definitions.bundled()
assert bundle.dmns and bundle.forms, "the bundled diagram came without its DMN or forms"

# The app finds its templates and static files where the wheel put them.
app = create_app(Database())
client = app.test_client()
page = client.get("/login")
assert page.status_code == 200 and b"<form" in page.data, page.status_code
script = client.get("/static/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js")
assert script.status_code == 200 and len(script.data) > 100_000, script.status_code
script.close()
print(f"ok: {len(wanted)} data files, the bundled diagram with {len(bundle.forms)} forms, "
      "the login page and bpmn-js served")
EOF

step "deskflow init"
"$deskflow" init
step "deskflow demo --incidents $INCIDENTS"
"$deskflow" demo --incidents "$INCIDENTS"
step "deskflow replay --all"
"$deskflow" replay --all | tee "$WORK/replay.txt"  # exits 1 on any divergence
grep -qE "^$INCIDENTS identical, 0 diverged" "$WORK/replay.txt" ||
  fail "replay did not find the $INCIDENTS demo incidents identical"
step "deskflow audit verify"
"$deskflow" audit verify

echo "wheel check passed"
