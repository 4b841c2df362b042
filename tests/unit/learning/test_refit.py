"""The scorer refitted on the decision log while serving (learning/refit.py): when it runs, what it
writes (what `gateway train --from-log` writes, plus what it folded), what it adopts on start, and
the settings it needs. The refit runs the real command in a child process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.classify.scorer import load_scorer
from gateway.cli import main
from gateway.config import Settings
from gateway.learning.refit import Refitter, refit_files
from tests.offline.synthetic_log import write_log

SHIPPED = Path(__file__).resolve().parents[3] / "gateway" / "classify" / "weights" / "default.json"


async def _yes(path: Path) -> bool:
    return True


async def _no(path: Path) -> bool:
    return False


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def _refitter(tmp: Path, log: Path, results: list[str], clock: Clock | None = None, **kw: float) -> Refitter:
    return Refitter(
        every=int(kw.get("every", 3)),
        min_s=kw.get("min_s", 100.0),
        max_labels=int(kw.get("max_labels", 100_000)),
        log_path=log,
        log_files=3,
        state_dir=tmp / "state",
        on_result=results.append,
        wall=clock or Clock(),
    )


def test_due_after_every_so_many_counted_labels_and_no_sooner_than_min_s(tmp_path: Path) -> None:
    clock, results = Clock(), []
    r = _refitter(tmp_path, tmp_path / "none.jsonl", results, clock)
    for result in ("counted", "counted", "capped", "dropped", "stale", "lost"):
        r.note(result)
    assert r.pending == 2 and not r.due()  # only labels the learner counted
    r.note("counted")
    assert r.due()


async def test_a_log_without_scorer_inputs_refits_nothing_and_keeps_what_is_in_force(tmp_path: Path) -> None:
    log, results, clock = tmp_path / "decisions.jsonl", [], Clock()
    write_log(log, n=300, seed=3, features=False)
    r = _refitter(tmp_path, log, results, clock)
    for _ in range(3):
        r.note("counted")
    assert await r.refit(None, _yes) == "nothing" and results == ["nothing"]
    assert r.adopted(None) is None and not (r.dir / "weights.json").exists()
    assert r.pending == 0 and r.last is not None and r.last["labels_taken"] == 3
    for _ in range(3):
        r.note("counted")
    assert not r.due()  # min_s after the last refit began
    clock.t += 100
    assert r.due()


async def test_a_refit_is_what_train_from_log_writes_and_is_adopted_while_its_base_stands(
    tmp_path: Path,
) -> None:
    log, results = tmp_path / "decisions.jsonl", []
    write_log(log, n=1500, seed=5, features=True)
    r = _refitter(tmp_path, log, results)
    assert await r.refit(None, _yes) == "adopted" and results == ["adopted"], r.last
    weights = r.adopted(None)
    assert weights == r.dir / "weights.json"
    assert json.loads((r.dir / "refit.json").read_text())["base"] is None
    cli = tmp_path / "cli.json"
    assert main(["train", "--from-log", str(log), "--max-labels", "100000", "--out", str(cli)]) == 0
    assert weights.read_bytes() == cli.read_bytes()  # the command's own file
    scorer = load_scorer(weights)
    assert scorer.meta["added"][-1]["labels"] > 100  # type: ignore[attr-defined]
    assert scorer.family_set != load_scorer(None).family_set  # type: ignore[attr-defined]  # it split
    # built on the shipped weights: not for other ones, nor for a base rewritten since
    base = tmp_path / "base.json"
    base.write_bytes(SHIPPED.read_bytes())
    assert r.adopted(base) is None
    r2 = _refitter(tmp_path, log, results)
    assert await r2.refit(base, _yes) == "adopted"
    assert r2.adopted(base) == r2.dir / "weights.json" and r2.adopted(None) is None
    base.write_bytes(base.read_bytes() + b"\n")
    assert r2.adopted(base) is None
    # the latest max_labels labels only: what bounds the child's memory
    r3 = _refitter(tmp_path / "capped", log, results, max_labels=150)
    assert await r3.refit(None, _yes) == "adopted"
    assert 100 < json.loads((r3.dir / "weights.json").read_text())["meta"]["added"][-1]["labels"] <= 150
    # the table named other weights while it ran: set aside, not adopted
    assert await r2.refit(base, _no) == "set_aside" and results[-1] == "set_aside"
    # weights that hold the log's labels already have nothing to add: what is in force stays
    assert await r2.refit(cli, _yes) == "nothing"
    assert r2.adopted(cli) is None


async def test_a_failed_refit_keeps_what_is_in_force_and_logs_why_without_the_prompts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, results = tmp_path / "decisions.jsonl", []
    write_log(log, n=300, seed=5, features=True)
    bad = tmp_path / "not-weights.json"
    bad.write_text('{"format": "something else"}')
    r = _refitter(tmp_path, log, results)
    assert await r.refit(bad, _yes) == "failed" and results == ["failed"] and r.adopted(bad) is None
    said = [m for m in caplog.messages if "scorer refit failed" in m]
    assert said and "not a gateway-difficulty-v3" in said[0] and "Traceback" not in said[0]
    assert "prove" not in caplog.text and "hello" not in caplog.text  # the log's prompts' words


def test_rotated_logs_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    for name in ("d.jsonl", "d.jsonl.2", "d.jsonl.1", "d.jsonl.5"):
        (tmp_path / name).write_text("")
    assert refit_files(log, 3) == [tmp_path / "d.jsonl.2", tmp_path / "d.jsonl.1", log]
    assert refit_files(tmp_path / "none.jsonl", 3) == []


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "GATEWAY_DECISION_LOG"),
        ({"decision_log": "-"}, "GATEWAY_DECISION_LOG"),
        ({"decision_log": "d.jsonl"}, "GATEWAY_STATE_DIR"),
        ({"decision_log": "d.jsonl", "state_dir": "s", "redis_url": "redis://x:1"}, "train --from-log"),
    ],
)
def test_refit_settings_refuse_what_cannot_work(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(refit_labels=100, **env)  # type: ignore[arg-type]
    Settings(refit_labels=0, **env)  # type: ignore[arg-type]  # off: nothing needed


def test_serve_says_which_setting_a_refit_lacks_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_REFIT_LABELS", "5")
    assert main(["serve", "--port", "1"]) == 1  # refused before anything starts
    assert capsys.readouterr().err.strip() == (
        "GATEWAY_REFIT_LABELS refits on the decision log: GATEWAY_DECISION_LOG, a file"
    )
    monkeypatch.setenv("GATEWAY_REFIT_LABELS", "many")
    assert main(["serve", "--port", "1"]) == 1
    assert capsys.readouterr().err.startswith("GATEWAY_REFIT_LABELS: Input should be a valid integer")


def test_weights_that_do_not_load_are_said_not_traced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, bad = tmp_path / "decisions.jsonl", tmp_path / "not-weights.json"
    write_log(log, n=300, seed=5, features=True)
    bad.write_text('{"format": "something else"}')
    out = tmp_path / "o.json"
    assert main(["train", "--from-log", str(log), "--weights", str(bad), "--out", str(out)]) == 1
    assert "not a gateway-difficulty-v3" in capsys.readouterr().err
