#!/usr/bin/env bash
# nnbook's one entry point for people and CI.
#
#   ./run.sh demo    install what is missing, render chapter 1, verify it
#   ./run.sh test    install what is missing, run ruff and the whole test suite
#   ./run.sh setup   only install what is missing
#
# Installing is idempotent: system packages are checked with dpkg and only the
# missing ones are asked of apt; the virtual environment (.venv) is rebuilt only
# when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${NNBOOK_VENV:-.venv}
APT_PACKAGES=(
  # Manim's C dependencies (pycairo and manimpango build from source here)
  libcairo2-dev libpango1.0-dev pkg-config gcc
  # video encoding
  ffmpeg
  # LaTeX for MathTex: Manim's default template plus dvisvgm
  texlive-latex-base texlive-latex-extra texlive-fonts-recommended
  texlive-science dvisvgm cm-super-minimal
  # nnbook build --pdf: the prose from Markdown to LaTeX (pdflatex is above)
  pandoc
)
# the tests open the built site in a real browser
TEST_APT_PACKAGES=(chromium chromium-driver)
# nnbook slides --to html copies reveal.js beside each deck (so it works offline);
# the release manim-slides' HTML template is written for, from the npm registry
REVEALJS=reveal.js@6.0.1

log() { printf '[nnbook] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else log "need root to run: $*  (install sudo or run as root)"; exit 1; fi
}

python_ok() {
  # Python 3.11+, with venv and the C headers (manimpango compiles against them).
  command -v python3 >/dev/null || return 1
  python3 - <<'PY' 2>/dev/null
import os, sys, sysconfig, ensurepip, venv  # noqa: F401
assert sys.version_info >= (3, 11)
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
PY
}

setup_system() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  python_ok || missing+=(python3 python3-venv python3-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

setup_python() {
  local stamp="$VENV/.nnbook-installed" want
  want=$( (sha256sum pyproject.toml; echo "$REVEALJS") | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
  log "installing Python packages into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  setup_revealjs
  echo "$want" > "$stamp"
}

setup_revealjs() {
  # into $VENV/share/reveal.js, where nnbook slides looks (NNBOOK_REVEALJS overrides)
  local tmp
  command -v npm >/dev/null || setup_system nodejs npm
  tmp=$(mktemp -d)
  log "installing $REVEALJS into $VENV/share/reveal.js"
  (cd "$tmp" && npm pack -q "$REVEALJS" >/dev/null && tar xzf reveal.js-*.tgz)
  rm -rf "$VENV/share/reveal.js"
  mkdir -p "$VENV/share/reveal.js"
  cp -r "$tmp/package/dist" "$tmp/package/LICENSE" "$tmp/package/package.json" \
    "$VENV/share/reveal.js/"
  rm -rf "$tmp"
}

setup() { setup_system; setup_python; }

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    "$VENV/bin/nnbook" render chapter1 "$@"
    "$VENV/bin/nnbook" verify chapter1
    ;;
  test)
    setup_system "${TEST_APT_PACKAGES[@]}"
    setup_python
    # lint and format first: CI fails on either, before the long suite runs
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    # one worker per core, at most 4 (each imports TensorFlow and Manim);
    # NNBOOK_TEST_WORKERS overrides, 0 runs in this process. A test file stays
    # on one worker, so its session fixtures run once.
    cores=$(nproc)
    "$VENV/bin/python" -m pytest -n "${NNBOOK_TEST_WORKERS:-$((cores < 4 ? cores : 4))}" \
      --dist loadfile --durations=15 "$@"
    ;;
  *)
    echo "usage: ./run.sh demo|test|setup   (demo renders and verifies chapter 1; test runs the suite)" >&2
    exit 2 ;;
esac
