"""The debate state machine, the sync schedules, the alarms and the dashboard."""

from __future__ import annotations

import json

import pytest
from infra.config import load_stage
from infra.constructs.schedules import SYNC_SCHEDULES

from orchestra.debate.machine import STEPS_ARN, definition

from support.cdk_synth import Synth, as_list, of_type, statements

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


def test_debate_machine_states_retries_and_catches(dev: Synth) -> None:
    machine = next(iter(of_type(dev.json("service"), "AWS::StepFunctions::StateMachine").values()))
    states = json.loads(machine["Properties"]["DefinitionString"])["States"]
    assert list(states)[:3] == ["Init", "Round", "Converge"] and "Finalize" in states
    inner = states["Round"]["ItemProcessor"]["States"]
    tasks = {n: s for n, s in {**states, **inner}.items() if s["Type"] == "Task"}
    assert set(tasks) == {"Init", "Turn", "Converge", "Synthesize", "Finalize", "RecordFailure"}
    for name, task in tasks.items():
        (retry,) = task["Retry"]  # transient Lambda errors only, with backoff and jitter
        assert all(e.startswith("Lambda.") for e in retry["ErrorEquals"]), name
        assert retry["MaxAttempts"] == 3 and retry["JitterStrategy"] == "FULL"
        if name == "Turn":
            assert task["Catch"][0]["Next"] == "TurnFailed"
        elif name != "RecordFailure":
            assert task["Catch"][0]["Next"] == "RecordFailure", name
    assert states["RecordFailure"]["Next"] == "Failed"


def test_debate_machine_role_invokes_the_steps_function_and_nothing_else(dev: Synth) -> None:
    granted = [
        st
        for owner, st in statements(dev.json("service"))
        if owner.startswith("DebateStateMachineRole")
    ]
    actions = {a for st in granted for a in as_list(st["Action"])}
    invoke = [st for st in granted if "lambda:InvokeFunction" in as_list(st["Action"])]
    assert len(invoke) == 1 and "DebateStepsFunction" in json.dumps(invoke[0]["Resource"])
    assert "DebateStepsFunction" in json.dumps(as_list(invoke[0]["Resource"])[0])
    others = actions - {"lambda:InvokeFunction"}
    # log delivery and X-Ray need "*" (AWS offers no narrower resource for them)
    assert all(a.startswith(("logs:", "xray:")) for a in others), others
    assert not any(a.startswith(("dynamodb:", "secretsmanager:", "states:")) for a in actions)


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


def test_a_sync_that_runs_and_fails_also_ends_in_the_dead_letter_queue(dev: Synth) -> None:
    # Given the schedules invoke the sync function asynchronously
    template = dev.json("service")
    queue = next(iter(of_type(template, "AWS::SQS::Queue")))
    # Then the function's own failures are retried, then sent to the same queue
    (config,) = of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert "SyncFunction" in json.dumps(props["FunctionName"])
    assert props["MaximumRetryAttempts"] == 2
    assert props["MaximumEventAgeInSeconds"] == 3600
    assert queue in json.dumps(props["DestinationConfig"]["OnFailure"]["Destination"])
    sends = [
        s
        for _, s in statements(template)
        if "sqs:SendMessage" in as_list(s["Action"]) and queue in json.dumps(s["Resource"])
    ]
    assert sends, "the sync function may send its failures to the queue"


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
