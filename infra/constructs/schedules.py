"""EventBridge Scheduler: one schedule per catalog source, retries and one dead-letter queue.

Scheduler invokes Lambda asynchronously: its own retry policy and DLQ cover *delivery*
(throttling, a missing function). A sync that runs and fails is retried by Lambda's
asynchronous invocation (twice, within the hour) and then sent by the function's
on-failure destination to the same queue, so every failed sync ends there either way.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from infra.config import StageConfig

#: source -> how often it is synced
SYNC_SCHEDULES: dict[str, Duration] = {
    "openrouter": Duration.hours(6),
    "lmarena": Duration.days(1),
    "huggingface": Duration.days(1),
}


class SyncSchedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        sync: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        #: events that still failed after the retries (kept 14 days for a look and a redrive)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            retention_period=Duration.days(14),
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
        )
        self.group = scheduler.ScheduleGroup(
            self, "Group", schedule_group_name=f"{config.prefix}-{config.stage}-sync"
        )
        self.schedules = {
            source: scheduler.Schedule(
                self,
                f"Sync{source.title()}",
                description=f"Orchestra catalog sync from {source}",
                schedule=scheduler.ScheduleExpression.rate(every),
                schedule_group=self.group,
                time_window=scheduler.TimeWindow.flexible(Duration.minutes(15)),
                target=targets.LambdaInvoke(
                    sync,
                    input=scheduler.ScheduleTargetInput.from_object({"source": source}),
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=3,
                    max_event_age=Duration.hours(1),
                ),
            )
            for source, every in SYNC_SCHEDULES.items()
        }
        #: a sync that ran and failed: Lambda's retries, then the same queue
        self.failures = lambda_.EventInvokeConfig(
            self,
            "FailedSyncs",
            function=sync,
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            on_failure=destinations.SqsDestination(self.dead_letters),
        )
