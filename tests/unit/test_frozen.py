"""gateway/frozen.py: the request path's frozen dataclasses keep every behaviour of the generated
`__init__` (signature, defaults, positional and keyword calls, errors, equality, hashing, `replace`,
the error on assignment) with the cheaper one."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from gateway.classify.families import FamilyHit
from gateway.dispatch.modes import Answer
from gateway.dispatch.snapshot import Admitted
from gateway.frozen import fast_init
from gateway.observability.cost import Bill
from gateway.protocol.view import Message
from gateway.routing.decision import CascadePlan, Decision, Hints
from gateway.routing.plan import Ask, BackendView, Candidate, Plan, TierView
from gateway.routing.situation import Situation
from gateway.tenancy.answer_index import Answered

FAST = [
    Ask, BackendView, Candidate, Plan, TierView, Situation, Decision, Hints, CascadePlan, FamilyHit,
    Message, Answered, Answer, Admitted, Bill,
]  # fmt: skip


def _twin(cls: type) -> type:
    """The same fields through dataclasses' own generated __init__: the reference."""
    spec = [
        (f.name, f.type, dataclasses.field(default=f.default, repr=f.repr, compare=f.compare))
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)


def _values(cls: type, tag: str) -> list[Any]:
    return [f"{tag}-{f.name}" for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_the_cheaper_init_is_the_generated_one_in_every_way(cls: type) -> None:
    ref = _twin(cls)
    assert "_set_" in cls.__init__.__code__.co_names[0]  # the class really has the cheaper one
    assert str(inspect.signature(cls)) == str(inspect.signature(ref))
    names = [f.name for f in dataclasses.fields(cls)]
    args = _values(cls, "a")
    a, r = cls(*args), ref(*args)
    assert dataclasses.astuple(a) == dataclasses.astuple(r) == tuple(args)
    assert cls(**dict(zip(names, args, strict=True))) == a
    assert hash(a) == hash(cls(*args)) and a != cls(*_values(cls, "b"))
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    least = cls(*_values(cls, "c")[: len(required)])
    for f in dataclasses.fields(cls)[len(required) :]:
        assert getattr(least, f.name) == f.default
    moved = dataclasses.replace(a, **{names[0]: "x"})
    assert getattr(moved, names[0]) == "x" and dataclasses.astuple(moved)[1:] == tuple(args[1:])
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, names[0], "y")
    if required:
        with pytest.raises(TypeError, match="missing"):
            cls()
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(*args[: len(required)], nonsense=1)
    with pytest.raises(TypeError, match="positional"):
        cls(*args, "one too many")


def test_a_class_it_cannot_serve_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match="frozen=True, slots=True"):

        @fast_init
        @dataclasses.dataclass(slots=True)
        class Mutable:
            x: int

    with pytest.raises(TypeError, match="plain fields"):

        @fast_init
        @dataclasses.dataclass(frozen=True, slots=True)
        class Factory:
            xs: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="plain fields"):

        @fast_init
        @dataclasses.dataclass(frozen=True, slots=True)
        class Checked:
            x: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="plain fields"):

        @fast_init
        @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
        class Named:
            x: int
