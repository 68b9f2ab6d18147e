"""`deskflow deploy`, `versions`, `diff`, `migrate`, `rollback`: the process and its versions."""

from __future__ import annotations

import click

from cli.errors import fail_cleanly
from engine.instances.migration import Migrator
from engine.instances.runtime import Runtime
from engine.process import definitions, drafts
from engine.process.version_diff import diff_bundles
from engine.store.db import Database


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--comment", default="", help="Why this version (shown in the versions list).")
@click.option("--by", "deployed_by", default="cli", help="Who deploys (recorded).")
@click.pass_obj
@fail_cleanly
def deploy(db: Database, paths: tuple[str, ...], comment: str, deployed_by: str) -> None:
    """Validate and deploy BPMN files (with the DMN files and forms/ beside them)."""
    runtime = Runtime(db)
    bundles = definitions.bundle_from_paths(paths)
    for bundle in bundles:  # validate all first: a failed deploy stores nothing
        definitions.compile_bundle(bundle)
    for bundle in bundles:
        result = runtime.deploy(bundle, deployed_by=deployed_by, comment=comment)
        if result.created:
            click.echo(f"deployed {result.key} version {result.version}")
        else:
            click.echo(f"unchanged: {result.key} version {result.version} has identical source")


@click.command("versions")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.pass_obj
@fail_cleanly
def versions_list(db: Database, key: str) -> None:
    """Deployed versions, newest first: who, when, why, and how many incidents run /
    completed on each."""
    with db.reading() as session:
        rows = drafts.list_versions(session, key)
    if not rows:
        click.echo(f"no version of '{key}' is deployed; run `deskflow init`")
    for v in rows:
        click.echo(
            f"{v.version:>4}  {v.deployed_at:%Y-%m-%d %H:%M}  {v.deployed_by:<14} "
            f"running {v.running:>4}  completed {v.completed:>5}  {v.sha256[:12]}  {v.comment}"
        )


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.pass_obj
@fail_cleanly
def diff(db: Database, old: str, new: str, key: str) -> None:
    """What changed from OLD to NEW: version numbers, or a draft as draft:ID."""
    with db.reading() as session:
        old_label, old_bundle = drafts.resolve(session, old, key)
        new_label, new_bundle = drafts.resolve(session, new, key)
    result = diff_bundles(old_bundle, new_bundle)
    click.echo(f"{old_label} → {new_label}")
    if result.empty:
        click.echo("no difference")
        return
    for element in result.added:
        click.echo(f"  + {element.id} ({element.type}) {element.name}".rstrip())
    for element in result.removed:
        click.echo(f"  - {element.id} ({element.type}) {element.name}".rstrip())
    for changed in result.changed:
        click.echo(f"  ~ {changed.element.id} ({changed.element.type}) {changed.element.name}")
        for change in changed.changes:
            click.echo(f"      {change}")
    for kind, files in (("form", result.forms), ("DMN", result.dmn)):
        for name in files.added:
            click.echo(f"  + {kind} {name}")
        for name in files.removed:
            click.echo(f"  - {kind} {name}")
        for item in files.changed:
            click.echo(f"  ~ {kind} {item['name']}: {'; '.join(item['changes'])}")


@click.command("migrate")
@click.option("--from", "source", type=int, required=True, help="The version they run on.")
@click.option("--to", "target", type=int, required=True, help="The version to move them to.")
@click.option("--dry-run", is_flag=True, help="Only say which could move and why (not).")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.option("--by", "actor", default="cli", help="Who migrates (recorded).")
@click.pass_obj
@fail_cleanly
def migrate(db: Database, source: int, target: int, dry_run: bool, key: str, actor: str) -> None:
    """Move the running incidents of version FROM that can move to version TO."""
    migrator = Migrator(Runtime(db))
    if dry_run:
        checks = migrator.dry_run(source, target, key)
        for check in checks:
            verdict = "can move" if check.can_move else "stays   "
            click.echo(f"{check.incident or check.instance}  {verdict}  {check.why}")
        movable = sum(c.can_move for c in checks)
        click.echo(f"{movable} of {len(checks)} running incident(s) can move (dry run)")
        return
    outcome = migrator.migrate(source, target, actor, key)
    for check in outcome.moved:
        click.echo(f"{check.incident or check.instance}  moved  to version {target}")
    for check in outcome.refused:
        click.echo(f"{check.incident or check.instance}  stays  {check.why}")
    click.echo(f"moved {len(outcome.moved)}, left {len(outcome.refused)} on version {source}")


@click.command("rollback")
@click.argument("version", type=int)
@click.option("--comment", required=True, help="Why (shown in the versions list).")
@click.option("--key", default="service_desk", show_default=True, help="The process.")
@click.option("--by", "deployed_by", default="cli", help="Who rolls back (recorded).")
@click.pass_obj
@fail_cleanly
def rollback(db: Database, version: int, comment: str, key: str, deployed_by: str) -> None:
    """Deploy VERSION's content again as a new version (running incidents stay put)."""
    result = drafts.rollback(db, version, deployed_by, comment, key)
    if result.created:
        click.echo(
            f"deployed {result.key} version {result.version} with version {version}'s content"
        )
    else:
        click.echo(
            f"unchanged: the latest version ({result.version}) has version {version}'s content"
        )


COMMANDS = (deploy, versions_list, diff, migrate, rollback)
