"""The words, facts and tasks the live question families are made of (live_families.py)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CAPITALS",
    "CATEGORIES",
    "DAYS",
    "ITEMS",
    "LEGS",
    "MONTHS",
    "MONTH_DAYS",
    "NAMES",
    "OPPOSITES",
    "PLURALS",
    "PYTHON_TASKS",
    "SPANS",
    "SYMBOLS",
    "UNITS",
    "WEIGHT",
    "WORDS",
]

NAMES = "Sam Ana Li Omar Mia Ben Zoe Raj Eva Tom Ida Leo".split()
ITEMS = "apples pencils stickers marbles cookies books cards stamps shells coins".split()
CATEGORIES = {
    "fruit": "apple banana cherry grape mango pear peach plum lemon orange".split(),
    "animal": "dog cat horse cow lion tiger rabbit sheep goat mouse".split(),
    "vehicle": "car bus truck bicycle train boat airplane motorcycle".split(),
    "color": "red blue green yellow purple black white pink".split(),
    "piece of furniture": "chair table sofa bed desk shelf wardrobe stool".split(),
    "tool": "hammer saw wrench screwdriver drill shovel".split(),
}
CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo",
    "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo", "Canada": "Ottawa", "Greece": "Athens",
    "Portugal": "Lisbon", "Norway": "Oslo", "Sweden": "Stockholm", "Poland": "Warsaw", "Ireland": "Dublin",
    "Austria": "Vienna", "Kenya": "Nairobi", "Peru": "Lima", "Cuba": "Havana", "Thailand": "Bangkok",
    "India": "New Delhi", "Mexico": "Mexico City", "Argentina": "Buenos Aires", "Finland": "Helsinki",
    "Denmark": "Copenhagen", "Belgium": "Brussels", "Hungary": "Budapest", "Turkey": "Ankara",
    "Australia": "Canberra", "Brazil": "Brasilia", "Chile": "Santiago", "Iran": "Tehran",
}  # fmt: skip
OPPOSITES = {
    "hot": "cold", "big": "small", "up": "down", "fast": "slow", "happy": "sad", "light": "dark",
    "open": "closed", "full": "empty", "old": "new", "hard": "soft", "early": "late", "wet": "dry",
    "high": "low", "loud": "quiet", "strong": "weak", "rich": "poor", "thick": "thin", "inside": "outside",
    "begin": "end", "win": "lose", "buy": "sell", "push": "pull", "day": "night", "left": "right",
}  # fmt: skip
SYMBOLS = {
    "gold": "Au", "silver": "Ag", "iron": "Fe", "oxygen": "O", "hydrogen": "H", "carbon": "C",
    "sodium": "Na", "helium": "He", "nitrogen": "N", "copper": "Cu", "lead": "Pb", "potassium": "K",
    "calcium": "Ca", "zinc": "Zn", "neon": "Ne",
}  # fmt: skip
PLURALS = {
    "mouse": "mice", "child": "children", "foot": "feet", "tooth": "teeth", "man": "men", "woman": "women",
    "goose": "geese", "person": "people", "ox": "oxen", "leaf": "leaves", "knife": "knives", "wolf": "wolves",
    "cactus": "cacti", "fish": "fish", "sheep": "sheep",
}  # fmt: skip
LEGS = {"spider": 8, "dog": 4, "bird": 2, "ant": 6, "snake": 0, "horse": 4, "chicken": 2, "beetle": 6}
WEIGHT = "feather coin apple book cat dog bicycle horse car elephant".split()  # light to heavy
SPANS = "second minute hour day week month year decade century".split()  # short to long
WORDS = (
    "apple banana river mountain pencil window garden orange rabbit letter summer little "
    "bottle yellow coffee planet school doctor kitchen butter table forest silver dragon "
    "candle winter basket guitar island jacket lemon market number pocket rocket tomato "
    "violin wallet zebra bridge cloud"
).split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
UNITS = (  # big unit, small unit, factor
    ("kilometers", "meters", 1000),
    ("meters", "centimeters", 100),
    ("kilograms", "grams", 1000),
    ("liters", "milliliters", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("feet", "inches", 12),
    ("dozens", "items", 12),
    ("years", "months", 12),
)

# name, what it does, test calls with expected results
PYTHON_TASKS: tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...] = (
    ("add", "returns the sum of two numbers a and b", (("add(2, 3)", 5), ("add(-1, 1)", 0))),
    ("square", "returns the square of a number x", (("square(4)", 16), ("square(-3)", 9))),
    (
        "is_even",
        "returns True if an integer n is even, else False",
        (("is_even(4)", True), ("is_even(7)", False)),
    ),
    ("reverse", "returns a string s reversed", (("reverse('abc')", "cba"), ("reverse('')", ""))),
    (
        "largest",
        "returns the largest number in a list xs",
        (("largest([3, 9, 2])", 9), ("largest([-5, -2])", -2)),
    ),
    (
        "count_vowels",
        "returns how many vowels (a, e, i, o, u) a lowercase string s has",
        (("count_vowels('banana')", 3), ("count_vowels('xyz')", 0)),
    ),
    ("first", "returns the first element of a list xs", (("first([7, 8])", 7), ("first(['a'])", "a"))),
    (
        "double_all",
        "returns a new list with every number in xs doubled",
        (("double_all([1, 2])", [2, 4]), ("double_all([])", [])),
    ),
    (
        "area",
        "returns the area of a rectangle with width w and height h",
        (("area(3, 4)", 12), ("area(1, 1)", 1)),
    ),
    ("absolute", "returns the absolute value of a number x", (("absolute(-5)", 5), ("absolute(2)", 2))),
    ("greet", "returns the string 'Hello, ' followed by a name", (("greet('Ann')", "Hello, Ann"),)),
    ("total", "returns the sum of a list of numbers xs", (("total([1, 2, 3])", 6), ("total([])", 0))),
)
