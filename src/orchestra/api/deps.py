"""What the routes need, hung on ``app.state`` by :func:`orchestra.api.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from orchestra.api.auth import ApiKeyAuth
from orchestra.config import Settings
from orchestra.gateway import Gateway
from orchestra.redaction import Redactor


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    auth: ApiKeyAuth
    redactor: Redactor


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
