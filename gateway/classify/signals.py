"""Named numeric signals of a request, the scorer's dense inputs: cheap, and meaningful for any prompt.

Each reads the request's features, the embedded text slice, its token ids (the last embed.MAX_TOKENS)
and the characters those ids cover (one space a whitespace-separated chunk). Training keeps a signal
only where its within-task effect has the same sign on every task it is fitted on (train.py); the
weights file names the signals it uses, and only those are computed when serving.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.classify.features import Features

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LENGTH", "PRIOR_SIGN", "SIGNALS", "Signal"]

# The ids are embed.TokenMemo.ids()'s: a C-int array.
Signal = Callable[[Features, str, "np.ndarray", int], float]

LENGTH = "log_prompt_tokens"  # the prior every scorer starts from
_SMOOTH_CHARS = 32
_DIGITS = str.maketrans("", "", string.digits)
_UPPER = str.maketrans("", "", string.ascii_uppercase)
_PUNCT = str.maketrans("", "", string.punctuation)


def _share_removed(table: dict[int, int | None]) -> Signal:
    def share(_f: Features, text: str, _ids: np.ndarray, _c: int) -> float:
        return (len(text) - len(text.translate(table))) / max(len(text), 1)

    return share


SIGNALS: dict[str, Signal] = {
    # The turn's length: the whole prompt's, but in an agent turn the delta's (features.py).
    LENGTH: lambda f, _t, _i, _c: math.log(f.turn_tokens),
    # Rare words, numbers, code and names split into more tokens a character: a lexical density,
    # smoothed towards English's ~4 characters a token so that a two-letter prompt is not an outlier.
    "tokens_per_char": lambda _f, _t, ids, chars: (len(ids) + _SMOOTH_CHARS / 4) / (chars + _SMOOTH_CHARS),
    "chars_per_word": lambda _f, t, _i, _c: len(t) / (t.count(" ") + t.count("\n") + 1),
    "distinct_tokens": lambda _f, _t, ids, _c: len(set(ids.tolist())) / max(len(ids), 1),
    "log_newlines": lambda _f, t, _i, _c: math.log1p(t.count("\n")),
    "digits": _share_removed(_DIGITS),
    "uppercase": _share_removed(_UPPER),
    "punctuation": _share_removed(_PUNCT),
    "log_turns": lambda f, _t, _i, _c: math.log1p(f.turns),
    "code": lambda f, _t, _i, _c: float(f.code),
    "math": lambda f, _t, _i, _c: float(f.math),
    "reasoning": lambda f, _t, _i, _c: float(f.reasoning),
    "tools": lambda f, _t, _i, _c: float(f.tools),
    "json_schema": lambda f, _t, _i, _c: float(f.json_schema),
    "log_output_tokens": lambda f, _t, _i, _c: math.log1p(f.output_tokens or 0),
    "non_english": lambda f, _t, _i, _c: float(f.non_english),
    "images": lambda f, _t, _i, _c: math.log1p(f.images),
}

# The direction each signal is expected to push difficulty, stated before fitting, from what makes a
# request hard for a small model anywhere: rarer or longer words, numbers, symbols and code, more parts,
# a longer conversation or answer, tools, a schema, another language, images. Training keeps a signal
# only where every training task agrees with this direction (train.py), so a signal cannot learn the
# opposite of its meaning from the tasks it happens to see.
PRIOR_SIGN: dict[str, int] = dict.fromkeys(SIGNALS, 1)
