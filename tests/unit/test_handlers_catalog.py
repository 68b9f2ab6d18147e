"""The service catalog: the bundled data and the validation of broken files."""

from __future__ import annotations

import copy
import json
from dataclasses import FrozenInstanceError

import pytest

from handlers.catalog import DEFAULT_PATH, catalog, load_catalog
from handlers.errors import CatalogInvalid

GOOD = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_bundled_catalog_has_the_service_desk_shape():
    cat = catalog()
    assert list(cat.categories) == [
        "network",
        "hardware",
        "access",
        "software",
        "email",
        "printing",
    ]
    assert {name: c.group for name, c in cat.categories.items()} == {
        "network": "network-ops",
        "hardware": "hardware-support",
        "access": "identity-access",
        "software": "app-support",
        "email": "messaging",
        "printing": "print-services",
    }
    for category in cat.categories.values():
        assert 2 <= len(category.subcategories) <= 5
        assert all(sub.keywords for sub in category.subcategories)
    assert cat.categories["network"].subcategory_names() == ["vpn", "wifi", "lan", "dns"]
    assert cat.service_desk_group == "service-desk"
    assert {"tina", "tom"} <= set(cat.groups["service-desk"].members)
    assert set(cat.callers) == {"alice", "bob", "carol", "dave", "erin"}
    assert cat.major_incident_manager in cat.users
    assert cat.stakeholders


def test_bundled_sla_policy():
    cat = catalog()
    table = {
        p: (
            policy.name,
            policy.response_minutes,
            policy.resolution_minutes,
            policy.status_update_interval,
            policy.calendar,
        )
        for p, policy in cat.priorities.items()
    }
    assert table == {
        1: ("Critical", 15, 240, "PT30M", "24x7"),
        2: ("High", 30, 480, "PT1H", "24x7"),
        3: ("Moderate", 240, 1800, "PT4H", "office"),
        4: ("Low", 480, 3000, "P1D", "office"),
        5: ("Planning", 1200, 6000, "P2D", "office"),
    }
    assert (cat.warning_threshold, cat.escalation_threshold) == (0.5, 0.75)
    assert cat.auto_close_after == "P3D"
    assert cat.max_reopens == 5


def test_catalog_is_cached_and_frozen():
    assert catalog() is catalog()
    with pytest.raises(FrozenInstanceError):
        catalog().max_reopens = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalog().categories["new"] = None  # type: ignore[index]


def test_manager_lookup_falls_back_to_the_service_desk():
    cat = catalog()
    assert cat.manager_of("network-ops") == cat.groups["network-ops"].manager
    assert cat.manager_of(None) == cat.groups["service-desk"].manager
    assert cat.manager_of("no-such-group") == cat.groups["service-desk"].manager


def _write(tmp_path, data) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _broken(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


BROKEN = {
    "manager not in any group": (
        lambda d: d["groups"]["network-ops"].update(manager="x"),
        "catalog.json: groups.network-ops.manager: 'x' is not a member of any group",
    ),
    "category owned by unknown group": (
        lambda d: d["categories"]["email"].update(group="postmasters"),
        "catalog.json: categories.email.group: unknown group 'postmasters'",
    ),
    "category without subcategories": (
        lambda d: d["categories"]["printing"].update(subcategories={}),
        "catalog.json: categories.printing.subcategories: a category needs at least one "
        "subcategory",
    ),
    "subcategory without keywords": (
        lambda d: d["categories"]["network"]["subcategories"]["dns"].update(keywords=[]),
        "catalog.json: categories.network.subcategories.dns.keywords: a subcategory needs",
    ),
    "keyword of stopwords only": (
        lambda d: d["categories"]["network"]["subcategories"]["dns"].update(keywords=["the"]),
        "categories.network.subcategories.dns.keywords: 'the' has no word to match on",
    ),
    "unknown time zone": (
        lambda d: d["calendars"]["office"].update(time_zone="Europe/Atlantis"),
        "catalog.json: calendars.office.time_zone: unknown time zone 'Europe/Atlantis'",
    ),
    "closing before opening": (
        lambda d: d["calendars"]["office"]["hours"].update(mon=["18:00", "08:00"]),
        "catalog.json: calendars.office.hours.mon: opening 18:00 is not before closing 08:00",
    ),
    "not a weekday": (
        lambda d: d["calendars"]["office"]["hours"].update(monday=["08:00", "18:00"]),
        "catalog.json: calendars.office.hours.monday: not a weekday",
    ),
    "holidays of an unknown country": (
        lambda d: d["calendars"]["office"]["holidays"].update(country="XX"),
        "catalog.json: calendars.office.holidays: the holidays library does not know it",
    ),
    "policy naming an unknown calendar": (
        lambda d: d["sla"]["priorities"]["3"].update(calendar="weekends"),
        "catalog.json: sla.priorities.3.calendar: unknown calendar 'weekends'",
    ),
    "escalation before the warning": (
        lambda d: d["sla"].update(escalation_threshold=0.4),
        "catalog.json: sla.escalation_threshold: 0.4 must be above the warning threshold 0.5",
    ),
    "missing priority policy": (
        lambda d: d["sla"]["priorities"].pop("4"),
        "catalog.json: sla.priorities.4: missing priority policy for priority 4",
    ),
    "extra priority": (
        lambda d: d["sla"]["priorities"].update({"6": d["sla"]["priorities"]["5"]}),
        "catalog.json: sla.priorities.6: priorities are 1 to 5",
    ),
    "bad ISO duration": (
        lambda d: d["sla"]["priorities"]["1"].update(status_update_interval="30 minutes"),
        "catalog.json: sla.priorities.1.status_update_interval: '30 minutes' is not an ISO "
        "8601 duration",
    ),
    "month duration": (
        lambda d: d["sla"].update(auto_close_after="P1M"),
        "catalog.json: sla.auto_close_after: 'P1M' is not an ISO 8601 duration",
    ),
    "resolution shorter than response": (
        lambda d: d["sla"]["priorities"]["2"].update(resolution_minutes=10),
        "catalog.json: sla.priorities.2.resolution_minutes: 10 is shorter than the response",
    ),
    "minutes as text": (
        lambda d: d["sla"]["priorities"]["3"].update(response_minutes="240"),
        "catalog.json: sla.priorities.3.response_minutes: expected an integer, got str",
    ),
    "threshold outside 0..1": (
        lambda d: d["sla"].update(warning_threshold=75),
        "catalog.json: sla.warning_threshold: 75 must be a fraction between 0 and 1",
    ),
    "negative max_reopens": (
        lambda d: d["sla"].update(max_reopens=-1),
        "catalog.json: sla.max_reopens: -1 is below the minimum of 0",
    ),
    "member who is not a user": (
        lambda d: d["groups"]["messaging"]["members"].append("zed"),
        "catalog.json: groups.messaging.members: unknown user 'zed'",
    ),
    "unknown service desk group": (
        lambda d: d.update(service_desk_group="helpdesk"),
        "catalog.json: service_desk_group: unknown group 'helpdesk'",
    ),
    "unknown major incident manager": (
        lambda d: d.update(major_incident_manager="nobody"),
        "catalog.json: major_incident_manager: unknown user 'nobody'",
    ),
    "unknown stakeholder": (
        lambda d: d["stakeholders"].append("ceo"),
        "catalog.json: stakeholders: unknown user 'ceo'",
    ),
    "missing categories": (
        lambda d: d.pop("categories"),
        "catalog.json: categories: missing",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_catalog_names_key_and_reason(tmp_path, case):
    change, expected = BROKEN[case]
    with pytest.raises(CatalogInvalid) as caught:
        load_catalog(_write(tmp_path, _broken(change)))
    assert expected in str(caught.value)


def test_copy_of_the_bundled_catalog_loads(tmp_path):
    loaded = load_catalog(_write(tmp_path, GOOD))
    assert loaded == catalog()


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text('{\n  "categories": {,\n}', encoding="utf-8")
    with pytest.raises(CatalogInvalid, match=r"catalog\.json: not valid JSON at line 2"):
        load_catalog(path)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(CatalogInvalid, match=r"catalog\.json: cannot be read"):
        load_catalog(tmp_path / "catalog.json")
