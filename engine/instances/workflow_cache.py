"""Restored workflows kept between commands, so a busy incident is not rebuilt each time.

An entry is valid for exactly one instance version: a command takes the workflow out
while it holds the instance lock (so no one else can use it meanwhile), and puts the
advanced workflow back only after its transaction committed. A command that fails
never puts it back, so a half-applied workflow is never reused. Another process that
advanced the instance bumped its version, which makes this process's entry stale.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

DEFAULT_SIZE = int(os.environ.get("DESKFLOW_WORKFLOW_CACHE", 256))


class WorkflowCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, instance_id: int, version: int) -> BpmnWorkflow | None:
        """The workflow at `version`, removed from the cache; None when absent or stale."""
        with self._lock:
            entry = self._entries.pop(instance_id, None)
            if entry is not None and entry[0] == version:
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def keep(self, instance_id: int, version: int, workflow: BpmnWorkflow) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[instance_id] = (version, workflow)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, instance_id: int) -> None:
        with self._lock:
            self._entries.pop(instance_id, None)
