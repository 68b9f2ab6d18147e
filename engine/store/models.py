"""The tables. `Instance` holds the engine state; the others are what queries read.

Every write goes through a command in `engine.instances.runtime`, which keeps the projections
(incident, open human tasks, armed timers) consistent with the instance state in the
same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite's INTEGER PRIMARY KEY is the rowid only when typed exactly INTEGER.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value, dialect):

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Definition(Base):
    """One deployed version of a process: its bundle, pinned forever."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    bpmn_filename: Mapped[str] = mapped_column(String(255))
    bundle: Mapped[str] = mapped_column(Text)  # engine.process.definitions.bundle_to_json
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")


class Instance(Base):
    """A running or finished process instance; `state` is the spec-free workflow JSON,
    deflated (see `engine.spiff.dump_workflow`)."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|completed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The head of the instance's history chain, so appending needs no extra query.
    history_seq: Mapped[int] = mapped_column(Integer, default=0)
    history_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)


class Incident(Base):
    """The queryable record of one incident (or request), kept by the runtime."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_state_priority", "state", "priority"),
        Index("ix_incidents_caller", "caller"),
        Index("ix_incidents_group", "assignment_group", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="incident")  # incident|request
    caller: Mapped[str] = mapped_column(String(100))
    reported_by: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    short_description: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(50))
    subcategories: Mapped[list[Any]] = mapped_column(default=list)
    impact: Mapped[str] = mapped_column(String(10))
    urgency: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int | None]
    major_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(30), default="New")
    assignment_group: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(100))
    response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    reassignment_count: Mapped[int] = mapped_column(Integer, default=0)
    resolution_code: Mapped[str | None] = mapped_column(String(50))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(String(30))
    last_error: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class HumanTask(Base):
    """A user task that is open now: who may work it, with which form, by when."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_queue", "lane", "group_name", "assignee"),
        Index("ix_human_tasks_instance", "instance_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    element: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(100))
    group_name: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(100))
    form: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]


class Timer(Base):
    """A timer the instance waits on; the worker reads this table, never the instances."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    element: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]
    failed_at: Mapped[datetime | None]  # set when firing failed; cleared by a retry


class Notification(Base):
    """A message to a person, written by a command and delivered after commit.

    `status`: pending -> delivered | suppressed | failed (see `engine.worker.scheduler`).
    `due_at` is when the worker tries next: the coalescing window after it was written,
    then after each failed attempt the backoff. `message_id` is the Message-ID of the
    mail that carries it, fixed when it is first claimed, so a retry sends the same mail.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "due_at"),
        Index("ix_notifications_pair", "incident_id", "recipient"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    recipient: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # the HTML body, rendered with `body`
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None]
    # For a suppressed status update: the notification that made it redundant.
    suppressed_by: Mapped[int | None] = mapped_column(BigId)


class HistoryEvent(Base):
    """One append-only entry of an instance's story; `hash` chains it to the previous."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    element: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: cannot log in
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]  # the throttle after wrong passwords (accounts)
    locked_at: Mapped[datetime | None]  # locked by an admin until unlocked (account_state)
    deactivated_at: Mapped[datetime | None]  # gone from the desk until reactivated


class Group(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    manager: Mapped[str | None] = mapped_column(ForeignKey("users.username"))


class Membership(Base):
    __tablename__ = "memberships"

    group_name: Mapped[str] = mapped_column(ForeignKey("groups.name"), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)


class LearnedCategories(Base):
    """What technicians' final categorizations taught the `categorize` handler (one row)."""

    __tablename__ = "learned_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    knowledge: Mapped[dict[str, Any]] = mapped_column(default=dict)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class EscalationRule(Base):
    """A technician's "if not resolved by `due_at`, notify / reassign `target`" on one incident."""

    __tablename__ = "escalation_rules"
    __table_args__ = (Index("ix_escalation_rules_due", "fired_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    due_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(20))  # notify | reassign
    target: Mapped[str] = mapped_column(ForeignKey("users.username"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class Article(Base):
    """A self-help article of the knowledge base (searched by full text, see
    `engine.desk.knowledge_base`)."""

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # KB0001
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text)  # space-separated words and phrases
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """A token for the JSON API (`/api/`), created by an admin for one user; only the
    SHA-256 of the token is kept (see `engine.desk.api_tokens`)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # what it is for: "monitoring", "chat bot"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    scope: Mapped[str] = mapped_column(String(10), default="write")  # "read" or "write"
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class LoginSession(Base):
    """One log-in in a browser, until it ends (`engine.desk.sessions`); only the SHA-256
    of the session's secret id is kept, the cookie holds the secret."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))


class LoginFailure(Base):
    """A failed log-in from an address, kept for the lockout window (`engine.desk.accounts`)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_address", "address", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class Draft(Base):
    """A process owner's work in progress on a version: a bundle (the same JSON as
    `Definition.bundle`) that may be broken until it is validated and deployed
    (see `engine.process.drafts`)."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    base_version: Mapped[int | None]  # the version it started from; None: from sources
    bundle: Mapped[str] = mapped_column(Text)  # engine.process.definitions.bundle_to_json
    created_by: Mapped[str] = mapped_column(String(100))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")


class AuditAnchor(Base):
    """A periodic seal over the history (see `engine.audit.anchors`): the heads of the chains that
    moved since the previous anchor, how many history rows existed up to which id, chained
    to the previous anchor by hash. Append-only, like the history."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    last_history_id: Mapped[int] = mapped_column(BigInteger)  # rows up to this id are sealed
    row_count: Mapped[int] = mapped_column(BigInteger)  # history rows with id <= that
    moved: Mapped[int] = mapped_column(Integer)  # entries in `heads`
    heads: Mapped[dict[str, Any]] = mapped_column()  # {"instance id": [seq, hash]}
    created_by: Mapped[str] = mapped_column(String(100))


class AuditView(Base):
    """Who looked at what in the audit pages, and when (append-only)."""

    __tablename__ = "audit_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    auditor: Mapped[str] = mapped_column(String(100))
    what: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")


class AuditRun(Base):
    """One verification of the history started from the audit page: its progress while
    it runs, its outcome after (the outcome is also recorded as an `AuditView`)."""

    __tablename__ = "audit_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]  # a heartbeat: a run that stops moving was interrupted
    finished_at: Mapped[datetime | None]
    instance_id: Mapped[int | None] = mapped_column(BigInteger)  # None: every chain
    status: Mapped[str] = mapped_column(String(20), default="running")  # |clean|broken|failed
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float | None]
    summary: Mapped[str | None] = mapped_column(Text)  # one line: clean, or the first break
    problems: Mapped[str | None] = mapped_column(Text)  # the first problems, one a line


class Submission(Base):
    """A report form (or an API call with an `Idempotency-Key`) that opened an incident,
    by its key: the same form sent again opens nothing new (`engine.instances.submissions`)."""

    __tablename__ = "submissions"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # "<actor> <key sent>"
    incident_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
