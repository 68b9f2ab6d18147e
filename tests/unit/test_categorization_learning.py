"""Learning categories from technicians' choices, and how it changes the suggestion."""

from __future__ import annotations

import json
import math

import pytest

from handlers import registry
from handlers.categorize import categorize
from handlers.learning import CategoryKnowledge, catalog_pairs
from tests.unit.test_categorization_texts import incident_texts

PERIPHERAL = ("hardware", "peripheral")


def knowledge_of(*examples: tuple[str, str, str]) -> CategoryKnowledge:
    knowledge = CategoryKnowledge()
    for text, category, subcategory in examples:
        assert knowledge.learn(text, category, subcategory)
    return knowledge


def test_a_correction_teaches_a_phrase_the_rules_miss():
    assert categorize("dictaphone not pairing again")["category"] is None
    knowledge = knowledge_of(("the dictaphone will not pair", *PERIPHERAL))

    suggestion = categorize("dictaphone not pairing again", knowledge.to_dict())

    assert (suggestion["category"], suggestion["subcategory"]) == PERIPHERAL
    assert suggestion["group"] == "hardware-support"
    assert 0 < suggestion["confidence"] < 0.5  # one example: less sure than one keyword


def test_the_rules_outweigh_one_correction_but_not_repeated_ones():
    text = "my earbuds disconnect again"  # "disconnect" is a VPN keyword
    knowledge = CategoryKnowledge()
    before = categorize(text, knowledge)
    assert before["subcategory"] == "vpn"

    knowledge.learn("my earbuds disconnect all the time", *PERIPHERAL)
    once = categorize(text, knowledge)
    assert once["subcategory"] == "vpn"
    assert once["confidence"] < before["confidence"]

    knowledge.learn("earbuds disconnect during calls", *PERIPHERAL)
    after = categorize(text, knowledge)
    assert (after["category"], after["subcategory"]) == PERIPHERAL


def test_explanation_names_the_rule_keywords_and_the_learned_words():
    knowledge = knowledge_of(
        ("outlook wont sync on my phone", "email", "mailbox"),
        ("outlook on the phone does not sync", "email", "mailbox"),
    )
    suggestion = categorize("hi, since this morning my outlook wont sync, pls help", knowledge)

    assert suggestion["subcategory"] == "mailbox"
    explanation = suggestion["explanation"]
    assert {"token": "outlook", "weight": 2.0, "source": "rule"} in explanation
    learned = [reason["token"] for reason in explanation if reason["source"] == "learned"]
    assert "sync" in learned and "wont" in learned
    weights = [reason["weight"] for reason in explanation]
    assert weights == sorted(weights, reverse=True) and len(explanation) <= 5


def test_without_knowledge_the_rules_decide_alone():
    empty = CategoryKnowledge().to_dict()
    for report in incident_texts(115, seed=5):
        assert categorize(report.text, empty) == categorize(report.text)


def test_the_same_knowledge_gives_the_same_suggestion():
    knowledge = CategoryKnowledge()
    for report in incident_texts(230, seed=6):
        knowledge.learn(report.text, report.category, report.subcategory)
    stored = knowledge.to_dict()
    text = "Outlook freezes when I open the shared mailbox"
    assert all(categorize(text, stored) == categorize(text, stored) for _ in range(5))


def test_word_weights():
    knowledge = knowledge_of(
        *[("franking machine jammed", *PERIPHERAL)] * 30,
        ("the machine room is hot", "hardware", "desktop"),
    )
    always, never = knowledge.weight("frank", PERIPHERAL), knowledge.weight("frank", ("a", "b"))
    assert 0 < always < math.log(len(catalog_pairs()))
    assert never < 0
    assert knowledge.weight("kettle", PERIPHERAL) == 0.0  # never seen: no evidence
    # "machine" came mostly, not only, with peripheral: weaker than "frank".
    assert 0 < knowledge.weight("machine", PERIPHERAL) < always
    assert knowledge.explain("the franking machine again", PERIPHERAL)[0][0] == "frank"


def test_round_trip_through_json():
    knowledge = CategoryKnowledge()
    for report in incident_texts(230, seed=8):
        knowledge.learn(report.text, report.category, report.subcategory)
    restored = CategoryKnowledge.from_dict(json.loads(json.dumps(knowledge.to_dict())))

    assert restored.to_dict() == knowledge.to_dict()
    assert restored.examples == knowledge.examples == 230
    text = "laptop wont charge since the update"
    assert restored.scores(text) == knowledge.scores(text)


def test_from_dict_drops_pairs_the_catalog_no_longer_has():
    data = {"version": 1, "examples": 2, "counts": {"fax": {"telephony/fax": 3}}}
    assert len(CategoryKnowledge.from_dict(data)) == 0


def test_from_dict_refuses_another_format():
    with pytest.raises(ValueError, match="relearn"):
        CategoryKnowledge.from_dict({"version": 99, "counts": {}})


def test_learn_ignores_unknown_pairs_and_empty_texts():
    knowledge = CategoryKnowledge()
    assert not knowledge.learn("fax machine broken", "telephony", "fax")
    assert not knowledge.learn("   ", "hardware", "laptop")
    assert knowledge.examples == 0 and len(knowledge) == 0


def test_vocabulary_stays_bounded_and_keeps_frequent_words():
    knowledge = CategoryKnowledge(max_tokens=50)
    for i in range(1000):
        knowledge.learn(f"printer jammed word{i}", "printing", "printer-offline")
    assert len(knowledge) <= 50
    assert knowledge.weight("printer", ("printing", "printer-offline")) > 0
    assert len(json.dumps(knowledge.to_dict())) < 5000


def test_registry_calls_it_as_before():
    incident = {"number": "INC0001042", "caller": "alice"}
    plain = registry.call("categorize", {"text": "VPN keeps disconnecting"}, incident)
    assert plain == categorize("VPN keeps disconnecting")
