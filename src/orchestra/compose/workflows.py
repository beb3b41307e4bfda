"""The workflows API's composition root: chains, and OpenAI Files and Batches.

Deployed, chain runs and batches start executions of their state machines; locally (no
state machine configured) each runs with its local runner, which needs the steps, and so
the generate use case they call: built only then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from orchestra.compose.batches import batch_service, batch_steps, file_service
from orchestra.compose.chains import chain_service, chain_steps
from orchestra.compose.core import build_core
from orchestra.compose.roots import Options, embeddings, gateway, served
from orchestra.compose.services import Services
from orchestra.config import Settings


def build_workflows_api(
    settings: Settings, environ: Mapping[str, str], **options: Unpack[Options]
) -> Services:
    core = build_core(settings, environ, **options)
    files = file_service(core)
    chains = chain_service(core, lambda: chain_steps(core, gateway(core)))
    batches = batch_service(core, files, lambda: batch_steps(core, gateway(core), embeddings(core)))
    return served(core, chains=chains, files=files, batches=batches)
