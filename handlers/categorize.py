"""Suggest a category for a report from the catalog's keywords.

Each subcategory scores the distinct keywords found in the text (a keyword of two words
counts two); the best subcategory wins and names the category and its owning group.
Ties go to the one listed first in the catalog, so the same text always gets the same
suggestion. The technician confirms or corrects it in the categorize form.
"""

from __future__ import annotations

from typing import Any

from handlers.catalog import Category, Subcategory, catalog
from handlers.registry import operator
from handlers.tokens import contains_phrase, tokenize


@operator("categorize")
def categorize(text: str) -> dict[str, Any]:
    """Report text -> `{"category", "subcategory", "confidence", "group", "matched"}`.

    `confidence` is in [0, 1]: it grows with the number of keyword hits and shrinks when
    another subcategory scored close behind. Nothing matched: category and subcategory are
    None, confidence 0.0 and the report stays with the service desk.
    """
    words = tokenize(text)
    scored: list[tuple[int, Category, Subcategory, list[str]]] = []
    for category in catalog().categories.values():
        for sub in category.subcategories:
            score, matched = _score(words, sub.keywords)
            if score:
                scored.append((score, category, sub, matched))
    if not scored:
        return {
            "category": None,
            "subcategory": None,
            "confidence": 0.0,
            "group": catalog().service_desk_group,
            "matched": [],
        }
    # sorted() is stable: equal scores keep catalog order.
    ranked = sorted(scored, key=lambda entry: -entry[0])
    best, category, sub, matched = ranked[0]
    runner_up = ranked[1][0] if len(ranked) > 1 else 0
    return {
        "category": category.name,
        "subcategory": sub.name,
        "confidence": _confidence(best, runner_up),
        "group": category.group,
        "matched": matched,
    }


def _score(words: list[str], keywords: tuple[str, ...]) -> tuple[int, list[str]]:
    """Sum of the word counts of the distinct keywords found; the keywords as written."""
    score, matched, seen = 0, [], set()
    for keyword in keywords:
        phrase = tokenize(keyword)
        # "crash" and "crashing" stem alike: one word in the text counts once.
        if tuple(phrase) in seen or not contains_phrase(words, phrase):
            continue
        seen.add(tuple(phrase))
        score += len(phrase)
        matched.append(keyword)
    return score, matched


def _confidence(best: int, runner_up: int) -> float:
    strength = best / (best + 1)  # 1 hit 0.5, 2 hits 0.67, 3 hits 0.75 ...
    margin = (best - runner_up) / best  # 1.0 when alone, 0.0 on a tie
    return round(strength * (0.5 + 0.5 * margin), 2)
