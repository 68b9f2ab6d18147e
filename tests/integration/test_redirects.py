"""The log-in page's `next=` and the desk's `back` send the browser only to this site."""

from __future__ import annotations

import re

import pytest

from tests.integration.desk import Desk
from tests.integration.web_client import PASSWORD, TOKEN, app_with_accounts, logged_in, post

HOSTILE_NEXT = [
    "//evil.example/",
    "/\t/evil.example",  # a control character inside next= (browsers drop it)
    "/%09/evil.example",
    "/\\evil.example",
    "https://evil.example",
    "/x/..//evil.example",
    "/desk%0D%0ALocation:%20https://evil.example",  # a line break: was a 500
    "/\r\n/evil.example",
]


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "tina")


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_logging_in_never_sends_the_browser_off_site(app, target):
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "tina", "password": PASSWORD, "csrf_token": token},
    )
    if answer.status_code == 400:  # a control character: web.params refuses ?next itself
        assert "?next" in answer.get_data(as_text=True) and "Location" not in answer.headers
        return
    assert answer.status_code == 302
    assert answer.location == "/", answer.location
    assert "evil" not in answer.headers["Location"]


def test_logging_in_goes_back_to_the_page_asked_for(app):
    client = app.test_client()
    asked = client.get("/desk/queue?view=mine")
    assert asked.status_code == 302
    form_page = client.get(asked.location).get_data(as_text=True)
    token = TOKEN.search(form_page).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', form_page).group(1)
    answer = client.post(
        action.replace("&amp;", "&"),
        data={"username": "tina", "password": PASSWORD, "csrf_token": token},
    )
    assert answer.location == "/desk/queue?view=mine"


@pytest.mark.parametrize("back", ["//evil.example/desk/", "/desk/\r\nX: y", "/admin/tokens"])
def test_a_task_button_goes_back_only_to_a_desk_page(app, runtime, frozen_clock, back):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    task = desk.open_tasks(number)[0]
    tina = logged_in(app, "tina")
    answer = post(tina, f"/desk/tasks/{task.id}/claim", back=back)
    assert answer.status_code == 302
    assert answer.location == f"/desk/incidents/{number}"
