"""Agent-shaped requests: multi-turn sessions with a long fixed system prompt and tools, whose last turns
differ in difficulty (numpy; offline only). Does the score rank them by the last turn?

Set 1 (labelled last turns): benchmark prompts from the held-out rows (RouterBench's test split and
arena-bench's held-out half), each sent as the newest user message of a coding-agent session: one of
two agents (a system prompt of ~15k or ~25k tokens, 12 tools), 0-15 earlier tool rounds (random,
independent of the prompt). The label is the benchmark row's, so a score that reads the last turn
routes these as it routes the bare prompts; one that reads the whole request sees the agent and the
depth. Set 2 (tool-result turns): sessions whose newest message is a tool result, benign (a short
success line or a passing test log) or troubled (failing tests with tracebacks, compiler errors).

"Today's reading" is how the scorer read them before issue 21: the whole prompt's length, and a
slice of the system prompt's head and the last user message's tail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.classify.embed import load_embedding
from gateway.classify.features import profile
from gateway.classify.inputs import measure
from gateway.classify.signals import LENGTH, SIGNALS
from gateway.classify.view import view_of_body
from gateway.offline.encoded import Encoded

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Sessions", "encoded_sessions", "sessions"]

_WORDS = (
    "file function test module error repository branch commit patch diff build lint type config path "
    "import class method variable return value argument option flag command shell output edit search "
    "replace read write run check verify refactor review plan step user request tool result context "
    "cache token limit format json schema response message"
).split()
_TOOLS = (
    "read_file write_file edit_file list_dir search run_shell run_tests git_diff git_commit open_url "
    "ask_user todo"
).split()


def _sentences(rng: random.Random, n: int) -> str:
    return " ".join(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 22))).capitalize() + "." for _ in range(n)
    )


def _system_prompt(rng: random.Random, chars: int, name: str) -> str:
    parts = [
        f"You are {name}, an autonomous coding agent working in the user's repository. Follow the "
        "instructions below exactly, use the tools to read and change files, and keep going until "
        "the task is done."
    ]
    size, i = len(parts[0]), 0
    while size < chars:
        i += 1
        parts.append(f"\n\n## Rule {i}\n" + _sentences(rng, 6))
        size += len(parts[-1])
    return "".join(parts)[:chars]


def _tools(rng: random.Random) -> list[dict[str, Any]]:
    params = {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}
    return [
        {"type": "function", "function": {"name": n, "description": _sentences(rng, 2), "parameters": params}}
        for n in _TOOLS
    ]


def _code(rng: random.Random, lines: int) -> str:
    return "\n".join(
        f"    {rng.choice(_WORDS)}_{j} = {rng.choice(_WORDS)}({rng.randint(0, 99)})" for j in range(lines)
    )


def _history(rng: random.Random, depth: int) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "Task: " + _sentences(rng, 2)}]
    for _ in range(depth):
        tool = rng.choice(["read_file", "search", "run_shell", "list_dir"])
        call = {"id": "c", "type": "function", "function": {"name": tool, "arguments": "{}"}}
        msgs.append(
            {
                "role": "assistant",
                "content": f"I will call {tool}. " + _sentences(rng, 1),
                "tool_calls": [call],
            }
        )
        msgs.append({"role": "tool", "tool_call_id": "c", "content": _code(rng, rng.randint(5, 80))})
    msgs.append({"role": "assistant", "content": "Done with that step. " + _sentences(rng, 1)})
    return msgs


def _benign(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(
            [
                "File written.",
                "OK",
                "Command finished with exit code 0.",
                "No matches found.",
                "Committed 1 file.",
            ]
        )
    lines = [
        f"tests/test_{rng.choice(_WORDS)}.py::test_{rng.choice(_WORDS)} PASSED"
        for _ in range(rng.randint(3, 12))
    ]
    return "\n".join(lines) + "\n== all passed =="


def _troubled(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(2, 6)):
        out.append(
            f"FAILED tests/test_{rng.choice(_WORDS)}.py::test_{rng.choice(_WORDS)} - AssertionError: "
            f"expected {rng.randint(0, 999)} got {rng.randint(0, 999)}"
        )
        out.append("Traceback (most recent call last):")
        for _ in range(rng.randint(2, 6)):
            out.append(
                f'  File "src/{rng.choice(_WORDS)}.py", line {rng.randint(1, 900)}, in {rng.choice(_WORDS)}'
            )
        out.append(f"TypeError: unsupported operand type(s) for +: '{rng.choice(_WORDS)}' and 'NoneType'")
    out.append(f"error[E0308]: mismatched types at src/{rng.choice(_WORDS)}.rs:{rng.randint(1, 400)}")
    return "\n".join(out)


@dataclass(frozen=True)
class Sessions:
    labelled: list[dict[str, Any]]  # set 1: the sessions
    rows: np.ndarray  # ... the benchmark row each one's last turn is
    results: list[dict[str, Any]]  # set 2
    troubled: np.ndarray  # ... whose tool result is troubled


def sessions(bodies: list[dict[str, Any]], pick: np.ndarray, n1: int, n2: int, seed: int = 0) -> Sessions:
    """`n1` labelled sessions ending in the bodies `pick` chooses from (a fixed draw), `n2` sessions
    ending in a tool result, half troubled."""
    import numpy as np

    rng = random.Random(seed)  # noqa: S311  (synthetic sessions, not secrets)
    agents = [
        (_system_prompt(rng, 60_000, "Forge"), _tools(rng)),
        (_system_prompt(rng, 100_000, "Tern"), _tools(rng)),
    ]
    idx = np.sort(np.random.default_rng(seed).choice(pick, min(n1, len(pick)), replace=False))
    set1 = []
    for i in idx:
        system, tools = agents[rng.randrange(2)]
        messages = [
            {"role": "system", "content": system},
            *_history(rng, rng.randint(0, 15)),
            *bodies[i]["messages"],
        ]
        set1.append({"messages": messages, "tools": tools})
    set2, hard = [], []
    for k in range(n2):
        system, tools = agents[rng.randrange(2)]
        h = _history(rng, rng.randint(1, 15))[:-1]
        call = {"id": "t", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}}
        h.append({"role": "assistant", "content": "Running the tests now.", "tool_calls": [call]})
        troubled = k % 2 == 1
        h.append(
            {"role": "tool", "tool_call_id": "t", "content": _troubled(rng) if troubled else _benign(rng)}
        )
        set2.append({"messages": [{"role": "system", "content": system}, *h], "tools": tools})
        hard.append(troubled)
    return Sessions(set1, idx, set2, np.array(hard))


def _today(body: dict[str, Any]) -> dict[str, Any]:
    """A body the scorer reads as it read `body` before issue 21: the system prompt and the last user
    message (the slice's head and tail then)."""
    msgs = body["messages"]
    system = [m for m in msgs if m["role"] in ("system", "developer")][:1]
    users = [m for m in msgs if m["role"] == "user"][-1:]
    return {"messages": system + users}


def encoded_sessions(bodies: list[dict[str, Any]], today: bool) -> tuple[Encoded, np.ndarray]:
    """(the scorer's inputs of each session, as the gateway reads them now or read them before issue
    21, labels left empty; the whole prompt's tokens: today's length router)."""
    import numpy as np

    emb = load_embedding(None)
    n = len(bodies)
    sig = np.zeros((n, len(SIGNALS)))
    mean = np.zeros((n, emb.table.shape[1]))
    tokens = np.zeros(n)
    whole = np.zeros(n)
    j = list(SIGNALS).index(LENGTH)
    for i, b in enumerate(bodies):
        f = profile(view_of_body(b))
        whole[i] = f.prompt_tokens
        m = measure(view_of_body(_today(b) if today else b), emb.tokens, emb.table)
        sig[i] = m.signals
        if today:
            sig[i, j] = np.log(f.prompt_tokens)
        if m.mean is not None:
            mean[i] = m.mean
            tokens[i] = m.n_tokens
    zeros = np.zeros(n)
    enc = Encoded(
        sig, mean, tokens, zeros, zeros, zeros, zeros, np.array(["agent"] * n), np.array(["test"] * n)
    )
    return enc, whole
