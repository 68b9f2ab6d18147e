"""The Deskflow benchmark: persisted lifecycle throughput against in-memory SpiffWorkflow.

`python -m bench` drives the demo's lifecycle mix through four variants of the same
commands — (a) raw SpiffWorkflow in memory, (b) Deskflow on SQLite, (c) Deskflow on
PostgreSQL, (d) a naive store of the whole workflow JSON with its spec — then times one
worker sweep over 100,000 armed timers, and prints a table with the targets of the issue.
"""
