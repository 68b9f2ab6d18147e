"""In a real browser: the process owner opens version 1 in the BPMN modeler as a draft, adds a
user task in the Service Desk lane and gives it a form in the side panel, names an operator
no handler provides, validates (the problem is listed and the task marked on the diagram),
fixes it from the problem list, validates clean and deploys version 2 with a comment; then
the versions list, the diff, and moving the version-1 incidents that can move. An incident
started before keeps running on version 1 to the end; a new one runs on version 2."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.desk import accounts
from engine.process import definitions, versions
from engine.store.models import Definition, Incident, Instance
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"
RED = "rgb(198, 40, 40)"

# Adds a user task below "Notify stakeholders", in the Service Desk lane, and routes the
# flow notify_stakeholders -> major_incident_merge through it (bpmn-js APIs: dragging
# shapes in a test is brittle). Returns the new task's id.
ADD_USER_TASK = """() => {
  const modeler = window.deskflowModeler;
  const registry = modeler.get('elementRegistry');
  const modeling = modeler.get('modeling');
  const source = registry.get('notify_stakeholders');
  const target = registry.get('major_incident_merge');
  const lane = registry.get('lane_service_desk');
  const shape = modeler.get('elementFactory').createShape({ type: 'bpmn:UserTask' });
  const task = modeling.createShape(
    shape, { x: source.x + source.width / 2, y: source.y + source.height + 70 }, lane);
  modeling.removeConnection(registry.get('flow_stakeholders_notified'));
  modeling.connect(source, task);
  modeling.connect(task, target);
  modeler.get('selection').select(task);
  return task.id;
}"""

IN_LANE = """([id, lane]) => {
  const registry = window.deskflowModeler.get('elementRegistry');
  return registry.get(lane).businessObject.get('flowNodeRef')
    .some((node) => node.id === id);
}"""

# What the draft in the browser says about an element: its spiffworkflow properties and
# its operator (read back through the moddle API the panel writes with).
EXTENSIONS = """(id) => {
  const bo = window.deskflowModeler.get('elementRegistry').get(id).businessObject;
  const values = (bo.extensionElements && bo.extensionElements.get('values')) || [];
  const out = { properties: {}, operator: null };
  for (const value of values) {
    if (value.$type === 'spiffworkflow:properties') {
      for (const p of value.get('properties')) { out.properties[p.name] = p.value; }
    }
    if (value.$type === 'spiffworkflow:serviceTaskOperator') { out.operator = value.id; }
  }
  return out;
}"""

SELECT = """(id) => {
  const modeler = window.deskflowModeler;
  modeler.get('selection').select(modeler.get('elementRegistry').get(id));
}"""


def version_of(db, number: str) -> int:
    with db.reading() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).one()
        instance = session.get(Instance, incident.instance_id)
        return session.get(Definition, instance.definition_id).version


def test_a_process_owner_changes_validates_and_deploys_the_process(
    runtime, frozen_clock, screenshots
):
    desk = Desk(runtime, frozen_clock)
    moving = desk.report()  # waits at "Categorize incident": nothing it passed changes
    staying = desk.report(impact="high", urgency="high")  # a major incident:
    desk.categorize(staying)  # it passed "Notify stakeholders", whose way on changes
    accounts.set_password(runtime.db, "owen", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        page.goto(f"{base}/process/modeler?version=1")
        page.get_by_label("User name").fill("owen")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/process/modeler\?"))
        page.wait_for_selector('#modeler[data-ready="true"]', timeout=20000)
        assert re.search(r"[?&]draft=\d+", page.url), page.url  # version 1 opened as a draft
        assert page.locator('#modeler .djs-element[data-element-id="suggest_category"]').count()

        task = edit_validate_deploy(page, screenshots)
        versions_diff_and_migration(page, base, screenshots, moving, staying)

        assert errors == []
        assert elsewhere == []  # every file came from Deskflow itself: no CDN

    # Version 2 is stored, by owen, with the comment, and runs the new task with its form
    # in the Service Desk lane and the fixed operator.
    with runtime.db.reading() as session:
        row = versions.latest(session)
        assert (row.version, row.deployed_by) == (2, "owen")
        assert row.comment == "Review major incidents before resolution"
        bundle = definitions.bundle_from_json(row.bundle)
    compiled = definitions.compile_bundle(bundle)
    added = compiled.elements[task]
    assert (added.kind, added.name, added.lane) == (
        "UserTask",
        "Review major incident",
        "Service Desk",
    )
    assert added.properties["form"] == "diagnose"
    assert compiled.spec.task_specs["suggest_category"].operation_name == "categorize"
    # The decision table went through dmn-js (opened, saved back) and still compiles.
    (dmn,) = bundle.dmns
    (shipped,) = definitions.bundled().dmns
    assert dmn.filename == "priority.dmn" and dmn.text != shipped.text

    # Moved, it finishes on version 2; the one that could not move finishes on version 1;
    # a new incident starts on version 2.
    assert (version_of(runtime.db, moving), version_of(runtime.db, staying)) == (2, 1)
    desk.categorize(moving)
    desk.resolve_first_line(moving)
    desk.resolve_first_line(staying)
    for number in (moving, staying):
        desk.say(number, "confirm", {"comment": ""})
        assert desk.incident(number).state == "Closed"
    assert version_of(runtime.db, staying) == 1
    assert version_of(runtime.db, desk.report()) == 2


def versions_diff_and_migration(page, base: str, shots, moving: str, staying: str) -> None:
    page.goto(f"{base}/process/")
    assert page.get_by_role("heading", name="The service desk process").is_visible()
    assert "Review major incidents before resolution" in page.content()  # the comment
    page.screenshot(path=shots / "process-versions.png", full_page=True)

    page.goto(f"{base}/process/diff?from=1&to=2")
    assert "Review major incident" in page.locator("main").inner_text()  # the added task
    page.screenshot(path=shots / "process-diff.png", full_page=True)

    page.goto(f"{base}/process/migrate?from=1&to=2")  # the dry run
    rows = {
        row.locator("td").first.inner_text(): row.locator("td").nth(2).inner_text()
        for row in page.locator("tbody tr").all()
    }
    assert rows == {moving: "yes", staying: "no"}, rows
    page.screenshot(path=shots / "process-migrate-dry-run.png", full_page=True)
    page.get_by_role("button", name="Move the 1 incident(s) that can move").click()
    assert "1 moved, 1 stayed on version 1" in page.get_by_role("status").inner_text()
    page.screenshot(path=shots / "process-migrated.png", full_page=True)


def edit_validate_deploy(page, shots) -> str:
    """The modeler page is open on a fresh draft of version 1; change it and deploy it."""
    # A new user task in the Service Desk lane, given a name and a form in the side panel.
    task = page.evaluate(ADD_USER_TASK)
    assert page.evaluate(IN_LANE, [task, "lane_service_desk"])
    panel = page.locator("#element-panel")
    panel.get_by_label("Name", exact=True).wait_for()
    panel.get_by_label("Name", exact=True).fill("Review major incident")
    panel.get_by_label("Name", exact=True).press("Enter")
    form = panel.get_by_label("Form", exact=True)
    form.select_option("diagnose")
    page.wait_for_function(
        "(id) => (" + EXTENSIONS + ")(id).properties.form === 'diagnose'", arg=task
    )
    page.wait_for_function(
        "(id) => window.deskflowModeler.get('elementRegistry').get(id).businessObject.name"
        " === 'Review major incident'",
        arg=task,
    )
    page.screenshot(path=shots / "modeler-user-task.png")

    # An operator no handler provides, typed into the operator combobox.
    page.evaluate(SELECT, "suggest_category")
    operator = panel.get_by_label("Operator", exact=True)
    operator.wait_for()
    assert operator.input_value() == "categorize"
    operator.fill("no_such_operator")
    operator.press("Tab")  # the change applies on leaving the field
    page.wait_for_function(
        "() => (" + EXTENSIONS + ")('suggest_category').operator === 'no_such_operator'"
    )

    # Validate: the error is listed and the task marked on the canvas.
    page.get_by_role("button", name="Validate").click()
    problem = page.locator('#problem-list button.problem-link[data-element="suggest_category"]')
    problem.wait_for(timeout=20000)
    assert "no_such_operator" in problem.inner_text()
    marked = page.locator('.djs-element.df-error[data-element-id="suggest_category"]')
    assert marked.count() == 1
    assert (
        marked.locator(".djs-visual > :nth-child(1)").evaluate("e => getComputedStyle(e).stroke")
        == RED
    )
    assert page.get_by_role("button", name="Deploy…").is_disabled()
    assert "error" in page.locator("#modeler-status").inner_text()

    # Fix it from the problem list: the element is selected (and zoomed to), its panel
    # shows the operator.
    problem.click()
    page.wait_for_function(
        "() => window.deskflowModeler.get('selection').get().map(e => e.id)"
        ".includes('suggest_category')"
    )
    page.screenshot(path=shots / "modeler-validation-error.png")
    operator = panel.get_by_label("Operator", exact=True)
    assert operator.input_value() == "no_such_operator"
    operator.fill("categorize")
    operator.press("Enter")
    page.wait_for_function(
        "() => (" + EXTENSIONS + ")('suggest_category').operator === 'categorize'"
    )

    # The decision table opens in its own tab (dmn-js); it goes into the draft on save.
    page.get_by_role("tab", name="Priority decision table (DMN)").click()
    page.wait_for_selector('#dmn-editor[data-ready="true"]', timeout=20000)
    assert page.locator("#dmn-editor .tjs-table").is_visible()
    assert not page.locator("#modeler").is_visible()
    page.screenshot(path=shots / "modeler-dmn.png")
    page.get_by_role("tab", name="Process diagram (BPMN)").click()
    assert page.locator("#modeler").is_visible()

    # A failing server is reported in words, and nothing is lost.
    page.route(
        "**/validate",
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"error": "boom"}'
        ),
    )
    page.get_by_role("button", name="Validate").click()
    alert = page.locator("#modeler-alert")
    alert.wait_for()
    assert "Validating failed" in alert.inner_text() and "HTTP 500" in alert.inner_text()
    assert "boom" in alert.inner_text()
    page.unroute("**/validate")

    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector('#problems[data-errors="0"]', timeout=20000)
    assert page.locator(".djs-element.df-error").count() == 0
    assert "Validation passed" in page.locator("#modeler-status").inner_text()

    # Deploy with a comment: version 2.
    deploy = page.get_by_role("button", name="Deploy…")
    assert deploy.is_enabled()
    deploy.click()
    page.get_by_label("What changed (comment, required)").fill(
        "Review major incidents before resolution"
    )
    page.locator("#deploy-confirm").click()
    page.wait_for_selector("#deployed-version", timeout=30000)
    assert "version 2" in page.locator("#deployed-version").inner_text()
    assert (
        page.get_by_role("link", name="See all versions")
        .get_attribute("href")
        .endswith("/process/")
    )
    page.screenshot(path=shots / "modeler-deployed.png")
    return task
