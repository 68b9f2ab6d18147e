"""The way an instance came through its diagram, from its history (engine.audit.diagram_path)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.audit.diagram_path import path_through, sequence_flows, steps
from engine.errors import DiagramInvalid
from engine.process.definitions import SourceFile

# start -> a -> split (parallel) -> b, c -> join (parallel) -> check (exclusive)
#   check -> a (again: a loop) | end
BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <process id="p" isExecutable="true">
    <startEvent id="start" />
    <task id="a" /><task id="b" /><task id="c" /><endEvent id="end" />
    <parallelGateway id="split" /><parallelGateway id="join" />
    <exclusiveGateway id="check" /><exclusiveGateway id="merge" />
    <boundaryEvent id="timer" attachedToRef="b" cancelActivity="false" />
    <task id="remind" />
    <sequenceFlow id="f_start" sourceRef="start" targetRef="merge" />
    <sequenceFlow id="f_merge" sourceRef="merge" targetRef="a" />
    <sequenceFlow id="f_a" sourceRef="a" targetRef="split" />
    <sequenceFlow id="f_split_b" sourceRef="split" targetRef="b" />
    <sequenceFlow id="f_split_c" sourceRef="split" targetRef="c" />
    <sequenceFlow id="f_b" sourceRef="b" targetRef="join" />
    <sequenceFlow id="f_c" sourceRef="c" targetRef="join" />
    <sequenceFlow id="f_join" sourceRef="join" targetRef="check" />
    <sequenceFlow id="f_again" sourceRef="check" targetRef="merge" />
    <sequenceFlow id="f_done" sourceRef="check" targetRef="end" />
    <sequenceFlow id="f_timer" sourceRef="timer" targetRef="remind" />
  </process>
</definitions>
"""


def event(kind, element=None, state=None, **payload):
    return SimpleNamespace(
        kind=kind, element=element, payload={**({"state": state} if state else {}), **payload}
    )


def run(*elements):
    """Events for elements entered and completed one after another."""
    out = []
    for element in elements:
        out += [event("task", element, "READY"), event("task", element, "COMPLETED")]
    return out


DIAGRAM = sequence_flows(SourceFile("p.bpmn", BPMN))


def test_a_straight_way_takes_the_flows_between_the_elements_passed():
    passed, flows = path_through(DIAGRAM, steps(run("start", "merge", "a", "split")))
    assert passed == ["start", "merge", "a", "split"]
    assert flows == ["f_start", "f_merge", "f_a"]


def test_a_parallel_join_takes_every_branch_and_an_open_task_its_incoming_flow():
    history = [
        *run("start", "merge", "a", "split"),
        event("task", "b", "READY"),
        event("task", "c", "READY"),
        event("task", "c", "COMPLETED"),
        event("task", "join", "WAITING"),  # c arrived; b still open
        event("task", "b", "COMPLETED"),
        event("task", "join", "READY"),
        event("task", "join", "COMPLETED"),
        event("task", "check", "READY"),
    ]
    passed, flows = path_through(DIAGRAM, steps(history))
    assert passed == ["start", "merge", "a", "split", "c", "b", "join"]
    assert {"f_split_b", "f_split_c", "f_b", "f_c", "f_join"} <= set(flows)
    assert "check" not in passed  # entered, not passed


def test_a_loop_takes_the_way_back_once_and_not_the_way_not_taken():
    history = [*run("start", "merge", "a", "split", "b", "c", "join", "check", "merge", "a")]
    passed, flows = path_through(DIAGRAM, steps(history))
    assert passed.count("a") == 1  # each element once, in the order first passed
    assert "f_again" in flows and "f_done" not in flows
    assert flows.count("f_merge") == 1


def test_a_fired_timer_and_its_branch_are_passed_cancelled_and_waiting_ones_are_not():
    history = [
        *run("start", "merge", "a", "split"),
        event("task", "b", "READY"),
        event("task", "timer", "WAITING"),
        event("command", None, command="fire_due_timers", timers=[{"element": "timer"}]),
        *run("remind"),
        event("task", "b", "CANCELLED"),
    ]
    passed, flows = path_through(DIAGRAM, steps(history))
    assert "timer" in passed and "remind" in passed and "b" not in passed
    assert "f_timer" in flows


def test_the_diagram_is_read_with_the_safe_parser():
    evil = BPMN.replace("<definitions", '<!DOCTYPE d [<!ENTITY x "y">]>\n<definitions', 1)
    with pytest.raises(DiagramInvalid):
        sequence_flows(SourceFile("p.bpmn", evil))
