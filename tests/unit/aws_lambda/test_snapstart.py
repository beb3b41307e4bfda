"""SnapStart: warm before the snapshot with no client or credential; renew after restore."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestra.aws_lambda import snapstart
from orchestra.aws_lambda.app import LambdaApp


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Callable[[], Any]]]]:
    """A stand-in for the Lambda runtime's ``snapshot_restore_py`` module."""
    hooks: dict[str, list[Callable[[], Any]]] = {"before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = hooks["before"].append  # type: ignore[attr-defined]
    module.register_after_restore = hooks["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    yield hooks


def test_nothing_happens_on_an_ordinary_cold_start(runtime_hooks: dict[str, list[Any]]) -> None:
    app = LambdaApp()
    assert snapstart.install(app, "on-demand") is False
    assert snapstart.install(app, None) is False
    assert runtime_hooks == {"before": [], "after": []}


def test_snapstart_init_prewarms_and_registers_both_hooks(
    runtime_hooks: dict[str, list[Any]],
) -> None:
    # Given a SnapStart init
    app = LambdaApp()
    # When the handler module installs the hooks
    assert snapstart.install(app, "snap-start") is True
    # Then the app's modules are imported but nothing with a connection was built
    assert "orchestra.api.app" in sys.modules and "fastapi" in sys.modules
    assert app._adapter is None and app._services is None
    assert len(runtime_hooks["before"]) == 1 and len(runtime_hooks["after"]) == 1


def test_without_the_runtime_module_install_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises
    assert snapstart.install(LambdaApp(), "snap-start") is False


class _Services:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def test_after_restore_drops_clients_and_reseeds_random() -> None:
    # Given an environment that somehow built its app (clients, credentials) before the snapshot
    app = LambdaApp()
    app._use_own_loop()
    services = _Services()
    app._services, app._adapter = services, lambda event, context: {}
    random.seed(1234)
    snapshot_value = random.random()
    random.seed(1234)
    # When it is restored
    app.after_restore()
    # Then nothing built survives, and random no longer replays the snapshot's sequence
    assert services.closed and app._adapter is None and app._services is None
    assert random.random() != snapshot_value


def test_before_snapshot_discards_a_built_app() -> None:
    app = LambdaApp()
    app._use_own_loop()
    services = _Services()
    app._services, app._adapter = services, lambda event, context: {}
    app.before_snapshot()
    assert services.closed and app._adapter is None


def test_the_app_is_built_on_the_first_invocation_after_restore(
    monkeypatch: pytest.MonkeyPatch, runtime_hooks: dict[str, list[Any]]
) -> None:
    monkeypatch.setenv("ORCHESTRA_MODE", "local")
    app = LambdaApp()
    snapstart.install(app, "snap-start")
    runtime_hooks["before"][0]()
    runtime_hooks["after"][0]()
    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "stage": "dev"},
        "body": None,
        "isBase64Encoded": False,
    }
    try:
        response = app(event, None)
    finally:
        app.close()
    assert response["statusCode"] == 200


def test_the_snapshot_holds_aws_models_but_no_credentials(
    monkeypatch: pytest.MonkeyPatch, runtime_hooks: dict[str, list[Any]]
) -> None:
    import boto3

    # Given credentials in the environment (as a function role's are)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # When the SnapStart init prewarms
    assert snapstart.install(LambdaApp(), "snap-start")
    # Then DynamoDB's model is loaded, but no credential was resolved into the snapshot
    session = boto3.DEFAULT_SESSION
    assert session is not None
    assert session._session._credentials is None
    loader = session._session.get_component("data_loader")
    assert any("dynamodb" in str(key) for key in loader._cache)
