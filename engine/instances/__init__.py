"""The command path: a command locks an instance, restores its workflow, applies itself,
runs the engine steps and writes back state, projections, outbox and history in one
transaction (`runtime` is where each command starts; `migration` moves running instances
to another version the same way)."""
