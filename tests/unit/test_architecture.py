"""The layers of ``src/orchestra`` (docs/architecture.md): every import points down.

The test reads the import statements of every module (no code is run) and fails when a
package imports one that sits above it. A new top-level package must be given its layer
here, with its reason in docs/architecture.md.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "orchestra"

#: lower imports nothing higher; the same layer may import itself (no cycles: see below)
LAYERS: dict[str, int] = {
    # ground: settings, the error hierarchy, the prompt markers
    "config": 0,
    "errors": 0,
    "markers": 0,
    "caller": 0,
    # wire models, the catalog, token estimation, the transport, stores, observers
    "schemas": 1,
    "tokens": 1,
    "catalog": 1,
    "redaction": 1,
    # guardrails: pure checks and redaction over text (and the Bedrock client), below
    # the pipeline that applies them
    "guardrails": 1,
    "secrets": 1,
    "transport": 1,
    "storage": 1,
    # Amazon States Language pieces the state machines share (the Lambda task, render)
    "states": 1,
    # key and team policies, the budget/rate ledger, spend, key issuing, and the request
    # policies (admission, metering, guardrails seam): records, schemas, pricing below them,
    # providers only as annotations (storage/governance.py reads its records)
    "governance": 1,
    # answers from cache: keys, the LRU and its second level, stream replay, the semantic
    # index and the policy the generate use case consults (schemas below it)
    "cache": 1,
    "observability": 1,
    # the Prometheus and OpenTelemetry observers and their ASGI middleware (serve only)
    "telemetry": 1,
    # outbound adapters
    "providers": 2,
    # inbound wire formats (the mirror of providers)
    "formats": 2,
    # planning, then resilience and fusion
    "routing": 3,
    "resilience": 4,
    "fusion": 4,
    # what the use cases share; the local simulator (a provider that answers our prompts)
    "panel": 5,
    "simulator": 5,
    # the use cases: peers
    "generate": 6,
    "embed": 6,
    "multi": 6,
    "debate": 6,
    "sync": 6,
    # workflows: chains of model calls and OpenAI batches (each takes the model calls it
    # makes as a protocol, built from generate by the composition root)
    "chain": 6,
    "batch": 6,
    # HTTP, the composition roots, the edges
    "api": 7,
    # orchestra eval: a client of the gateway's HTTP API (no use case, api or composition
    # import: the CLI composes it); fusion's normaliser and the catalog below it
    "evaluation": 7,
    "compose": 8,
    "aws_lambda": 9,
    "cli": 9,
}
#: use cases are peers: none imports another
PEERS = {"generate", "embed", "multi", "debate", "sync", "chain", "batch"}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "orchestra":
                found |= {a.name for a in node.names}
            elif node.module.startswith("orchestra."):
                found.add(_top(node.module))
        elif isinstance(node, ast.Import):
            found |= {_top(a.name) for a in node.names if a.name.startswith("orchestra.")}
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


@functools.cache
def edges() -> dict[str, set[str]]:
    """Every package's imports of other packages (read once per run: each parametrised
    test below reads the same graph)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        source = _package_of(path)
        if source == "__init__":
            continue
        graph.setdefault(source, set()).update(_imports(path) - {source, ""})
    return graph


def test_every_package_has_a_layer() -> None:
    assert set(edges()) <= set(LAYERS), sorted(set(edges()) - set(LAYERS))


def upward(package: str, graph: dict[str, set[str]]) -> set[str]:
    """What ``package`` imports from above its layer (or from a peer use case)."""
    return {
        target
        for target in graph.get(package, set())
        if LAYERS.get(target, 99) > LAYERS[package] or (package in PEERS and target in PEERS)
    }


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_down(package: str) -> None:
    above = upward(package, edges())
    assert not above, f"{package} (layer {LAYERS[package]}) imports {sorted(above)}"


def test_the_check_sees_an_import_upward_and_between_peers() -> None:
    graph = {"providers": {"transport", "routing"}, "multi": {"panel", "debate"}}
    assert upward("providers", graph) == {"routing"}
    assert upward("multi", graph) == {"debate"}
    source = "if TYPE_CHECKING:\n    from orchestra.api import x\nfrom orchestra.errors import y\n"
    tree = ast.parse(source)
    imported = {n.module for n in _runtime_nodes(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"orchestra.errors"}
