"""What auditors use: the history's tamper evidence (verify, anchors), replay and what-if,
the replay view and heatmap on the diagram, and the history exported as an event log."""
