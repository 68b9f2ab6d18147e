"""Keyword categorization of report texts."""

from __future__ import annotations

import pytest

from handlers.categorize import categorize
from handlers.tokens import tokenize

REPORTS = [
    ("VPN keeps disconnecting", "network", "vpn", "network-ops"),
    ("Can't join the office wi-fi, no signal in room 4", "network", "wifi", "network-ops"),
    ("nslookup fails: server not found for the intranet", "network", "dns", "network-ops"),
    ("My laptop battery will not charge", "hardware", "laptop", "hardware-support"),
    ("Second screen flickering after I plug in HDMI", "hardware", "monitor", "hardware-support"),
    ("I forgot my password and it expired", "access", "password", "identity-access"),
    ("Locked out of my account since this morning", "access", "account", "identity-access"),
    ("Access denied on the Finance shared folder", "access", "permissions", "identity-access"),
    ("Got a new phone and the authenticator app is gone", "access", "mfa", "identity-access"),
    ("Please install Visio, I need software for diagrams", "software", "install", "app-support"),
    ("Excel crashes and shows an error message", "software", "crash", "app-support"),
    ("Emails to the supplier bounce back as undeliverable", "email", "delivery", "messaging"),
    ("Meeting invite from Bob not in my calendar", "email", "calendar", "messaging"),
    ("Suspicious email asking for my bank details - phishing?", "email", "spam", "messaging"),
    (
        "Printer on floor 3 offline, print queue stuck",
        "printing",
        "printer-offline",
        "print-services",
    ),
    ("Toner streaks on every page", "printing", "print-quality", "print-services"),
    ("Scan to email does not arrive", "printing", "scanner", "print-services"),
]


@pytest.mark.parametrize(("text", "category", "subcategory", "group"), REPORTS)
def test_realistic_reports(text, category, subcategory, group):
    suggestion = categorize(text)
    assert (suggestion["category"], suggestion["subcategory"], suggestion["group"]) == (
        category,
        subcategory,
        group,
    )
    assert 0 < suggestion["confidence"] <= 1
    assert suggestion["matched"]


def test_vpn_report_in_full():
    assert categorize("VPN keeps disconnecting") == {
        "category": "network",
        "subcategory": "vpn",
        "confidence": 0.67,
        "group": "network-ops",
        "matched": ["vpn", "disconnect"],
        "explanation": [
            {"token": "vpn", "weight": 2.0, "source": "rule"},
            {"token": "disconnect", "weight": 2.0, "source": "rule"},
        ],
    }


@pytest.mark.parametrize("text", ["The coffee machine is empty", "", "   ", "???"])
def test_nothing_matched_stays_with_the_service_desk(text):
    assert categorize(text) == {
        "category": None,
        "subcategory": None,
        "confidence": 0.0,
        "group": "service-desk",
        "matched": [],
        "explanation": [],
    }


def test_more_hits_mean_more_confidence():
    one = categorize("vpn")["confidence"]
    two = categorize("vpn disconnect")["confidence"]
    three = categorize("vpn disconnect remote access")["confidence"]
    assert 0 < one < two < three < 1


def test_a_close_competitor_lowers_confidence():
    alone = categorize("the printer is broken")
    contested = categorize("the printer and the laptop are broken")
    assert alone["subcategory"] == "printer-offline"
    assert contested["confidence"] < alone["confidence"]


def test_same_word_twice_counts_once():
    assert categorize("crash crash crash") == categorize("crash")
    assert categorize("it crashes")["matched"] == ["crashes"]


def test_deterministic():
    text = "Outlook crashes when I open the shared mailbox"
    assert all(categorize(text) == categorize(text) for _ in range(5))


def test_tokenize_lowercases_stems_and_drops_filler():
    assert tokenize("My Printers are NOT printing!") == ["printer", "not", "print"]
    assert tokenize(None) == []
