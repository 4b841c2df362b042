"""schemathesis fuzzes the gateway from its own OpenAPI document: no request may get a 5xx.

The backends are healthy fakes, so any 5xx is the gateway's own fault. Bounded: a fixed seed and a fixed
number of examples per operation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends:
      - {{name: fake-small, kind: openai, base_url: "{small}", model: fake-small}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: fake-large, kind: openai, base_url: "{large}", model: fake-large}}
routes:
  - {{model: auto, policy: auto}}
  - {{model: small, tier: small}}
  - {{model: large, tier: large}}
  - {{model: "claude-*", tier: large}}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    fakes = [FakeUpstream(model="fake-small"), FakeUpstream(model="fake-large")]
    for f in fakes:
        f.start_in_thread()
    g = start_gateway(
        tmp_path_factory.mktemp("fuzz"), ROUTES.format(small=fakes[0].base_url, large=fakes[1].base_url)
    )
    yield g
    stop(g.proc)
    for f in fakes:
        f.stop_thread()


def test_fuzzing_the_openapi_document_finds_no_server_error(gw: Gateway, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        cli = Path(shutil.which("schemathesis") or "schemathesis")
    proc = subprocess.run(
        [
            str(cli),
            "run",
            gw.url + "/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--seed",
            "20261124",
            "--request-timeout",
            "20",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "generated" in proc.stdout and " passed" in proc.stdout
    for operation in (
        "POST /v1/responses",
        "GET /v1/responses",
        "POST /v1/responses/input_tokens",
        "POST /v1/responses/compact",
        "GET /v1/responses/{response_id}",
        "DELETE /v1/responses/{response_id}",
        "POST /v1/messages",
        "POST /v1/messages/count_tokens",
    ):
        assert operation in proc.stdout, operation  # the Responses and Messages APIs are fuzzed too
    assert "unhandled" not in gw.log.read_text()
