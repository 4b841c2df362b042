"""Whether a question counts things, and whether a number can be a count of them.

"How many stamps does each child get?" has a whole number for its answer, so a draft that answers
16.67 stamps, or -3, is wrong whatever else it says (draft.py reads it as `answer_wrong`). Measures
and rates come in fractions, so a question that names one is left out: a check read wrongly would
mark a right draft wrong.
"""

from __future__ import annotations

import re

__all__ = ["countable", "counts_things"]

# "How many apples ...": things counted, so the answer is a whole number of them. Not where a word
# after it names a measure ("how many hours", "how many cups of flour") or a ratio ("how many times
# larger"): those come in fractions.
_COUNTED = re.compile(r"\bhow many\s+((?:[a-z'-]+\s+){0,3}[a-z'-]+)")
_RATIO = re.compile(
    r"times (?:as|more|less|bigger|larger|greater|smaller|faster|slower|longer|shorter|higher|heavier)\b"
)
_RATE = re.compile(r"\b(?:average|mean|expected|per|rate|ratio|estimate|approximately)\b")
_MEASURES = frozenset(
    "second seconds minute minutes hour hours day days week weeks month months year years decade "
    "decades century centuries millisecond milliseconds mm cm km m meter meters metre metres "
    "millimeter millimeters centimeter centimeters kilometer kilometers inch inches foot feet yard "
    "yards mile miles gram grams kilogram kilograms kg mg pound pounds lb lbs ounce ounces oz ton "
    "tons tonne tonnes liter liters litre litres milliliter milliliters millilitre millilitres ml "
    "gallon gallons quart quarts pint pints cup cups tablespoon tablespoons teaspoon teaspoons "
    "dollar dollars cent cents euro euros percent degree degrees calorie calories acre acres "
    "hectare hectares square cubic mph kilowatt kilowatts watt watts volt volts byte "
    "bytes kb mb gb half halves quarter quarters slice slices piece pieces part parts portion "
    "portions serving servings scoop scoops bag bags box boxes bottle bottles".split()
)


def counts_things(low: str) -> bool:
    """The question's last "how many" counts things rather than measuring them, and nothing in it
    asks for an average or a rate ("on average", "per game"), which come in fractions."""
    at = low.rfind("how many")
    m = _COUNTED.match(low, at) if at >= 0 else None
    return (
        m is not None
        and _MEASURES.isdisjoint(m.group(1).split())
        and _RATIO.match(m.group(1)) is None
        and _RATE.search(low) is None
    )


def countable(value: float) -> bool:
    """A number of things: whole and not negative. Halves and quarters pass, since pizzas and cakes
    are counted in them."""
    return value >= 0 and (4 * value).is_integer()
