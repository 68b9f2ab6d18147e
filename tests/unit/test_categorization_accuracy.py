"""How often the suggestion is right, rules alone vs rules with learned knowledge.

Training: 920 generated reports (40 per subcategory) go through the desk in turn: each gets
a suggestion from what was learned so far, the technician confirms or corrects it, and the
chosen category is learned. Held out: 460 other reports (20 per subcategory), phrased with
openers, frames and sign-offs training never used, a quarter of them describing problems
in words training never saw (see test_categorization_texts). The knowledge reaches the
handler as the engine hands it over: `to_dict()`, through JSON.

`pytest -s tests/unit/test_categorization_accuracy.py` prints the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from handlers.categorize import categorize
from handlers.learning import CategoryKnowledge
from tests.unit.test_categorization_texts import Report, incident_texts

TRAIN_SIZE, HELD_OUT_SIZE = 920, 460
TRAIN_SEED, HELD_OUT_SEED = 11, 22


def _accuracy(reports: list[Report], suggest: Callable[[str], dict[str, Any]]) -> dict:
    """`{"category": share right, "pair": share with category and subcategory right}`."""
    right_category = right_pair = 0
    for report in reports:
        suggestion = suggest(report.text)
        right_category += suggestion["category"] == report.category
        right_pair += (suggestion["category"], suggestion["subcategory"]) == (
            report.category,
            report.subcategory,
        )
    return {"category": right_category / len(reports), "pair": right_pair / len(reports)}


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    train = incident_texts(TRAIN_SIZE, seed=TRAIN_SEED, part="train")
    held_out = incident_texts(HELD_OUT_SIZE, seed=HELD_OUT_SEED, part="held_out")
    knowledge = CategoryKnowledge()
    corrected = []  # per training report: did the technician have to correct the suggestion?
    for report in train:
        suggestion = categorize(report.text, knowledge)
        corrected.append(
            (suggestion["category"], suggestion["subcategory"])
            != (report.category, report.subcategory)
        )
        knowledge.learn(report.text, report.category, report.subcategory)
    stored = json.loads(json.dumps(knowledge.to_dict()))
    new = [report for report in held_out if report.new_symptom]
    seen = [report for report in held_out if not report.new_symptom]

    def rules(text: str) -> dict[str, Any]:
        return categorize(text)

    def learned(text: str) -> dict[str, Any]:
        return categorize(text, knowledge=stored)

    quarter = len(train) // 4
    return {
        "train": train,
        "held_out": held_out,
        "sizes": {"train": len(train), "held_out": len(held_out), "new": len(new)},
        "words": len(knowledge),
        "rules": _accuracy(held_out, rules),
        "learned": _accuracy(held_out, learned),
        "rules_new": _accuracy(new, rules),
        "learned_new": _accuracy(new, learned),
        "learned_seen": _accuracy(seen, learned),
        "corrected_first": sum(corrected[:quarter]) / quarter,
        "corrected_last": sum(corrected[-quarter:]) / quarter,
    }


def _report(m: dict[str, Any]) -> str:
    def line(name: str, acc: dict[str, float]) -> str:
        return f"  {name:<34} category {acc['category']:.3f}   +subcategory {acc['pair']:.3f}"

    sizes = m["sizes"]
    return "\n".join(
        [
            f"categorization: {sizes['train']} training reports ({m['words']} words learned), "
            f"{sizes['held_out']} held out ({sizes['new']} with symptoms never trained on)",
            line("rules only", m["rules"]),
            line("rules + learned", m["learned"]),
            line("  held out, problems seen before", m["learned_seen"]),
            line("  held out, new symptoms, rules", m["rules_new"]),
            line("  held out, new symptoms, learned", m["learned_new"]),
            f"  technicians corrected {m['corrected_first']:.0%} of the first quarter of "
            f"training suggestions, {m['corrected_last']:.0%} of the last",
        ]
    )


def test_the_sets_are_large_and_disjoint(measured):
    train = {report.text for report in measured["train"]}
    held_out = {report.text for report in measured["held_out"]}
    assert len(train) >= 600 and len(held_out) >= 200
    assert not train & held_out


def test_learning_beats_the_rules_alone(measured):
    report = _report(measured)
    print("\n" + report)
    rules, learned = measured["rules"], measured["learned"]
    # Measured at these seeds: rules 0.493 / 0.459, learned 0.878 / 0.846 (other seeds
    # 0.84-0.87 / 0.79-0.83); the floors leave about five points below the worst seed tried.
    assert learned["category"] >= 0.82, report
    assert learned["pair"] >= 0.78, report
    assert learned["category"] - rules["category"] >= 0.30, report
    assert learned["pair"] - rules["pair"] >= 0.30, report


def test_problems_seen_before_are_nearly_always_right(measured):
    # Measured 0.966 / 0.960.
    assert measured["learned_seen"]["category"] >= 0.92, _report(measured)
    assert measured["learned_seen"]["pair"] >= 0.90, _report(measured)


def test_learning_helps_even_with_symptoms_never_trained_on(measured):
    # The words around a new symptom ("laptop", "outlook", "folder") still carry evidence.
    gain = measured["learned_new"]["category"] - measured["rules_new"]["category"]
    assert gain >= 0.10, _report(measured)


def test_technicians_correct_less_as_the_desk_learns(measured):
    assert measured["corrected_last"] <= measured["corrected_first"] - 0.25, _report(measured)
