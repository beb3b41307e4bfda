"""Alarms (to an SNS topic, optionally e-mailed) and one dashboard for the whole service.

Alarms: API 5xx rate, API p99 latency, generate fallback rate, breakers opening, debate,
chain and batch executions failing, catalog syncs failing (function errors or events in
the DLQ).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn

from constructs import Construct
from infra.config import StageConfig
from orchestra.aws_lambda.functions import NAMESPACE

FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class Watched:
    """What the alarms look at."""

    api: apigw.RestApi
    generate: lambda_.IFunction
    sync: lambda_.IFunction
    debate: sfn.IStateMachine
    sync_dead_letters: sqs.IQueue
    chain: sfn.IStateMachine | None = None
    batch: sfn.IStateMachine | None = None


def _service_metric(name: str, service: str = "orchestra-generate") -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic="Sum",
        period=FIVE_MINUTES,
    )


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, watched: Watched
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.topic = sns.Topic(self, "Alarms", enforce_ssl=True, display_name="Orchestra alarms")
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.metrics = {**self._metrics(watched), **self._workflow_metrics(watched)}
        self.alarms = self._alarms(watched)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.dashboard = self._dashboard()

    def _metrics(self, w: Watched) -> dict[str, cw.IMetric]:
        return {
            "requests": w.api.metric_count(period=FIVE_MINUTES),
            "5xx_rate": w.api.metric_server_error(statistic="Average", period=FIVE_MINUTES),
            "4xx_rate": w.api.metric_client_error(statistic="Average", period=FIVE_MINUTES),
            "latency_p50": w.api.metric_latency(statistic="p50", period=FIVE_MINUTES),
            "latency_p99": w.api.metric_latency(statistic="p99", period=FIVE_MINUTES),
            "fallback_rate": cw.MathExpression(
                expression="IF(requests > 0, fallbacks / requests, 0)",
                using_metrics={
                    "requests": _service_metric("Requests"),
                    "fallbacks": _service_metric("FallbackRequests"),
                },
                label="fallback rate",
                period=FIVE_MINUTES,
            ),
            "breakers_opened": _service_metric("BreakerOpened"),
            "debates_failed": _failed(w.debate, "debate"),
            "debates_started": w.debate.metric_started(period=FIVE_MINUTES),
            "sync_errors": w.sync.metric_errors(period=Duration.hours(1)),
            "sync_dead_letters": w.sync_dead_letters.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            "generate_throttles": w.generate.metric_throttles(period=FIVE_MINUTES),
        }

    def _workflow_metrics(self, w: Watched) -> dict[str, cw.IMetric]:
        machines = (("chains_failed", "chain", w.chain), ("batches_failed", "batch", w.batch))
        return {key: _failed(m, kind) for key, kind, m in machines if m is not None}

    def _alarm(
        self, name: str, threshold: float, description: str, *, periods: int = 1
    ) -> cw.Alarm:
        return cw.Alarm(
            self,
            name,
            metric=self.metrics[_KEYS[name]],
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )

    def _alarms(self, w: Watched) -> dict[str, cw.Alarm]:
        c = self.config
        return {
            "Api5xxRate": self._alarm(
                "Api5xxRate", c.alarm_5xx_rate, "share of 5xx answers over 15 min", periods=3
            ),
            "ApiLatencyP99": self._alarm(
                "ApiLatencyP99", c.alarm_p99_latency_ms, "p99 latency (ms) over 15 min", periods=3
            ),
            "FallbackRate": self._alarm(
                "FallbackRate", c.alarm_fallback_rate, "share of requests that fell back", periods=3
            ),
            "BreakersOpened": self._alarm("BreakersOpened", 1, "a model's breaker opened"),
            "DebateFailures": self._alarm("DebateFailures", 1, "a debate execution failed"),
            "SyncErrors": self._alarm("SyncErrors", 1, "a catalog sync invocation failed"),
            "SyncDeadLetters": self._alarm(
                "SyncDeadLetters", 1, "a sync event exhausted its retries (see the DLQ)"
            ),
            **{
                alarm: self._alarm(alarm, 1, f"a {kind} execution failed")
                for alarm, kind in (("ChainFailures", "chain"), ("BatchFailures", "batch"))
                if _KEYS[alarm] in self.metrics
            },
        }

    def _dashboard(self) -> cw.Dashboard:
        m = self.metrics
        graph = cw.GraphWidget
        board = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"{self.config.prefix}-{self.config.stage}"
        )
        board.add_widgets(
            graph(title="Requests", left=[m["requests"]], width=8),
            graph(title="Error rates", left=[m["5xx_rate"], m["4xx_rate"]], width=8),
            graph(title="Latency (ms)", left=[m["latency_p50"], m["latency_p99"]], width=8),
        )
        board.add_widgets(
            graph(title="Fallback rate", left=[m["fallback_rate"]], width=8),
            graph(title="Breakers opened", left=[m["breakers_opened"]], width=8),
            graph(title="Generate throttles", left=[m["generate_throttles"]], width=8),
        )
        board.add_widgets(
            graph(title="Debates", left=[m["debates_started"], m["debates_failed"]], width=8),
            graph(title="Sync errors", left=[m["sync_errors"]], width=8),
            graph(title="Sync dead letters", left=[m["sync_dead_letters"]], width=8),
        )
        # one graph each: their expressions share the ids failed/timedout/aborted
        workflows = [
            graph(title=title, left=[m[key]], width=12)
            for key, title in (
                ("chains_failed", "Chains failed"),
                ("batches_failed", "Batches failed"),
            )
            if key in m
        ]
        if workflows:
            board.add_widgets(*workflows)
        board.add_widgets(cw.AlarmStatusWidget(alarms=list(self.alarms.values()), width=24))
        return board


_KEYS = {
    "Api5xxRate": "5xx_rate",
    "ApiLatencyP99": "latency_p99",
    "FallbackRate": "fallback_rate",
    "BreakersOpened": "breakers_opened",
    "DebateFailures": "debates_failed",
    "SyncErrors": "sync_errors",
    "SyncDeadLetters": "sync_dead_letters",
    "ChainFailures": "chains_failed",
    "BatchFailures": "batches_failed",
}


def _failed(machine: sfn.IStateMachine, kind: str) -> cw.MathExpression:
    """Executions that failed, timed out or were aborted, per five minutes."""
    return cw.MathExpression(
        expression="failed + timedout + aborted",
        using_metrics={
            "failed": machine.metric_failed(period=FIVE_MINUTES),
            "timedout": machine.metric_timed_out(period=FIVE_MINUTES),
            "aborted": machine.metric_aborted(period=FIVE_MINUTES),
        },
        label=f"{kind} executions failed",
        period=FIVE_MINUTES,
    )
