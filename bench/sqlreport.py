"""The printed table of SQL per command (`bench.sqlmix`), and its detail by table."""

from __future__ import annotations

from typing import Any

DB_ORDER = ("SQLite", "PostgreSQL")


def _order(labels: dict[str, Any]) -> list[str]:
    """Commands first (start, claim, completions, messages, timers), then the rest."""
    first = ("start_incident", "claim_task", "complete_task", "send_message", "fire_due_timers")

    def key(label: str) -> tuple[int, str]:
        for rank, prefix in enumerate(first):
            if label.startswith(prefix):
                return rank, label
        return len(first), label

    return sorted(labels, key=key)


def _sidu(row: dict[str, Any]) -> str:
    verbs = row["verbs"]
    return "/".join(f"{verbs.get(v, 0):.0f}" for v in ("SELECT", "INSERT", "UPDATE", "DELETE"))


def _txn(row: dict[str, Any]) -> str:
    verbs = row["verbs"]
    ends = verbs.get("COMMIT", 0) + verbs.get("ROLLBACK", 0)
    return f"{verbs.get('BEGIN', 0):.1f}+{ends:.1f}"


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    dbs = [db for db in DB_ORDER if db in results]
    if not dbs:
        return []
    first = results[dbs[0]]
    labels = _order(first["labels"])
    head = f"{'SQL per command (mean)':<38}{'n':>4}{'stmts':>7}{'S/I/U/D':>11}{'rows':>6}"
    head += f"{'hist':>6}"
    for db in dbs:
        short = "SQLite" if db == "SQLite" else "PG"
        head += f"{short + ' B+C':>12}{short + ' rt':>10}{'SQL ms':>8}"
    lines = [head, "-" * len(head)]
    totals = {db: {} for db in dbs}  # group -> [round trips, statements, ms] per lifecycle
    for label in labels:
        row = first["labels"][label]
        line = f"{label[:37]:<38}{row['calls']:>4}{row['statements']:>7.1f}{_sidu(row):>11}"
        line += f"{row['rows']:>6.1f}{row['target_rows'].get('INSERT history', 0):>6.1f}"
        for db in dbs:
            cell = results[db]["labels"].get(label)
            if cell is None:
                line += f"{'-':>12}{'-':>10}{'-':>8}"
                continue
            line += f"{_txn(cell):>12}{cell['round_trips']:>10.1f}{cell['sql_ms']:>8.2f}"
            share = cell["calls"] / results[db]["incidents"]
            sums = totals[db].setdefault(_group(label), [0.0, 0.0, 0.0])
            sums[0] += cell["round_trips"] * share
            sums[1] += cell["statements"] * share
            sums[2] += cell["sql_ms"] * share
        lines.append(line)
    for db in dbs:
        lines.append(
            f"  per lifecycle on {db}: "
            + "; ".join(
                f"{group} {t[1]:.0f} statements, {t[0]:.0f} round trips, {t[2]:.1f} ms"
                for group, t in totals[db].items()
            )
        )
    lines += [
        f"  {first['incidents']} incidents of the mix with claims, untimed; stmts = SQL "
        "statements (S/I/U/D: SELECT/INSERT/UPDATE/DELETE); rows = parameter sets bound "
        "(an executemany is one statement, N rows); hist = history rows appended;",
        "  B+C = BEGIN + COMMIT/ROLLBACK; rt = round trips = statements + B + C + pool "
        "pre-pings (PostgreSQL: psycopg's own BEGIN; SQLite: library calls, no network);",
        "  SQL ms = time in the driver (SQLite COMMIT is the fsync)",
    ]
    return lines


def _group(label: str) -> str:
    if label.startswith("claim"):
        return "claims"
    if label.startswith(("start", "complete", "send", "fire")):
        return "commands"
    return "worker and reads"


def detail(results: dict[str, dict[str, Any]]) -> list[str]:
    """Per command, how often each (verb, table) was sent, per call."""
    lines = []
    for db in DB_ORDER:
        if db not in results:
            continue
        lines += ["", f"{db}: statements per call, by verb and table"]
        labels = results[db]["labels"]
        for label in _order(labels):
            targets = labels[label]["targets"]
            text = ", ".join(f"{t} {n:.2g}" for t, n in sorted(targets.items(), key=_by_count))
            lines.append(f"  {label:<36}{text}")
    return lines


def trace(results: dict[str, dict[str, Any]], width: int = 150) -> list[str]:
    """The statements of the first call of each kind, in order."""
    lines = []
    for db in DB_ORDER:
        traced = results.get(db, {}).get("trace") or {}
        for label in _order(traced):
            lines += ["", f"{db}: {label}"]
            lines += [f"  {statement[:width]}" for statement in traced[label]]
    return lines


def _by_count(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]
