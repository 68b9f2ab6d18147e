"""Suggest a category for a report: the catalog's keywords, sharpened by past decisions.

Every (category, subcategory) of the catalog gets a score in nats, the log of how much
likelier it is than the others:

- rules (the prior): each distinct catalog keyword found in the text adds `RULE_WEIGHT`
  per word (a keyword of two words counts two);
- learning (the likelihood): with `knowledge` (what technicians filed past incidents
  under, see handlers.learning) each word of the text adds its learned weight for the
  pair, positive for words that came with it, negative for words that came with others.

A word learned from one or two incidents weighs well below a keyword, so with little
history the rules decide; a word seen often with one pair weighs up to log K (K pairs,
about 3 nats), and a text has several, so with much history the learning decides and also
catches reports whose words are in no keyword list. Without knowledge (or with none
learned yet) the suggestion is the rules' alone, exactly as before learning existed.

The best score wins and names the category and its owning group; ties go to the one
listed first in the catalog, so the same input always gets the same suggestion. The
technician confirms or corrects it in the categorize form; the closed incident is what
the engine learns from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.catalog import Category, Subcategory, catalog
from handlers.learning import CategoryKnowledge
from handlers.registry import operator
from handlers.tokens import contains_phrase, tokenize

# Nats per keyword word: one word of a keyword makes a pair e**2 (about 7) times likelier.
RULE_WEIGHT = 2.0
EXPLANATION_LENGTH = 5


@operator("categorize")
def categorize(
    text: str, knowledge: Mapping[str, Any] | CategoryKnowledge | None = None
) -> dict[str, Any]:
    """Report text -> `{"category", "subcategory", "confidence", "group", "matched",
    "explanation"}`.

    `knowledge` is `CategoryKnowledge.to_dict()` (or the object itself), filled by the
    engine from past incidents; None means rules only. `matched` lists the catalog
    keywords found for the suggested subcategory; `explanation` the strongest reasons,
    `[{"token", "weight", "source": "rule" | "learned"}]`, heaviest first, at most five.
    `confidence` is in [0, 1]: it grows with the evidence (one keyword 0.5, two 0.67 ...)
    and shrinks when another subcategory scored close behind. Nothing speaks for any
    subcategory: category and subcategory are None, confidence 0.0 and the report stays
    with the service desk.
    """
    learned = _knowledge(knowledge)
    evidence = learned.scores(text) if learned is not None else {}
    words = tokenize(text)
    scored: list[tuple[float, Category, Subcategory, list[str]]] = []
    for category in catalog().categories.values():
        for sub in category.subcategories:
            hits, matched = _score(words, sub.keywords)
            score = RULE_WEIGHT * hits + evidence.get((category.name, sub.name), 0.0)
            scored.append((score, category, sub, matched))
    # sorted() is stable: equal scores keep catalog order.
    ranked = sorted(scored, key=lambda entry: -entry[0])
    best, category, sub, matched = ranked[0]
    if best <= 0:
        return {
            "category": None,
            "subcategory": None,
            "confidence": 0.0,
            "group": catalog().service_desk_group,
            "matched": [],
            "explanation": [],
        }
    return {
        "category": category.name,
        "subcategory": sub.name,
        "confidence": _confidence(best, ranked[1][0] if len(ranked) > 1 else 0.0),
        "group": category.group,
        "matched": matched,
        "explanation": _explanation(text, matched, learned, (category.name, sub.name)),
    }


def _knowledge(
    knowledge: Mapping[str, Any] | CategoryKnowledge | None,
) -> CategoryKnowledge | None:
    if knowledge is None or isinstance(knowledge, CategoryKnowledge):
        return knowledge
    return CategoryKnowledge.from_dict(knowledge)


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


def _confidence(best: float, runner_up: float) -> float:
    """Confidence from the two best scores, counted in keyword words."""
    best, runner_up = best / RULE_WEIGHT, max(runner_up, 0.0) / RULE_WEIGHT
    strength = best / (best + 1)  # 1 keyword word 0.5, 2 words 0.67, 3 words 0.75 ...
    margin = (best - runner_up) / best  # 1.0 when alone, 0.0 on a tie
    return round(strength * (0.5 + 0.5 * margin), 2)


def _explanation(
    text: str, matched: list[str], learned: CategoryKnowledge | None, pair: tuple[str, str]
) -> list[dict[str, Any]]:
    """The keywords and learned words behind the suggestion, heaviest first."""
    reasons = [(keyword, RULE_WEIGHT * len(tokenize(keyword)), "rule") for keyword in matched]
    if learned is not None:
        reasons += [
            (word, weight, "learned")
            for word, weight in learned.explain(text, pair, EXPLANATION_LENGTH)
        ]
    strongest = sorted(reasons, key=lambda reason: -reason[1])[:EXPLANATION_LENGTH]
    return [
        {"token": token, "weight": round(weight, 2), "source": source}
        for token, weight, source in strongest
    ]
