"""In a real browser: an auditor steps through one incident's replay on its diagram — the
element of each step is marked, the way so far too — and looks at the heatmap."""

from __future__ import annotations

from datetime import timedelta

from engine.audit import replay_steps
from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"
BLUE = "rgb(21, 101, 192)"


def test_an_auditor_steps_through_a_replay_and_sees_the_heatmap(runtime, frozen_clock, screenshots):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    desk.clock.advance(timedelta(minutes=10))
    desk.categorize(number)
    desk.clock.advance(timedelta(minutes=30))
    desk.escalate(number)  # diagnose: not resolved at first line
    desk.clock.advance(timedelta(hours=2))
    desk.specialist_resolves(number)  # investigate_and_resolve
    desk.clock.advance(timedelta(minutes=5))
    desk.say(number, "confirm", {"comment": "works"})
    other = desk.report()
    desk.categorize(other)
    desk.resolve_first_line(other)
    with runtime.db.reading() as session:
        replay = replay_steps.for_incident(session, number)
    steps = replay.steps
    total = len(steps)
    accounts.set_password(runtime.db, "audrey", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})

    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        page.goto(f"{base}/audit/")
        page.get_by_label("User name").fill("audrey")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/audit/")
        page.get_by_label("Replay incident number").fill(number.lower())
        page.get_by_role("button", name="Replay it step by step").click()
        page.wait_for_url(f"{base}/audit/incidents/{number}/replay")
        diagram = page.locator("div.replay-diagram")
        page.wait_for_selector('div.replay-diagram[data-ready="true"]', timeout=15000)
        assert diagram.get_attribute("data-steps") == str(total)

        def at(n: int) -> None:
            """The page shows step n (1-based): the attributes, the one marked element,
            the way so far, the panel."""
            step = steps[n - 1]
            page.wait_for_selector(f'div.replay-diagram[data-step="{n}"]', timeout=5000)
            assert diagram.get_attribute("data-element") == step.element
            marked = page.locator(".djs-element.df-step")
            assert marked.count() == 1
            assert marked.get_attribute("data-element-id") == step.element
            assert (
                page.locator(f'.djs-element.df-step[data-element-id="{step.element}"]').count() == 1
            )
            assert page.locator(".djs-shape.df-passed").count() == len(replay.passed_at(step))
            assert page.locator(".djs-connection.df-passed").count() == len(replay.flows_at(step))
            assert page.locator("#replay-title").inner_text() == f"Step {n} of {total}"
            assert page.locator("#replay-what").inner_text() == step.what

        at(1)
        assert page.get_by_role("button", name="First").is_disabled()
        page.get_by_role("button", name="Last").click()
        at(total)
        assert page.get_by_role("button", name="Forward").is_disabled()
        page.get_by_role("button", name="First").click()
        at(1)
        for n in (2, 3, 4):
            page.get_by_role("button", name="Forward").click()
            at(n)
        page.get_by_role("button", name="Back").click()
        at(3)
        page.keyboard.press("ArrowRight")  # the focus is on Back: the keys step too
        at(4)
        page.keyboard.press("End")
        at(total)
        page.keyboard.press("Home")
        at(1)

        # The slider: to the step where tina completes "Diagnose".
        diagnosed = next(s for s in steps if s.element == "diagnose" and s.what == "completed").step
        page.get_by_label("Step", exact=True).fill(str(diagnosed))
        at(diagnosed)
        assert page.locator("#replay-actor").inner_text() == "tina"
        stroke = page.locator(
            '.djs-element.df-step[data-element-id="diagnose"] .djs-visual > :nth-child(1)'
        )
        assert stroke.evaluate("e => getComputedStyle(e).stroke") == BLUE
        clocks = page.locator("#replay-clocks table")
        assert "response" in clocks.inner_text() and "met" in clocks.inner_text()
        page.screenshot(path=screenshots / "replay-step.png", full_page=True)

        # The form's data at the step before (tina submits it).
        page.get_by_role("button", name="Back").click()
        at(diagnosed - 1)
        assert "Needs network." in page.locator("#replay-data").inner_text()

        # Play moves on by itself; Pause stops it.
        play = page.get_by_role("button", name="Play")
        play.click()
        page.wait_for_selector(f'div.replay-diagram[data-step="{diagnosed + 1}"]', timeout=5000)
        pause = page.get_by_role("button", name="Pause")
        assert pause.get_attribute("aria-pressed") == "true"
        pause.click()
        assert page.get_by_role("button", name="Play").get_attribute("aria-pressed") == "false"
        stopped = int(diagram.get_attribute("data-step") or 0)
        page.wait_for_timeout(1000)
        assert int(diagram.get_attribute("data-step") or 0) == stopped
        at(stopped)

        # The heatmap of both incidents.
        page.goto(f"{base}/audit/")
        page.get_by_role("link", name="Heatmap").click()
        page.wait_for_url(f"{base}/audit/heatmap")
        heatmap = page.locator("div.heatmap-diagram")
        page.wait_for_selector('div.heatmap-diagram[data-ready="true"]', timeout=15000)
        assert int(heatmap.get_attribute("data-overlays") or 0) >= 20
        assert (
            page.locator('.djs-element.df-heat-5[data-element-id="categorize_incident"]').count()
            == 1
        )
        investigated = page.locator('.djs-element[data-element-id="investigate_and_resolve"]')
        classes = (investigated.get_attribute("class") or "").split()
        assert "df-heat-5" not in classes and any(c.startswith("df-heat-") for c in classes)
        assert page.locator(".df-heat-badge").first.is_visible()
        row = page.locator('tr[data-element="investigate_and_resolve"]')
        assert row.locator("td").nth(1).inner_text() == "1"
        assert row.locator("td").nth(3).inner_text() == "2h 00m"
        page.get_by_label("Category").select_option("network")
        page.get_by_role("button", name="Show").click()
        page.wait_for_selector('div.heatmap-diagram[data-ready="true"]', timeout=15000)
        assert "2 incident(s) on version 1" in page.locator("#heatmap-summary").inner_text()
        page.screenshot(path=screenshots / "heatmap.png", full_page=True)

        assert errors == []
        assert elsewhere == []  # every file came from Deskflow itself: no CDN
