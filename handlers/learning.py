"""What technicians chose for past incidents, kept as word evidence for each category.

In: past decisions, `learn(text, category, subcategory)` (the engine calls it when an
incident closes, with the category it closed under). Out: for a new text, `scores(text)`
gives every (category, subcategory) pair the summed evidence of the text's words, in nats;
`explain(text, pair)` lists the words behind it. `to_dict()` / `from_dict()` carry the
counts as plain JSON for the engine to store between calls.

The method, small enough to check by hand: a word seen in n past incidents, m of them
filed under pair p, gets the smoothed share s = (m + 1) / (n + K) of p (K pairs, as if
each pair had seen the word once more, `PSEUDO_COUNT`), and the weight log(K * s) for p.
A word that says nothing about p weighs about 0; one that always came with p weighs up to
log K; one that came with other pairs weighs below 0. One example moves a suggestion a
little, dozens move it a lot, and words never seen weigh 0 everywhere. Each word of a text
counts once.

Size: at most `max_tokens` distinct words are kept; past that the rarest go first (ties by
the word itself, so pruning is deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from handlers.catalog import catalog
from handlers.tokens import tokenize

Pair = tuple[str, str]  # (category, subcategory)

FORMAT_VERSION = 1
# About 70 bytes of JSON a word: the stored knowledge stays under about 150 KB.
MAX_TOKENS = 2000
# Each pair counts as having seen every word this many times more: one example moves little.
PSEUDO_COUNT = 1.0
# Pruning goes below the cap by this share so that it does not run on every new word.
PRUNE_HEADROOM = 0.1


def catalog_pairs() -> list[Pair]:
    """Every (category, subcategory) of the bundled catalog, in catalog order."""
    return [
        (category.name, sub.name)
        for category in catalog().categories.values()
        for sub in category.subcategories
    ]


class CategoryKnowledge:
    """Word -> how many past incidents with that word were filed under each pair."""

    def __init__(self, pairs: Iterable[Pair] | None = None, max_tokens: int = MAX_TOKENS) -> None:
        """`pairs` are the choices a technician has (default: the catalog's)."""
        self.pairs: list[Pair] = list(pairs) if pairs is not None else catalog_pairs()
        if not self.pairs:
            raise ValueError("CategoryKnowledge needs at least one (category, subcategory)")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.max_tokens = max_tokens
        self.examples = 0
        self._known = set(self.pairs)
        self._counts: dict[str, dict[Pair, int]] = {}

    def __len__(self) -> int:
        """The number of distinct words kept."""
        return len(self._counts)

    def learn(self, text: str | None, category: str, subcategory: str) -> bool:
        """Count the words of `text` for the pair a technician chose for it.

        Returns False (and learns nothing) for a pair this knowledge does not offer, e.g. a
        category the catalog has since dropped, or for a text without words.
        """
        pair = (category, subcategory)
        words = _distinct(text)
        if pair not in self._known or not words:
            return False
        for word in words:
            per_pair = self._counts.setdefault(word, {})
            per_pair[pair] = per_pair.get(pair, 0) + 1
        self.examples += 1
        if len(self._counts) > self.max_tokens:
            self._prune()
        return True

    def weight(self, word: str, pair: Pair) -> float:
        """Evidence of one (already tokenized) word for `pair` in nats; 0.0 if never seen."""
        per_pair = self._counts.get(word)
        if not per_pair:
            return 0.0
        seen = sum(per_pair.values())
        share = (per_pair.get(pair, 0) + PSEUDO_COUNT) / (seen + PSEUDO_COUNT * len(self.pairs))
        return math.log(len(self.pairs) * share)

    def scores(self, text: str | None) -> dict[Pair, float]:
        """Every pair -> the summed evidence of the words of `text` (0.0 when none known)."""
        words = [word for word in _distinct(text) if word in self._counts]
        return {pair: sum(self.weight(word, pair) for word in words) for pair in self.pairs}

    def explain(self, text: str | None, pair: Pair, limit: int = 5) -> list[tuple[str, float]]:
        """The words of `text` that speak most for `pair`: `[(word, weight)]`, heaviest first.

        Only words with positive weight; ties keep the order of the text.
        """
        weighed = [(word, self.weight(word, pair)) for word in _distinct(text)]
        positive = [(word, weight) for word, weight in weighed if weight > 0]
        return sorted(positive, key=lambda entry: -entry[1])[:limit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: `{"version", "examples", "counts": {word: {"cat/sub": n}}}`."""
        return {
            "version": FORMAT_VERSION,
            "examples": self.examples,
            "counts": {
                word: {f"{category}/{sub}": n for (category, sub), n in per_pair.items()}
                for word, per_pair in self._counts.items()
            },
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        pairs: Iterable[Pair] | None = None,
        max_tokens: int = MAX_TOKENS,
    ) -> CategoryKnowledge:
        """Rebuild from `to_dict()`; counts of pairs not offered any more are dropped."""
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"category knowledge has format version {data.get('version')!r}; "
                f"this code reads version {FORMAT_VERSION}: relearn from closed incidents"
            )
        knowledge = cls(pairs, max_tokens)
        knowledge.examples = int(data.get("examples", 0))
        for word, per_pair in data.get("counts", {}).items():
            kept: dict[Pair, int] = {}
            for key, n in per_pair.items():
                category, _, sub = key.partition("/")
                if (category, sub) in knowledge._known:
                    kept[(category, sub)] = int(n)
            if kept:
                knowledge._counts[word] = kept
        if len(knowledge._counts) > knowledge.max_tokens:
            knowledge._prune()
        return knowledge

    def _prune(self) -> None:
        keep = max(1, int(self.max_tokens * (1 - PRUNE_HEADROOM)))
        by_use = sorted(self._counts, key=lambda word: (-sum(self._counts[word].values()), word))
        for word in by_use[keep:]:
            del self._counts[word]


def _distinct(text: str | None) -> list[str]:
    """The words of `text` (see handlers.tokens), each once, in order of appearance."""
    return list(dict.fromkeys(tokenize(text)))
