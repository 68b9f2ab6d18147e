"""Deskflow's engine: BPMN definitions in, persisted incident state out."""
