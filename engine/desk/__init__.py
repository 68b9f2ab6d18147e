"""The service desk around the process: people and groups, accounts and API tokens, who
may see what, queues, assignment, escalation rules, what the desk learned, the knowledge
base, SLA views, and the demo that plays the desk's people."""
