"""Tamper evidence (issue 6): the database refuses to change the history, `verify` names
exactly the row someone changed anyway, anchors catch a history removed whole, and an
auditor verifies from the web — each look recorded."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError

from cli.main import main
from engine.audit import anchors, append_only, auditors, chains
from engine.instances.history import GENESIS
from engine.store.migrate import alembic_config
from engine.store.models import (
    AuditAnchor,
    AuditView,
    Base,
    EscalationRule,
    HistoryEvent,
    HumanTask,
    Incident,
    Instance,
    Notification,
    Timer,
)

from .desk import Desk
from .web_client import app_with_accounts, logged_in, post


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def drive(desk: Desk, count: int = 3) -> list[str]:
    """`count` incidents on different paths: closed, escalated, waiting to be categorized."""
    numbers = [desk.report(short_description=f"VPN drops, case {i}") for i in range(count)]
    for i, number in enumerate(numbers):
        if i % 3 == 0:
            desk.categorize(number)
            desk.resolve_first_line(number)
            desk.say(number, "confirm", {"comment": "works"})
        elif i % 3 == 1:
            desk.categorize(number)
            desk.escalate(number)
    desk.advance(hours=1)
    return numbers


def instance_of(desk: Desk, number: str) -> int:
    return desk.incident(number).instance_id


def row(db, instance_id: int, seq: int) -> HistoryEvent:
    with db.reading() as session:
        return session.scalars(
            select(HistoryEvent).where(
                HistoryEvent.instance_id == instance_id, HistoryEvent.seq == seq
            )
        ).one()


def tamper(db, *statements) -> None:
    """Run statements with the append-only rules lifted (the sanctioned way around)."""
    with db.writing() as session, append_only.maintenance(session.connection()):
        for statement in statements:
            session.execute(statement)


def count_rows(db) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(HistoryEvent))


def cli(db, *args):
    return CliRunner().invoke(main, ["--database", db.url, *args], catch_exceptions=False)


# --- untouched ----------------------------------------------------------------------------


def test_an_untouched_history_verifies_clean_with_its_anchors(desk, db):
    numbers = drive(desk, 4)
    first = anchors.write_anchor(db, "test")
    more = drive(desk, 2)
    desk.categorize(numbers[2])
    second = anchors.write_anchor(db, "test")
    report = chains.verify(db)
    assert report.ok, report.problems
    assert report.rows == count_rows(db) > 50
    assert report.chains == len(numbers) + len(more)
    assert report.anchors == 2 and report.last_anchor == second
    assert report.heads_checked == first.moved + second.moved
    assert report.summary() == (
        f"all {report.rows} rows in {report.chains} chains verify; 2 anchors verify"
    )


def test_an_anchor_holds_only_the_chains_that_moved(desk, db):
    numbers = drive(desk, 3)
    first = anchors.write_anchor(db, "test")
    assert first.moved == 3 and first.row_count == count_rows(db)
    desk.categorize(numbers[2])
    second = anchors.write_anchor(db, "test")
    with db.reading() as session:
        heads = session.get(AuditAnchor, second.id).heads
    moved = instance_of(desk, numbers[2])
    with db.reading() as session:
        instance = session.get(Instance, moved)
    assert heads == {str(moved): [instance.history_seq, instance.history_hash]}
    assert second.row_count == count_rows(db) and second.last_history_id > first.last_history_id


def test_the_worker_anchors_every_interval_and_only_when_the_history_grew(desk, db):
    drive(desk, 1)
    desk.worker.anchor_history()
    desk.worker.anchor_history()  # too soon
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(AuditAnchor)) == 1
    desk.clock.advance(timedelta(minutes=16))
    desk.worker.anchor_history()  # due, but nothing new
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(AuditAnchor)) == 1
    drive(desk, 1)  # moves the clock an hour
    desk.worker.anchor_history()
    with db.reading() as session:
        anchors = session.scalars(select(AuditAnchor).order_by(AuditAnchor.id)).all()
    assert [a.created_by for a in anchors] == ["worker", "worker"]
    assert chains.verify(db).ok


# --- the database refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE history SET actor = 'mallory'",
        "DELETE FROM history",
        "UPDATE audit_anchors SET row_count = 0",
        "DELETE FROM audit_anchors",
        "UPDATE audit_views SET auditor = 'nobody'",
        "DELETE FROM audit_views",
    ],
)
def test_the_database_refuses_to_change_the_protected_tables(desk, db, sql):
    drive(desk, 1)
    anchors.write_anchor(db, "test")
    auditors.record_view(db, "audrey", "audit page")
    before = chains.verify(db)
    table = sql.split()[1] if sql.startswith("UPDATE") else sql.split()[2]
    with (
        pytest.raises(DBAPIError, match=f"{table} rows are append-only"),
        db.writing() as session,
    ):
        session.execute(text(sql))
    after = chains.verify(db)
    assert after.ok and (after.rows, after.anchors) == (before.rows, before.anchors)


def test_the_database_refuses_the_other_ways_around_the_rules(desk, db):
    drive(desk, 1)
    if db.is_sqlite:  # INSERT OR REPLACE deletes without firing delete triggers
        sql = "INSERT OR REPLACE INTO history SELECT * FROM history WHERE seq = 1"
    else:
        sql = "TRUNCATE history CASCADE"
    with (
        pytest.raises(DBAPIError, match="history rows are append-only"),
        db.writing() as session,
    ):
        session.execute(text(sql))
    assert chains.verify(db).ok


def test_maintenance_puts_the_rules_back(desk, db):
    drive(desk, 1)
    tamper(db, text("UPDATE history SET actor = actor"))
    with pytest.raises(DBAPIError, match="append-only"), db.writing() as session:
        session.execute(text("UPDATE history SET actor = actor"))
    with (  # a failed block rolls its change back, the rules' removal included
        pytest.raises(RuntimeError),
        db.writing() as session,
        append_only.maintenance(session.connection()),
    ):
        session.execute(text("DELETE FROM history"))
        raise RuntimeError("changed my mind")
    assert chains.verify(db).ok and count_rows(db) > 0
    with pytest.raises(DBAPIError, match="append-only"), db.writing() as session:
        session.execute(text("DELETE FROM history"))


def test_the_migration_matches_the_models_and_goes_down_and_up(desk, db):
    drive(desk, 1)
    config = alembic_config(db)
    command.downgrade(config, "0009")
    try:
        with db.engine.connect() as connection:
            assert not {"audit_anchors", "audit_views", "audit_runs"} & set(
                inspect(connection).get_table_names()
            )
        with db.writing() as session:  # no rule any more
            session.execute(text("UPDATE history SET actor = actor"))
    finally:
        command.upgrade(config, "head")
    with pytest.raises(DBAPIError, match="append-only"), db.writing() as session:
        session.execute(text("UPDATE history SET actor = actor"))
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "audit" in repr(d)] == []
    assert chains.verify(db).ok


# --- tampering, named ----------------------------------------------------------------------


def test_an_altered_row_is_named_exactly(desk, db):
    numbers = drive(desk, 3)
    victim = instance_of(desk, numbers[1])
    target = row(db, victim, 4)
    tamper(
        db,
        update(HistoryEvent)
        .where(HistoryEvent.id == target.id)
        .values(payload={**target.payload, "state": "CANCELLED"}),
    )
    report = chains.verify(db)
    assert not report.ok and report.problem_count == 1
    problem = report.first
    assert (problem.kind, problem.instance_id, problem.number, problem.seq, problem.row_id) == (
        "hash mismatch",
        victim,
        numbers[1],
        4,
        target.id,
    )
    assert report.summary() == (
        f"broken: hash mismatch at instance {victim} ({numbers[1]}), seq 4, history row "
        f"{target.id}: its content does not match its hash: the row was altered"
    )


def test_an_altered_row_with_its_hash_recomputed_breaks_the_next_link(desk, db):
    numbers = drive(desk, 1)
    victim = instance_of(desk, numbers[0])
    target = row(db, victim, 2)
    tamper(db, update(HistoryEvent).where(HistoryEvent.id == target.id).values(hash="f" * 64))
    problems = chains.verify(db).problems
    assert [(p.kind, p.seq) for p in problems] == [("hash mismatch", 2), ("prev link", 3)]


def test_a_deleted_middle_row_is_named(desk, db):
    numbers = drive(desk, 3)
    victim = instance_of(desk, numbers[0])
    target = row(db, victim, 5)
    tamper(db, delete(HistoryEvent).where(HistoryEvent.id == target.id))
    report = chains.verify(db)
    assert report.problem_count == 1
    problem = report.first
    assert (problem.kind, problem.instance_id, problem.seq) == ("missing seq", victim, 5)
    assert problem.row_id == row(db, victim, 6).id  # where the gap shows
    assert "seq 5 missing" in str(problem)


def test_deleted_last_rows_show_as_a_head_mismatch(desk, db):
    numbers = drive(desk, 2)
    victim = instance_of(desk, numbers[0])
    with db.reading() as session:
        last = session.get(Instance, victim).history_seq
    tamper(
        db,
        delete(HistoryEvent).where(
            HistoryEvent.instance_id == victim, HistoryEvent.seq >= last - 1
        ),
    )
    report = chains.verify(db)
    assert [(p.kind, p.instance_id, p.seq) for p in report.problems] == [
        ("head mismatch", victim, last - 2)
    ]


def test_a_history_removed_whole_after_an_anchor_is_caught_by_the_anchor(desk, db):
    numbers = drive(desk, 3)
    victim = instance_of(desk, numbers[1])
    with db.reading() as session:
        sealed = session.get(Instance, victim).history_seq
    anchor = anchors.write_anchor(db, "test")
    drive(desk, 1)
    tamper(
        db,
        delete(HistoryEvent).where(HistoryEvent.instance_id == victim),
        update(Instance)
        .where(Instance.id == victim)
        .values(history_seq=0, history_hash=GENESIS),  # the chain looks empty, not broken
    )
    report = chains.verify(db)
    first = report.first
    assert (first.kind, first.instance_id, first.number, first.seq, first.anchor_id) == (
        "missing rows",
        victim,
        numbers[1],
        sealed,
        anchor.id,
    )
    assert [p.kind for p in report.problems] == ["missing rows", "anchor count"]


def test_a_deleted_instance_is_caught_by_the_anchor(desk, db):
    numbers = drive(desk, 3)
    victim = instance_of(desk, numbers[2])
    incident_id = desk.incident(numbers[2]).id
    anchor = anchors.write_anchor(db, "test")
    tamper(
        db,
        delete(HumanTask).where(HumanTask.instance_id == victim),
        delete(Timer).where(Timer.instance_id == victim),
        delete(EscalationRule).where(EscalationRule.instance_id == victim),
        delete(Notification).where(Notification.incident_id == incident_id),
        delete(Incident).where(Incident.id == incident_id),
        delete(HistoryEvent).where(HistoryEvent.instance_id == victim),
        delete(Instance).where(Instance.id == victim),
    )
    report = chains.verify(db)
    first = report.first
    assert (first.kind, first.instance_id, first.anchor_id) == (
        "missing instance",
        victim,
        anchor.id,
    )
    assert first.number is None  # the incident went with it


def test_a_rewritten_chain_is_caught_by_the_anchor(desk, db):
    """Someone re-chains a history consistently (hashes and head recomputed): only the
    anchor still knows the old hash."""
    from engine.instances.history import Entry, row_hash

    numbers = drive(desk, 1)
    victim = instance_of(desk, numbers[0])
    anchor = anchors.write_anchor(db, "test")
    with db.reading() as session:
        rows = session.scalars(
            select(HistoryEvent)
            .where(HistoryEvent.instance_id == victim)
            .order_by(HistoryEvent.seq)
        ).all()
    statements, prev = [], GENESIS
    for event in rows:
        actor = "mallory" if event.seq == 1 else event.actor
        digest = row_hash(
            prev,
            victim,
            event.seq,
            event.at,
            Entry(event.kind, event.element, actor, event.payload),
        )
        statements.append(
            update(HistoryEvent)
            .where(HistoryEvent.id == event.id)
            .values(actor=actor, prev_hash=prev, hash=digest)
        )
        prev = digest
    statements.append(update(Instance).where(Instance.id == victim).values(history_hash=prev))
    tamper(db, *statements)
    report = chains.verify(db)
    assert [(p.kind, p.seq, p.anchor_id) for p in report.problems] == [
        ("anchor mismatch", len(rows), anchor.id)
    ]


def test_a_tampered_anchor_chain_is_detected(desk, db):
    drive(desk, 2)
    first = anchors.write_anchor(db, "test")
    drive(desk, 1)
    second = anchors.write_anchor(db, "test")
    drive(desk, 1)
    third = anchors.write_anchor(db, "test")
    tamper(db, update(AuditAnchor).where(AuditAnchor.id == first.id).values(row_count=1))
    problems = chains.verify(db).problems
    assert (problems[0].kind, problems[0].anchor_id) == ("anchor chain", first.id)
    assert "altered" in problems[0].detail

    tamper(
        db,
        update(AuditAnchor).where(AuditAnchor.id == first.id).values(row_count=first.row_count),
        delete(AuditAnchor).where(AuditAnchor.id == second.id),
    )
    problems = chains.verify(db).problems
    assert [(p.kind, p.anchor_id) for p in problems] == [("anchor chain", third.id)]
    assert f"anchor {first.id}'s hash" in problems[0].detail


def test_verify_one_instance(desk, db):
    numbers = drive(desk, 3)
    anchors.write_anchor(db, "test")
    victim, bystander = (instance_of(desk, n) for n in numbers[:2])
    target = row(db, victim, 3)
    tamper(db, update(HistoryEvent).where(HistoryEvent.id == target.id).values(actor="mallory"))
    clean = chains.verify(db, instance_id=bystander)
    assert clean.ok and clean.chains == 1 and clean.heads_checked == 1
    assert clean.summary().startswith(f"all {clean.rows} rows of instance {bystander} verify")
    broken = chains.verify(db, instance_id=victim)
    assert [(p.kind, p.row_id) for p in broken.problems] == [("hash mismatch", target.id)]


# --- the command line -------------------------------------------------------------------


def test_the_cli_verifies_anchors_and_exits_1_when_broken(desk, db):
    numbers = drive(desk, 2)
    anchored = cli(db, "audit", "anchor", "--by", "ops")
    assert anchored.exit_code == 0, anchored.output
    assert "2 chain head(s) moved" in anchored.output
    with db.reading() as session:
        anchor = session.scalars(select(AuditAnchor)).one()
    assert f"hash {anchor.hash}" in anchored.output and anchor.created_by == "ops"

    clean = cli(db, "audit", "verify")
    assert clean.exit_code == 0, clean.output
    assert f"all {count_rows(db)} rows in 2 chains verify; 1 anchors verify" in clean.stdout
    assert anchor.hash in clean.stdout

    victim = instance_of(desk, numbers[1])
    target = row(db, victim, 2)
    tamper(db, update(HistoryEvent).where(HistoryEvent.id == target.id).values(element="x"))
    broken = cli(db, "audit", "verify", "--by", "audrey")
    assert broken.exit_code == 1
    assert "history BROKEN: 1 problem(s)" in broken.stderr
    assert f"hash mismatch at instance {victim} ({numbers[1]}), seq 2, history row" in broken.stderr
    other = instance_of(desk, numbers[0])
    assert cli(db, "audit", "verify", "--instance", str(other)).exit_code == 0
    with db.reading() as session:
        views = session.scalars(select(AuditView).order_by(AuditView.id)).all()
    assert [(v.auditor, v.what) for v in views] == [
        ("cli", "verification (cli)"),
        ("audrey", "verification (cli)"),
        ("cli", "verification (cli)"),
    ]
    assert views[1].detail.startswith("every chain: broken: hash mismatch")


# --- the auditor's page -----------------------------------------------------------------


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "audrey", "tina")


def views(db) -> list[tuple[str, str]]:
    with db.reading() as session:
        rows = session.scalars(select(AuditView).order_by(AuditView.id)).all()
    return [(v.auditor, v.what) for v in rows]


def test_an_auditor_verifies_from_the_page_and_each_look_is_recorded(app, desk, db):
    drive(desk, 2)
    anchors.write_anchor(db, "test")
    audrey = logged_in(app, "audrey")
    page = audrey.get("/audit/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Verify the history now" in html and 'name="csrf_token"' in html
    assert "1 anchor(s)" in html

    started = post(audrey, "/audit/verify")
    assert started.status_code == 302 and "/audit/runs/" in started.location
    result = audrey.get(started.location)
    body = result.get_data(as_text=True)
    assert result.status_code == 200
    assert f"The history verifies: all {count_rows(db)} rows in 2 chains verify" in body
    assert views(db) == [
        ("audrey", "audit page"),
        ("audrey", "verification started"),
        ("audrey", "verification clean"),
        ("audrey", "verification result"),
    ]
    again = audrey.get("/audit/").get_data(as_text=True)
    assert "clean: all" in again and "verification started" in again


def test_the_page_names_the_first_broken_link(app, desk, db):
    numbers = drive(desk, 2)
    victim = instance_of(desk, numbers[0])
    target = row(db, victim, 3)
    tamper(db, delete(HistoryEvent).where(HistoryEvent.id == target.id))
    audrey = logged_in(app, "audrey")
    result = audrey.get(post(audrey, "/audit/verify").location)
    body = result.get_data(as_text=True)
    assert "The history is broken. The first broken link: missing seq at instance" in body
    assert f"({numbers[0]}), seq 3, history row" in body
    assert views(db)[-2] == ("audrey", "verification broken")


def test_one_incident_can_be_verified_from_the_page(app, desk, db):
    numbers = drive(desk, 2)
    audrey = logged_in(app, "audrey")
    result = audrey.get(post(audrey, "/audit/verify", number=numbers[1].lower()).location)
    assert f"the history of\n    {numbers[1]}" in result.get_data(as_text=True)
    assert "The history verifies: all" in result.get_data(as_text=True)
    unknown = post(audrey, "/audit/verify", number="INC9999999")
    assert unknown.status_code == 302
    assert "There is no incident INC9999999" in audrey.get("/audit/").get_data(as_text=True)


def test_a_large_history_is_verified_in_the_background(runtime, desk, db):
    drive(desk, 2)
    app = app_with_accounts(runtime, "audrey")
    app.config["AUDIT_INLINE_ROWS"] = 0  # everything is "large"
    audrey = logged_in(app, "audrey")
    location = post(audrey, "/audit/verify").location
    deadline = time.monotonic() + 30
    while True:
        body = audrey.get(location).get_data(as_text=True)
        if "Running:" not in body or time.monotonic() > deadline:
            break
        assert 'http-equiv="refresh"' in body
        time.sleep(0.05)
    assert "The history verifies: all" in body


def test_only_auditors_reach_the_audit_pages(app, desk, db):
    tina = logged_in(app, "tina")
    assert tina.get("/audit/").status_code == 403
    assert post(tina, "/audit/verify").status_code == 403
    assert tina.get("/audit/runs/1").status_code == 403
    assert views(db) == []
    assert app.test_client().get("/audit/").status_code == 302  # to the login page
    audrey = logged_in(app, "audrey")
    assert audrey.get("/audit/runs/999999").status_code == 404
