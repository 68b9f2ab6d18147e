"""Background work: due timers, automated escalations, anchors, and delivering the
notification outbox as mail."""
