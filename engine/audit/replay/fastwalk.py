"""The same engine steps as SpiffWorkflow, without walking the whole task tree each time.

A replay runs nothing but engine steps, and most of their time goes into one query:
"the READY (or WAITING) tasks, in tree order" (`Workflow.get_tasks(state=...)`,
`Workflow.update_waiting_tasks`), which SpiffWorkflow answers by visiting every task of
the tree, subprocesses included, on every round of `do_engine_steps`. The order matters:
it is the order tasks run in, so the order the history records.

`ReplayWorkflow` answers those queries from the task maps instead: the tasks in the state
asked for, sorted by their position in the depth-first walk SpiffWorkflow would make
(`BpmnTaskIterator`: a subprocess's tree before the owning task's children; nothing
below a predicted task). Same tasks, same order, a fraction of the work. For a tree big
enough to reach the library iterator's depth limit (1000), or any query of another
shape, it defers to the library. `CHECK` (tests) compares every answer with the
library's.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskIterator, TaskState

FAST_STATES = (TaskState.READY, TaskState.WAITING)
SAFE_SIZE = 900  # tasks in all: below this the iterator's depth limit cannot be reached
CHECK = False  # compare every fast answer with SpiffWorkflow's (slow; for tests)


class FastQueries:
    """`get_tasks(state=S)` and `update_waiting_tasks()` without walking the tree."""

    tasks: dict
    task_tree: Any
    top_workflow: Any

    def get_tasks(self, first_task=None, **kwargs):
        state = kwargs.get("state")
        if first_task is None and len(kwargs) == 1 and state in FAST_STATES:
            found = _in_tree_order(self, state, descend=True)
            if found is not None:
                if CHECK:
                    expected = super().get_tasks(**kwargs)  # type: ignore[misc]
                    assert found == expected, (found, expected)
                return found
        return super().get_tasks(first_task, **kwargs)  # type: ignore[misc]

    def update_waiting_tasks(self) -> None:
        found = _in_tree_order(self, TaskState.WAITING, descend=False)
        if found is None:
            found = list(TaskIterator(self.task_tree, state=TaskState.WAITING))
        elif CHECK:
            expected = list(TaskIterator(self.task_tree, state=TaskState.WAITING))
            assert found == expected, (found, expected)
        for task in found:
            task.task_spec._update(task)


class ReplaySubWorkflow(FastQueries, BpmnSubWorkflow):
    pass


class ReplayWorkflow(FastQueries, BpmnWorkflow):
    """A `BpmnWorkflow` (and its subprocesses) with the fast tree-order queries."""

    def create_subprocess(self, my_task, spec_name):
        subprocess = ReplaySubWorkflow(
            self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self
        )
        self.subprocesses[my_task.id] = subprocess
        return subprocess


def plain(workflow: BpmnWorkflow) -> None:
    """Make a replay workflow (and its subprocesses) the library's classes again, e.g. for
    the serializer, which knows only those; the state is the same."""
    workflow.__class__ = BpmnWorkflow
    for sub in workflow.subprocesses.values():
        sub.__class__ = BpmnSubWorkflow


def fast(workflow: BpmnWorkflow) -> None:
    """The other way round: a restored workflow answers its queries the fast way."""
    workflow.__class__ = ReplayWorkflow
    for sub in workflow.subprocesses.values():
        sub.__class__ = ReplaySubWorkflow


def _in_tree_order(workflow, state: int, descend: bool) -> list | None:
    """The tasks in `state` that SpiffWorkflow's depth-first walk from `workflow`'s root
    reaches, in its order; None when this cannot promise the library's answer."""
    top = workflow.top_workflow
    subs = list(top.subprocesses.values())
    if len(top.tasks) + sum(len(s.tasks) for s in subs) >= SAFE_SIZE:
        return None
    pools = [workflow, *(s for s in subs if s is not workflow)] if descend else [workflow]
    memo: dict[Any, tuple | None] = {}
    keyed = []
    for pool in pools:
        for task in pool.tasks.values():
            if task._state & state:
                key = _position(task, workflow, top, descend, memo)
                if key is not None:
                    keyed.append((key, task))
    keyed.sort(key=lambda pair: pair[0])
    return [task for _, task in keyed]


def _position(task, root, top, descend: bool, memo: dict) -> tuple | None:
    """`task`'s path of child positions from `root`'s root task, as the walk orders it;
    None when the walk never reaches it (below a predicted task, or outside `root`)."""
    path: list[int] = []
    visited = []
    node = task
    result: tuple | None = None
    while True:
        visited.append(node)
        known = memo.get(node, memo)
        if known is not memo:
            result = None if known is None else known + tuple(reversed(path))
            break
        workflow = node.workflow
        parent = workflow.tasks.get(node._parent) if node._parent is not None else None
        if parent is None:  # the root of its workflow
            if workflow is root:
                result = tuple(reversed(path))
                break
            if not descend or workflow.parent_task_id is None:
                result = None
                break
            owner = _owner(top, workflow.parent_task_id)
            if owner is None:
                result = None
                break
            path.append(0)  # a subprocess's tree comes before its owner's children
            node = owner
            continue
        owns = descend and parent.id in top.subprocesses
        if not (owns or parent._state >= TaskState.FUTURE):
            result = None
            break
        path.append(parent._children.index(node.id) + (1 if owns else 0))
        node = parent
    if result is None:
        memo[task] = None
    else:
        for steps, seen in enumerate(visited):
            memo[seen] = result[: len(result) - steps]
    return result


def _owner(top, task_id):
    task = top.tasks.get(task_id)
    if task is not None:
        return task
    for sub in top.subprocesses.values():
        task = sub.tasks.get(task_id)
        if task is not None:
            return task
    return None
