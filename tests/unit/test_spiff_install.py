"""Deskflow's patches to SpiffWorkflow are applied by `engine.spiff.install()`, not by
importing a module; building a workflow installs them (in a fresh interpreter: this one
has built workflows already)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import datetime

from SpiffWorkflow.bpmn.specs.event_definitions import timer
from SpiffWorkflow.task import Task

original_set_state = Task._set_state

import engine.spiff as spiff
from engine.instances import runtime  # everything that builds workflows, imported
from engine.audit import replay
from engine.process import definitions

assert timer.datetime is datetime.datetime, "importing patched the timer clock"
assert Task._set_state is original_set_state, "importing patched Task._set_state"
definition = definitions.compile_bundle(definitions.bundled())
spiff.new_workflow(definition.spec, definition.subprocess_specs, spiff.CommandContext())
assert timer.datetime is spiff._ClockDatetime
assert Task._set_state is spiff._set_state_and_log
assert spiff._set_state is original_set_state  # the library's own, called by the patch
spiff.install()  # again: nothing changes
assert Task._set_state is spiff._set_state_and_log
print("ok")
"""


def test_importing_changes_nothing_building_a_workflow_installs():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
