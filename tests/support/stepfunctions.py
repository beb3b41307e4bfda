"""State machines executed by moto, their Lambda tasks run in-process by the real handler.

The debate, chain and batch machine tests (and the functions' handler tests) share this
harness: a providers file pointing at the fake upstream on 127.0.0.1, a chat completion
reply, the simulator-backed AWS set-up, and :func:`machine_on_steps`, which creates the
steps function and the state machine and dispatches every ``lambda:invoke`` of moto's
Step Functions interpreter to ``functions/<steps>/handler.py``, as Lambda would (an
unhandled error reported with ``x-amz-function-error``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestra.config import Settings

from support.lambda_api import Context, deployed, import_handler
from support.upstream import Reply

ROLE = "arn:aws:iam::123456789012:role/steps"
#: moto executes Standard machines and runs Lambda in-process (no Docker)
MOTO = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def completion(text: str, model: str, prompt_tokens: int, completion_tokens: int) -> Reply:
    """An OpenAI chat completion answering ``text`` as ``model``."""
    return Reply.json(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def providers_file(
    tmp_path: Path,
    base_url: str,
    names: list[str],
    extra: Sequence[dict[str, Any]] = (),
) -> Path:
    """One OpenAI-compatible provider ``up`` at ``base_url`` (key in ``UP_KEY``) serving
    ``names`` (and the ``extra`` model entries), written as ``providers.yaml``."""
    models = [
        {"id": name, "context_window": 32000, "input_price": 1e-6, "output_price": 2e-6,
         "quality": 1300, "capabilities": []}
        for name in names
    ]  # fmt: skip
    entry = {"name": "up", "type": "openai", "base_url": base_url + "/v1",
             "api_key_env": "UP_KEY", "models": [*models, *extra]}  # fmt: skip
    path = tmp_path / "providers.yaml"
    path.write_text(json.dumps({"providers": [entry]}))
    return path


@contextlib.contextmanager
def simulated_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tables: Mapping[str, str]
) -> Iterator[Any]:
    """AWS mode under moto with no providers: the labelled simulator answers (the handler
    tests check the functions' wiring, not the models)."""
    config = tmp_path / "empty.yaml"
    config.write_text("providers: []\n")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR", "true")
    monkeypatch.setenv("ORCHESTRA_SIMULATOR_LATENCY_SCALE", "0")
    with deployed(monkeypatch, config, {}, tables=tables) as dynamodb:
        yield dynamodb


@dataclass
class Machine:
    """The created state machine, its steps handler and every event it was invoked with."""

    arn: str
    steps: Any
    events: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def machine_on_steps(
    monkeypatch: pytest.MonkeyPatch,
    steps_function: str,
    name: str,
    definition: Callable[[str], str],
) -> Iterator[Machine]:
    """Inside :func:`~support.lambda_api.deployed`: the ``steps_function`` handler freshly
    imported, a Lambda function ``<name>-steps`` whose invocations run it in-process, and
    a Standard machine ``name`` of ``definition(<function arn>)``."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    steps = import_handler(steps_function, f"{steps_function}_machine")
    machine = Machine(arn="", steps=steps)
    # moto runs Map iterations on threads; one execution environment serves one event
    # at a time (Lambda scales out with more environments), so this one is serialised
    environment = threading.Lock()

    def invoke(
        self: Any, fn: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        event = json.loads(body)
        machine.events.append(event)
        try:
            with environment:
                result = steps.handler(event, Context(steps_function))
            return json.dumps(result).encode()
        except Exception as exc:  # as Lambda reports an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    boto3.client("iam").create_role(RoleName="steps", AssumeRolePolicyDocument="{}")
    function = boto3.client("lambda").create_function(
        FunctionName=f"{name}-steps", Runtime="python3.13", Role=ROLE,
        Handler="handler.handler", Code={"ZipFile": b"unused"},
    )["FunctionArn"]  # fmt: skip
    machine.arn = boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition(function), roleArn=ROLE, type="STANDARD"
    )["stateMachineArn"]
    try:
        yield machine
    finally:
        steps.function.close()


def local_settings(config: Path, **overrides: Any) -> Settings:
    """The same providers run locally (the local runners), whatever a cloud fixture put in
    the environment: no state machine, workflow table, files bucket or keys."""
    local: dict[str, Any] = {
        "mode": "local",
        "config": str(config),
        "allow_private_base_urls": True,
        "debate_state_machine_arn": None,
        "chain_state_machine_arn": None,
        "batch_state_machine_arn": None,
        "debates_table": None,
        "workflows_table": None,
        "files_bucket": None,
        "api_keys": None,
        "provider_keys_secret": None,
    }
    return Settings(**(local | overrides))
