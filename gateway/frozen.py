"""A cheaper `__init__` for the frozen dataclasses made on every request (plans, views, decisions).

A frozen dataclass's generated `__init__` sets each field through `object.__setattr__(self, name,
value)`: a global read, an attribute read and a call that looks the name up again, ~100 ns a field
where a plain class's `self.x = x` takes ~25. An `auto` request builds about 110 such fields (the
ask, its tier views, candidates, plan, situation, decision and family hit). With slots, each field is
a member descriptor whose `__set__` writes the slot directly: `fast_init` replaces the generated
`__init__` with one that calls those, ~60 ns a field, and nothing else changes: the class, its
signature, equality, hashing, `replace` and the error on assignment after construction are the
dataclass's own.

Only what the request path uses is supported (positional-or-keyword fields, plain defaults); a class
with default factories, `init=False` or keyword-only fields, InitVars or `__post_init__` is refused at
import, so a later change to one of them cannot silently skip its own initialisation.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

__all__ = ["fast_init"]

_T = TypeVar("_T", bound=type)


def fast_init(cls: _T) -> _T:
    """Decorate a `@dataclass(frozen=True, slots=True)` class (applied above it)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__}: fast_init is for @dataclass(frozen=True, slots=True) classes")
    fields = dataclasses.fields(cls)
    plain = all(f.init and not f.kw_only and f.default_factory is dataclasses.MISSING for f in fields)
    if not plain or hasattr(cls, "__post_init__") or len(fields) != len(inspect.signature(cls).parameters):
        raise TypeError(f"{cls.__name__}: fast_init supports plain fields with plain defaults only")
    scope: dict[str, Any] = {"__name__": cls.__module__}  # profilers and tracebacks place it there
    params_src, body = [], []
    for f in fields:
        scope[f"_set_{f.name}"] = vars(cls)[f.name].__set__  # the slot's member descriptor
        if f.default is dataclasses.MISSING:
            params_src.append(f.name)
        else:
            scope[f"_default_{f.name}"] = f.default
            params_src.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params_src)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, scope)  # noqa: S102  # built from the class's own field names, as dataclasses does
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    generated = vars(cls)["__init__"]
    init.__doc__ = generated.__doc__
    init.__annotations__ = dict(generated.__annotations__)
    cls.__init__ = init  # type: ignore[misc]
    return cls
