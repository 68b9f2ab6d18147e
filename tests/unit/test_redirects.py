"""Redirect targets taken from a request stay on this site (web.redirects)."""

from __future__ import annotations

import pytest

from web.redirects import same_site

OFF_SITE = [
    "//evil.example/",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # browsers drop the tab: //evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\x00/desk",
    "/%2F/evil.example",  # decodes to //evil.example
    "/%5Cevil.example",  # decodes to /\evil.example
    "/x/..//evil.example",  # //evil.example once the dots are resolved
    "/x/%2e%2e//evil.example",
    " /desk",
    "/desk\u2028/x",
    "/\u200b/evil.example",
    "desk/queue",
    "",
    None,
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_target_that_could_leave_the_site_is_refused(target):
    assert same_site(target) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", "/"),
        ("/desk/queue?view=mine&page=2", "/desk/queue?view=mine&page=2"),
        ("/incidents/INC0000001", "/incidents/INC0000001"),
        ("/desk/queue?q=Drucker%20kaputt", "/desk/queue?q=Drucker%20kaputt"),
        ("/wissen/Übersicht", "/wissen/%C3%9Cbersicht"),
        ("/desk/#top", "/desk/"),
    ],
)
def test_a_path_on_this_site_is_kept_normalised(target, expected):
    assert same_site(target) == expected


def test_a_target_must_be_under_the_given_prefix():
    assert same_site("/desk/queue", under="/desk/") == "/desk/queue"
    assert same_site("/admin/tokens", under="/desk/") is None
    assert same_site("/desk/../admin/tokens", under="/desk/") is None  # the browser: /admin/tokens
    assert same_site("/desk/%2e%2e/admin", under="/desk/") is None
    assert same_site("/desk/./queue/../mine/", under="/desk/") == "/desk/mine/"
    assert same_site("/a/b/..") == "/a/"
