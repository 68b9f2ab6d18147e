"""Words out of free text, the same way for the catalog's keywords and for a caller's report.

Lowercase, split on anything that is not a letter or digit, drop filler words, and strip a
few English endings so that "printers", "printing" and "print" meet ("crashed" -> "crash").
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")

# Filler words, kept as prose so the list is easy to read and extend.
STOPWORDS = frozenset(
    """
    a an and are aren as at be been but by can cannot could couldn d didn do does doesn doing
    don for from get getting got has have having hi hello how i im in into is isn it its just ll
    m me my of on or our please re s so still t that the their them then there this to too
    up us ve was wasn we were what when where which while who why will with would you your
    """.split()  # noqa: SIM905
)


def stem(word: str) -> str:
    """Strip one common ending: "-ing" and "-ed" from long words, a plural "-s"."""
    if len(word) >= 6 and word.endswith("ing"):
        return word[:-3]
    if len(word) >= 5 and word.endswith("ed"):
        return word[:-2]
    if len(word) >= 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str | None) -> list[str]:
    """Stemmed words of `text` in order, without stopwords; `None` gives `[]`."""
    if not text:
        return []
    return [stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS]


def contains_phrase(tokens: list[str], phrase: list[str]) -> bool:
    """True when `phrase` (tokens) occurs in `tokens` as consecutive words."""
    if not phrase:
        return False
    width = len(phrase)
    return any(tokens[i : i + width] == phrase for i in range(len(tokens) - width + 1))
