"""Per-feature cost per request, on and off, in one process: issue 16's budgets (decision log <= 10 µs,
Responses translation <= 50 µs per request) and issue 25's for the scorer (<= 40 µs mean, p99 <= 150 µs
from a cold memo).

Each feature runs the gateway's own code over the same varied prompts (loadtests/varied_load.py's,
from ../shared/data) twice, with the feature off and on, alternated `--repeat` times; the cost is the
difference of the medians. A server around these calls adds the same framework, upstream and
metrics cost to both sides, so it cancels.

- scorer_tail: each request's profile and score timed alone, from a cold token memo, three passes.
- scorer: the request's profile and difficulty score (`auto`), against none (a pinned route), for the
  shipped family scorer (v3) and the v2 weights shipped before issue 21, and v3 against v2 directly;
  v3 also on its pure-Python path (the memo and descent without classify/_chunks.c), alone and against
  the compiled one.
  Run twice: as the prompts come (caches warm with the scorer's own data), and "busy", with 8 MiB of
  other memory read between requests, as a server's other work does to the CPU caches.
- plan: the route's whole decision (Planner.decide: profile, score, board of tiers, plan, context
  check) for `model: auto` and for a pinned route, against nothing (issue 25); and the pinned route
  to a tier of two measured vLLM replicas.
- operator_layer: a `gateway train --data` file (the shared ARC rows as an operator's labels:
  Mixtral-8x7B fell short or not) scored with its operator layer against the shipped scorer, over
  every prompt and over those in the families the layer applies to (issue 21).
- decision log: Journal.finished (the line built and queued) against no log; the writer thread's
  encoding and writing are counted too (process CPU, the queue drained), as "writer".
- Responses translation: a Responses request parsed, its conversation and chat body built, and the
  chat answer turned into a Response, against the same prompt as a chat completion (parsed, viewed,
  its answer passed through with the gateway's id); plain and streamed (32 chunks).
- Messages translation: the same for Anthropic's Messages API (issue 23): the request parsed and
  checked, its chat form and views built (serving/messages.py's call), the chat answer turned into a
  Message or Anthropic's events.

  OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/bench_per_request.py [--prompts 2000] [--repeat 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from varied_load import bodies as request_bodies
from varied_load import prompts

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_WIPE = bytearray(8 * 2**20)


def _wipe() -> None:
    _WIPE[::64] = _WIPE[1::64]  # one write per cache line: 8 MiB through the caches


def per_call_us(fn: Callable[[Any], object], items: list[Any], between: Callable[[], None] | None) -> float:
    """Mean µs of fn over the items (`between`'s own time left out)."""
    total = 0
    for item in items:
        if between is not None:
            between()
        t = time.perf_counter_ns()
        fn(item)
        total += time.perf_counter_ns() - t
    return total / len(items) / 1000


def paired(
    off: Callable[[Any], object],
    on: Callable[[Any], object],
    items: list[Any],
    repeat: int,
    between: Callable[[], None] | None = None,
) -> dict[str, float]:
    offs, ons = [], []
    per_call_us(off, items[:200], between)  # warm both paths
    per_call_us(on, items[:200], between)
    for _ in range(repeat):
        offs.append(per_call_us(off, items, between))
        ons.append(per_call_us(on, items, between))
    off_us, on_us = statistics.median(offs), statistics.median(ons)
    return {"off_us": round(off_us, 2), "on_us": round(on_us, 2), "cost_us": round(on_us - off_us, 2)}


def scorer_section(texts: list[str], repeat: int) -> dict[str, Any]:
    from gateway.classify.features import profile
    from gateway.classify.scorer import default_scorer, v2_scorer
    from gateway.protocol import chat_view

    v3, v2 = default_scorer(), v2_scorer()
    # The same scorer on its pure-Python path (what runs where classify/_chunks.c is not built).
    py = v3.python_path()  # type: ignore[attr-defined]  # the shipped scorer is the family scorer
    views = [chat_view(_decode(b), len(b)) for b in request_bodies(texts, "chat", "auto", False)]

    def on_v3(view: Any) -> object:
        return v3.score(view, profile(view))

    def on_py(view: Any) -> object:
        return py.score(view, profile(view))

    def on_v2(view: Any) -> object:
        return v2.score(view, profile(view))

    def off(view: Any) -> object:
        return None

    out: dict[str, Any] = {}
    for name, between in (("as_they_come", None), ("busy_caches", _wipe)):
        out[name] = {
            "v3_families": paired(off, on_v3, views, repeat, between),
            "v2_before": paired(off, on_v2, views, repeat, between),
            "v3_against_v2": paired(on_v2, on_v3, views, repeat, between),
            "v3_python_path": paired(off, on_py, views, repeat, between),
            "v3_compiled_against_python": paired(on_py, on_v3, views, repeat, between),
        }
    return out


def plan_section(texts: list[str], repeat: int) -> dict[str, Any]:
    """The route's decision (Planner.decide: the profile, the score, the board of tiers, the plan, the
    context check) for `model: auto` against a pinned route, bench_overhead.py's routes, every backend
    idle and up. What `auto` costs before any byte moves (issue 25)."""
    from bench_overhead import ROUTES

    from gateway.classify.scorer import default_scorer
    from gateway.protocol import chat_view
    from gateway.routing.decision import Hints
    from gateway.routing.estimates import LatencyBook
    from gateway.routing.planner import Planner
    from gateway.rules.load import load_routes

    # The same pinned route to a tier of two vLLM replicas, both measured: their estimates read each
    # other's (replicas are taken as alike until measured, routing/estimates.py).
    replica = '      - {{name: mock-small, kind: openai, base_url: "{url}/v1", model: mock-small}}\n'
    two = "".join(replica.replace("mock-small, kind: openai", f"rep-{n}, kind: vllm") for n in "ab")
    book = LatencyBook()  # the replicas'
    with tempfile.TemporaryDirectory() as tmp:
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(url="http://127.0.0.1:9"))
        planner = Planner(load_routes(routes), default_scorer(), LatencyBook())
        routes.write_text(ROUTES.replace(replica, two).format(url="http://127.0.0.1:9"))
        replicas = Planner(load_routes(routes), default_scorer(), book)
    hints, now = Hints(), time.monotonic()
    for n, ttft in (("a", 0.05), ("b", 0.06)):
        book.first_chunk(f"rep-{n}", now - 1, ttft)
        book.per_token(f"rep-{n}", now - 1, ttft / 10)
    auto = [chat_view(_decode(b), len(b)) for b in request_bodies(texts, "chat", "auto", False)]
    pinned = [chat_view(_decode(b), len(b)) for b in request_bodies(texts, "chat", "small", False)]

    def decide(view: Any) -> object:
        return planner.decide(view, hints, now=now)

    def decide_replicas(view: Any) -> object:
        return replicas.decide(view, hints, now=now)

    return {
        "auto": paired(lambda _: None, decide, auto, repeat),
        "pinned": paired(lambda _: None, decide, pinned, repeat),
        "pinned_two_replicas": paired(lambda _: None, decide_replicas, pinned, repeat),
    }


def operator_layer_section(texts: list[str], repeat: int) -> dict[str, Any]:
    from varied_load import DATA

    from gateway.classify.families import FamilyModel
    from gateway.classify.features import profile
    from gateway.classify.scorer import default_scorer, family_scorer, load_weights
    from gateway.cli import main
    from gateway.offline.data import load_routerbench
    from gateway.offline.family_train import labelled
    from gateway.protocol import chat_view

    rows = [e for e in load_routerbench(next(DATA.glob("routerbench*.csv.gz"))) if e.task == "arc-challenge"]
    y = labelled(rows, "mixtral").y
    with tempfile.TemporaryDirectory() as d:
        data, out = Path(d) / "arc.jsonl", Path(d) / "w.json"
        lines = [
            json.dumps({"prompt": e.body, "tier": "large" if v == 1 else "small"})
            for e, v in zip(rows, y, strict=True)
            if v == v  # nan: no Mixtral outcome
        ]
        data.write_text("\n".join(lines) + "\n")
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the benchmark's JSON
            trained = main(["train", "--data", str(data), "--out", str(out)])
        if trained != 0:
            raise SystemExit("gateway train failed")
        model = load_weights(out)
    assert isinstance(model, FamilyModel)
    assert model.operator is not None
    shipped, layered = default_scorer(), family_scorer(model)
    views = [chat_view(_decode(b), len(b)) for b in request_bodies(texts, "chat", "auto", False)]
    gated = [v for v in views if model.operator.applies(layered.family(v).path)]

    def on(view: Any) -> object:
        return layered.score(view, profile(view))

    def off(view: Any) -> object:
        return shipped.score(view, profile(view))

    return {
        "labels": model.operator.labels,
        "families": list(model.operator.families),
        "share_of_prompts_in_them": round(len(gated) / len(views), 3),
        "every_prompt": paired(off, on, views, repeat),
        "prompts_in_the_layer's_families": paired(off, on, gated, repeat),
    }


def scorer_tail_section(texts: list[str], repeat: int) -> dict[str, Any]:
    """Each request's profile + score, one at a time, from a cold token memo (the vocabulary's words
    only, as a fresh gateway starts): three passes over the prompts, so the first meets every unseen
    word and the others are warm. Issue 25's budget: p99 <= 150 µs over all of them."""
    from gateway.classify.embed import shared_tokens
    from gateway.classify.features import profile
    from gateway.classify.scorer import default_scorer
    from gateway.protocol import chat_view

    scorer = default_scorer()
    views = [chat_view(_decode(b), len(b)) for b in request_bodies(texts, "chat", "auto", False)]
    shared_tokens().forget()
    passes: list[list[float]] = []
    for _ in range(3):
        times = []
        for view in views:
            t = time.perf_counter_ns()
            scorer.score(view, profile(view))
            times.append((time.perf_counter_ns() - t) / 1000)
        passes.append(times)

    def summary(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {
            "mean": round(statistics.fmean(xs), 1),
            "p50": round(xs[len(xs) // 2], 1),
            "p99": round(xs[int(len(xs) * 0.99)], 1),
            "max": round(xs[-1], 1),
        }

    return {
        "all": summary([x for p in passes for x in p]),
        "first_pass": summary(passes[0]),
        "warm_passes": summary(passes[1] + passes[2]),
    }


def decision_log_section(texts: list[str], repeat: int) -> dict[str, Any]:
    from gateway.observability.cost import Bill
    from gateway.observability.decision_log import DecisionLog
    from gateway.observability.journal import Journal
    from gateway.observability.trace import Trace
    from gateway.protocol import Call, Usage, chat_view
    from gateway.protocol.ids import ResponseIds

    ids = ResponseIds()
    calls = []
    for b in request_bodies(texts, "chat", "auto", False):
        call = Call(chat_view(_decode(b), len(b)), _decode(b), 0.0, "team-a")
        call.response_id = ids.new("chat")
        calls.append(call)
    trace = Trace(route="auto", tier="small", backend="local", difficulty=0.31, reason="score")
    usage = Usage(prompt_tokens=40, completion_tokens=32)
    bill = Bill(cost_usd=0.0, reference_usd=0.00012)

    with tempfile.TemporaryDirectory() as tmp:
        log = DecisionLog(str(Path(tmp) / "decisions.jsonl"), max_bytes=64 * 2**20, files=2)
        log.start()
        plain, logged = Journal(), Journal(log)
        main = paired(
            lambda c: plain.finished(trace, c, "ok", 0.012, usage, bill),
            lambda c: logged.finished(trace, c, "ok", 0.012, usage, bill),
            calls,
            repeat,
        )
        # With the writer thread's share: process CPU for N lines queued, then drained and written.
        n = len(calls) * repeat
        cpu0 = time.process_time()
        for _ in range(repeat):
            for c in calls:
                logged.finished(trace, c, "ok", 0.012, usage, bill)
        log.close(timeout_s=60)
        cpu_us = (time.process_time() - cpu0) / n * 1e6
        written = log.written
    return {**main, "with_writer_cpu_us": round(cpu_us, 2), "lines_written": written}


def chat_answer() -> tuple[bytes, list[bytes]]:
    """An upstream's chat answer, whole and as a 32-chunk stream: what a translated API turns back."""
    from gateway.protocol.sse import DONE, json_event

    answer = "The answer is 42, because the question asks for the product of six and seven."
    reply = _encode(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "small",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 18, "total_tokens": 58},
        }
    )

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "c", "object": "chat.completion.chunk", "model": "small", "choices": [choice]}
        return json_event(body)

    chunks = [chunk({"content": w + " "}) for w in (answer.split() * 3)[:31]]
    chunks.append(chunk({}, "stop") + DONE)
    return reply, chunks


def chat_front(body: bytes) -> Any:
    """The chat request's own front: parsed, checked, its view."""
    from gateway.protocol import ChatCompletionRequest, chat_view, parse_request

    _, raw = parse_request(body, ChatCompletionRequest)
    return chat_view(raw, len(body))


def responses_section(texts: list[str], repeat: int) -> dict[str, Any]:
    from gateway.protocol import parse_request
    from gateway.protocol.ids import IdStream, ResponseIds, claim
    from gateway.protocol.responses import NativeTap, ResponsesRequest, Translation, echo, input_items
    from gateway.serving.responses import _call

    ids = ResponseIds()
    chats = request_bodies(texts, "chat", "auto", False)
    resps = request_bodies(texts, "responses", "auto", False)
    reply, chunks = chat_answer()

    def responses_front(body: bytes) -> tuple[Translation, Any]:
        req, raw = parse_request(body, ResponsesRequest)
        items = input_items(req.input)
        call = _call(req, raw, items, len(_encode(items)), 0.0, None)
        rid = ids.new("responses")
        NativeTap(rid, {"previous_response_id": None, "store": False})
        return Translation(rid, echo(req, raw), req.model), call

    def chat_plain(body: bytes) -> object:
        chat_front(body)
        return claim(reply, ids.new("chat"))  # passed through, with the gateway's id

    def responses_plain(body: bytes) -> object:
        translation, _ = responses_front(body)
        return _encode(translation.of_chat(_decode(reply)))

    def chat_stream(body: bytes) -> object:
        chat_front(body)
        ours = IdStream(ids.new("chat"))  # the per-chunk work a chat stream gets instead
        return [ours(c) for c in chunks]

    def responses_stream(body: bytes) -> object:
        translation, _ = responses_front(body)
        out = [translation.started()]
        out.extend(translation.feed(c) for c in chunks)
        return out

    pairs = list(zip(chats, resps, strict=True))
    return {
        "plain": paired(lambda p: chat_plain(p[0]), lambda p: responses_plain(p[1]), pairs, repeat),
        "streamed_32_chunks": paired(
            lambda p: chat_stream(p[0]), lambda p: responses_stream(p[1]), pairs, repeat
        ),
    }


def messages_section(texts: list[str], repeat: int) -> dict[str, Any]:
    from gateway.protocol import parse_request
    from gateway.protocol.anthropic import MessagesRequest, MessageTranslation
    from gateway.protocol.ids import IdStream, ResponseIds, claim
    from gateway.protocol.request import Parsed
    from gateway.serving.messages import MessagesServing

    ids = ResponseIds()
    serving = MessagesServing(None, ids, None)  # type: ignore[arg-type]  # call() needs neither
    chats = request_bodies(texts, "chat", "small", False)
    messages = request_bodies(texts, "messages", "small", False)
    reply, chunks = chat_answer()

    def messages_front(body: bytes) -> MessageTranslation:
        req, raw = parse_request(body, MessagesRequest)
        call = serving.call(Parsed(req, raw, len(body), None), 0.0, None)
        view = call.view
        return MessageTranslation(
            call.response_id,
            req.model,
            input_tokens=lambda: view.prompt_tokens,
            thinking=False,
            stop_sequences=None,
        )

    def chat_plain(body: bytes) -> object:
        chat_front(body)
        return claim(reply, ids.new("chat"))

    def messages_plain(body: bytes) -> object:
        return _encode(messages_front(body).of_chat(_decode(reply)))

    def chat_stream(body: bytes) -> object:
        chat_front(body)
        ours = IdStream(ids.new("chat"))
        return [ours(c) for c in chunks]

    def messages_stream(body: bytes) -> object:
        translation = messages_front(body)
        out = [translation.started()]
        out.extend(translation.feed(c) for c in chunks)
        return out

    pairs = list(zip(chats, messages, strict=True))
    return {
        "plain": paired(lambda p: chat_plain(p[0]), lambda p: messages_plain(p[1]), pairs, repeat),
        "streamed_32_chunks": paired(
            lambda p: chat_stream(p[0]), lambda p: messages_stream(p[1]), pairs, repeat
        ),
    }


def anthropic_upstream_section(texts: list[str], repeat: int) -> dict[str, Any]:
    """A chat request to a `kind: anthropic` backend against the same request passed through to an
    OpenAI-compatible one: the request translated to Messages and encoded, the Message (or its 32
    text events) translated back, against the chat body encoded and its answer claimed (or its 32
    chunks given the gateway's id)."""
    from gateway.protocol.anthropic.chat_answer import ChatChunks, chat_of_message
    from gateway.protocol.anthropic.from_chat import messages_body
    from gateway.protocol.ids import IdStream, ResponseIds, claim
    from gateway.protocol.sse import ChatEvents
    from gateway.testing.fake_anthropic import FakeAnthropic

    ids = ResponseIds()
    reply, chunks = chat_answer()
    answer = "The answer is 42, because the question asks for the product of six and seven."
    words = (answer.split() * 3)[:31]
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": " ".join(words)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 40, "output_tokens": 31},
    }
    events = FakeAnthropic()._events(message)  # message_start, ping, the block's 31 deltas, the end
    message_bytes = _encode(message)
    bodies = [_decode(b) for b in request_bodies(texts, "chat", "large", False)]

    def passed(body: dict[str, Any]) -> object:
        _encode({**body, "model": "upstream"})
        return claim(reply, ids.new("chat"))

    def translated(body: dict[str, Any]) -> object:
        _encode(messages_body(body, model="claude", max_tokens=4096, cache=False))
        chat = chat_of_message(_decode(message_bytes), created=1)
        return claim(_encode(chat), ids.new("chat"))

    def passed_stream(body: dict[str, Any]) -> object:
        _encode({**body, "model": "upstream", "stream": True})
        ours = IdStream(ids.new("chat"))
        return [ours(c) for c in chunks]

    def translated_stream(body: dict[str, Any]) -> object:
        _encode(messages_body({**body, "stream": True}, model="claude", max_tokens=4096, cache=False))
        parse, chat, ours = (
            ChatEvents(),
            ChatChunks(created=1),
            IdStream(ids.new("chat")),
        )
        return [ours(b) for e in events for ev in parse.feed(e) if ev is not None for b in chat.feed(ev)]

    return {
        "plain": paired(passed, translated, bodies, repeat),
        "streamed_32_chunks": paired(passed_stream, translated_stream, bodies, repeat),
    }


def hidden_usage_section(texts: list[str], repeat: int) -> dict[str, Any]:
    """A 32-chunk chat stream given the gateway's id (what a client that asks for the usage costs)
    against the same with its usage hidden (a client that does not): a stream without a
    usage event (`plain`), and one with the usage event the backend asked for and OpenAI's
    `"usage":null` on every chunk (`asked`), both taken out."""
    from gateway.protocol.hidden_usage import HiddenUsage
    from gateway.protocol.ids import IdStream, ResponseIds
    from gateway.protocol.sse import DONE

    ids = ResponseIds()
    _, chunks = chat_answer()
    usage = b'data: {"id":"c","object":"chat.completion.chunk","model":"small","choices":[],'
    usage += b'"usage":{"prompt_tokens":40,"completion_tokens":31,"total_tokens":71}}\n\n'
    nulled = [c.replace(b'"choices"', b'"usage":null,"choices"') for c in chunks]
    nulled[-1] = nulled[-1].replace(DONE, b"") + usage + DONE
    streams = [chunks] * len(texts)

    def given_id(stream: list[bytes]) -> object:
        ours = IdStream(ids.new("chat"))
        return [ours(c) for c in stream]

    def hidden(stream: list[bytes]) -> object:
        ours = IdStream(ids.new("chat"), HiddenUsage())
        return [*(ours(c) for c in stream), ours.flush()]

    return {
        "plain": paired(given_id, hidden, streams, repeat),
        "asked": paired(given_id, hidden, [nulled] * len(texts), repeat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--only",
        choices=[
            "scorer_tail",
            "scorer",
            "plan",
            "operator_layer",
            "decision_log",
            "responses",
            "messages",
            "anthropic_upstream",
            "hidden_usage",
        ],
        action="append",
    )
    ap.add_argument("--cpu", type=int, default=None, help="pin to this core (default: the first allowed)")
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))})
    texts = prompts(args.prompts)
    sections = {
        "scorer_tail": scorer_tail_section,
        "scorer": scorer_section,
        "plan": plan_section,
        "operator_layer": operator_layer_section,
        "decision_log": decision_log_section,
        "responses": responses_section,
        "messages": messages_section,
        "anthropic_upstream": anthropic_upstream_section,
        "hidden_usage": hidden_usage_section,
    }
    budgets = {"scorer_tail": 150, "scorer": 40, "decision_log": 10, "responses": 50, "messages": 50}
    out: dict[str, Any] = {"prompts": len(texts), "budgets_us": budgets}
    for name, run in sections.items():
        if not args.only or name in args.only:
            out[name] = run(texts, args.repeat)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
