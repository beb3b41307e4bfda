"""The debate state machine, the sync schedules, the alarms and the dashboard."""

from __future__ import annotations

import json

import pytest
from infra.config import load_stage
from infra.constructs.schedules import SYNC_SCHEDULES

from orchestra.debate.machine import STEPS_ARN, definition

from support.cdk_synth import Synth, of_type

pytestmark = pytest.mark.slow


def test_debate_state_machine_is_the_core_definition(dev: Synth) -> None:
    machine = next(iter(of_type(dev.json("service"), "AWS::StepFunctions::StateMachine").values()))
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    # the core definition verbatim; the steps function's ARN is a CloudFormation substitution
    assert json.loads(props["DefinitionString"]) == definition(
        turn_timeout_s=load_stage("dev").debate_turn_timeout_s
    )
    assert "${" + STEPS_ARN + "}" in props["DefinitionString"]
    assert "DebateStepsFunction" in json.dumps(props["DefinitionSubstitutions"][STEPS_ARN])


def test_sync_schedules_with_retries_and_a_dead_letter_queue(dev: Synth) -> None:
    template = dev.json("service")
    schedules = of_type(template, "AWS::Scheduler::Schedule")
    assert len(schedules) == len(SYNC_SCHEDULES)
    queue = next(iter(of_type(template, "AWS::SQS::Queue")))
    expressions = {}
    for schedule in schedules.values():
        target = schedule["Properties"]["Target"]
        source = json.loads(target["Input"])["source"]
        expressions[source] = schedule["Properties"]["ScheduleExpression"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
        assert queue in json.dumps(target["DeadLetterConfig"])
        assert "SyncFunction" in json.dumps(target["Arn"])
    assert expressions == {
        "openrouter": "rate(6 hours)",
        "lmarena": "rate(1 day)",
        "huggingface": "rate(1 day)",
    }


def test_alarms_notify_the_topic(dev: Synth) -> None:
    template = dev.json("service")
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    names = {k.split("Monitoring")[1] for k in alarms}
    for wanted in (
        "Api5xxRate",
        "ApiLatencyP99",
        "FallbackRate",
        "BreakersOpened",
        "DebateFailures",
        "SyncErrors",
        "SyncDeadLetters",
    ):
        assert any(n.startswith(wanted) for n in names), wanted
    topic = next(iter(of_type(template, "AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert topic in json.dumps(alarm["Properties"]["AlarmActions"])
    assert len(of_type(template, "AWS::CloudWatch::Dashboard")) == 1


def test_fallback_alarm_divides_the_emitted_totals(dev: Synth) -> None:
    alarms = of_type(dev.json("service"), "AWS::CloudWatch::Alarm")
    fallback = next(a for k, a in alarms.items() if "FallbackRate" in k)
    metrics = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]
        for m in fallback["Properties"]["Metrics"]
        if "MetricStat" in m
    }
    assert set(metrics) == {"Requests", "FallbackRequests"}
    for metric in metrics.values():  # exactly what EmfObserver flushes: service dimension only
        assert metric["Namespace"] == "Orchestra"
        assert metric["Dimensions"] == [{"Name": "service", "Value": "orchestra-generate"}]
