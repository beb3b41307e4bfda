"""The chain document: pydantic models per step kind, and the loader.

``load_chain`` parses JSON or YAML, validates the models (``extra="forbid"``) and then runs
the static checks of :mod:`orchestra.chain.checks` (unique ids, references to declared
inputs and earlier steps only, threads, ...). Every error is an :class:`InvalidRequest`
whose ``param`` is the path of the field and whose message starts with it, e.g.
``steps[2].branches[0].prompt: unknown reference 'steps.draft'``, so a client fixes the
right line at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestra.errors import InvalidRequest

STEP_ID = r"^[a-z][a-z0-9_]{0,63}$"
#: a chain's name (also the ``{name}`` of ``PUT /v1/chains/{name}``)
CHAIN_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: the largest document accepted (bytes of JSON or YAML)
MAX_DOCUMENT_BYTES = 256_000
#: how deep a document may nest (steps nest at most chain_max_depth; schemas a few more)
MAX_NESTING = 64
DEFAULT_MAX_TOKENS = 512

StepId = Annotated[str, Field(pattern=STEP_ID)]
Template = Annotated[str, Field(max_length=100_000)]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Step(_Model):
    id: StepId


class _Call(_Step):
    """What a step that makes one model call has: the model and its sampling."""

    model: ModelName = "auto"
    system: Template | None = None
    prompt: Template
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=2)


class GenerateStep(_Call):
    kind: Literal["generate"]
    #: a JSON schema: the call asks for ``response_format`` json_schema, output = parsed JSON
    output_schema: dict[str, Any] | None = None


class ConversationStep(_Call):
    kind: Literal["conversation"]
    #: the messages of every conversation step of this thread are carried to the next one
    thread: StepId


class Combine(_Model):
    """How a parallel step's branch outputs become one: a fusion strategy or a template."""

    strategy: Literal["vote", "rank", "merge", "first", "judge"] | None = None
    judge: ModelName | None = None
    template: Template | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Combine:
        if (self.strategy is None) == (self.template is None):
            raise ValueError("give exactly one of 'strategy' or 'template'")
        if self.judge is not None and self.strategy != "judge":
            raise ValueError("'judge' goes with strategy 'judge' only")
        return self


class Classify(_Model):
    """A classifier prompt: the model picks one of ``labels``; the branch is ``then`` when
    the label is ``equals``."""

    prompt: Template
    labels: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=2, max_length=20
    )
    model: ModelName = "auto"
    equals: str
    max_tokens: int = Field(default=16, ge=1, le=1000)

    @model_validator(mode="after")
    def _known_label(self) -> Classify:
        if len({label.lower() for label in self.labels}) != len(self.labels):
            raise ValueError("labels must be distinct (case-insensitive)")
        if self.equals not in self.labels:
            raise ValueError(f"equals '{self.equals}' is not one of the labels")
        return self


class When(_Model):
    """One test: ``equals``, ``contains``, ``regex``, ``json_path`` (with an optional
    ``equals``) or ``classify``."""

    equals: Any = None
    contains: str | None = Field(default=None, min_length=1, max_length=10_000)
    regex: str | None = Field(default=None, min_length=1)
    json_path: str | None = Field(default=None, min_length=1, max_length=500)
    classify: Classify | None = None

    @model_validator(mode="after")
    def _one_test(self) -> When:
        tests: list[str] = [
            n for n in ("contains", "regex", "json_path", "classify") if n in self.model_fields_set
        ]
        if "equals" in self.model_fields_set and "json_path" not in tests:
            tests.append("equals")
        if len(tests) != 1:
            raise ValueError(
                "give exactly one of equals, contains, regex, json_path (with an optional"
                f" equals) or classify (got {', '.join(tests) or 'none'})"
            )
        return self

    @property
    def test(self) -> str:
        for name in ("contains", "regex", "json_path", "classify"):
            if name in self.model_fields_set:
                return name
        return "equals"


class ConditionStep(_Step):
    kind: Literal["condition"]
    value: Template
    when: When
    then: list[Step] = Field(default_factory=list, max_length=100)
    else_: list[Step] = Field(default_factory=list, alias="else", max_length=100)

    @model_validator(mode="after")
    def _some_branch(self) -> ConditionStep:
        if not self.then and not self.else_:
            raise ValueError("a condition needs steps in 'then' or 'else'")
        return self


class MapStep(_Step):
    kind: Literal["map"]
    #: a reference (``steps.outline.output``) to a list, or to text (one item per line)
    over: Annotated[str, Field(min_length=1, max_length=500)]
    as_: StepId = Field(default="item", alias="as")
    concurrency: int = Field(default=4, ge=1)
    max_items: int = Field(default=20, ge=1)
    step: Step

    @model_validator(mode="before")
    @classmethod
    def _inner_id(cls, data: Any) -> Any:
        """The inner step may omit its id: it is then ``<map id>_item``."""
        if isinstance(data, dict) and isinstance(data.get("step"), dict):
            inner = data["step"]
            if "id" not in inner and isinstance(data.get("id"), str):
                data = {**data, "step": {**inner, "id": f"{data['id']}_item"}}
        return data


class ParallelStep(_Step):
    kind: Literal["parallel"]
    branches: list[Step] = Field(min_length=1, max_length=1000)
    combine: Combine = Combine(strategy="first")


Step = Annotated[
    GenerateStep | ParallelStep | ConditionStep | MapStep | ConversationStep,
    Field(discriminator="kind"),
]
AnyStep = GenerateStep | ParallelStep | ConditionStep | MapStep | ConversationStep


class InputSpec(_Model):
    type: Literal["string", "number", "boolean", "array", "object"] = "string"
    default: Any = None
    description: str | None = Field(default=None, max_length=2000)

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


class ChainLimits(_Model):
    """The chain's own limits: each is checked against the gateway's, the lower wins."""

    max_cost_usd: float | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    max_depth: int | None = Field(default=None, ge=1)
    max_fanout: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class Located:
    """A step with where it sits: ``path`` (``steps[2].then[0]``), ``depth`` (1 at the top)
    and ``parent`` (the containing step's path, or ``None``)."""

    path: str
    step: AnyStep
    depth: int
    parent: str | None


class Chain(_Model):
    name: Annotated[str, Field(pattern=CHAIN_NAME)] | None = None
    description: str | None = Field(default=None, max_length=4000)
    inputs: dict[Annotated[str, Field(pattern=STEP_ID)], InputSpec] = Field(default_factory=dict)
    limits: ChainLimits = ChainLimits()
    steps: list[Step] = Field(min_length=1, max_length=1000)
    outputs: dict[Annotated[str, Field(pattern=STEP_ID)], Template] = Field(default_factory=dict)

    def walk(self) -> Iterator[Located]:
        """Every step, depth first, in document order, with its path."""
        yield from walk_steps(self.steps, "steps", 1, None)

    def find(self, path: str) -> AnyStep:
        """The step at ``path`` (as :meth:`walk` names it)."""
        for located in self.walk():
            if located.path == path:
                return located.step
        raise KeyError(path)

    def document(self) -> dict[str, Any]:
        """The validated document as JSON (aliases kept: ``else``, ``as``): what is stored."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def with_inputs(self, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` checked against the declared inputs, defaults filled in."""
        from orchestra.chain.checks import bind_inputs

        return bind_inputs(self, given)


def children(step: AnyStep, path: str) -> Iterator[tuple[str, AnyStep]]:
    """The steps directly inside ``step``, with their paths."""
    if isinstance(step, ParallelStep):
        for i, branch in enumerate(step.branches):
            yield f"{path}.branches[{i}]", branch
    elif isinstance(step, ConditionStep):
        for i, inner in enumerate(step.then):
            yield f"{path}.then[{i}]", inner
        for i, inner in enumerate(step.else_):
            yield f"{path}.else[{i}]", inner
    elif isinstance(step, MapStep):
        yield f"{path}.step", step.step


def walk_steps(steps: list[Any], prefix: str, depth: int, parent: str | None) -> Iterator[Located]:
    for i, step in enumerate(steps):
        path = f"{prefix}[{i}]"
        yield from _walk_one(step, path, depth, parent)


def _walk_one(step: AnyStep, path: str, depth: int, parent: str | None) -> Iterator[Located]:
    yield Located(path, step, depth, parent)
    for child_path, child in children(step, path):
        yield from _walk_one(child, child_path, depth + 1, path)


def load_chain(text: str | bytes, content_type: str | None = None) -> Chain:
    """A chain from JSON or YAML text (YAML unless the content type says JSON; JSON is
    YAML too, so both parse the same), validated and statically checked."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise InvalidRequest(
            f"a chain document is limited to {MAX_DOCUMENT_BYTES} bytes", param="chain"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest("the chain document is not UTF-8", param="chain") from exc
    return parse_chain(_parse_text(text, content_type))


def _parse_text(text: str, content_type: str | None) -> Any:
    too_deep = f"the chain is nested more than {MAX_NESTING} levels deep"
    if content_type and "json" in content_type.lower():
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(
                f"the chain is not valid JSON: {exc.msg} at line {exc.lineno}", param="chain"
            ) from exc
        except RecursionError:
            raise InvalidRequest(too_deep, param="chain") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise InvalidRequest(too_deep, param="chain") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise InvalidRequest(f"the chain is not valid YAML{at}", param="chain") from exc


def parse_chain(data: Any, *, name: str | None = None) -> Chain:
    """A chain from parsed JSON (an inline ``{"chain": {...}}`` or a stored document);
    ``name`` (the PUT's path) must match the document's when both are given."""
    if not isinstance(data, dict):
        raise InvalidRequest("a chain document is an object with 'steps'", param="chain")
    _shallow(data)
    try:
        chain = Chain.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if name is not None:
        if chain.name is not None and chain.name != name:
            raise InvalidRequest(
                f"name: the document says '{chain.name}', the path says '{name}'", param="name"
            )
        chain = chain.model_copy(update={"name": name})
    from orchestra.chain.checks import check_chain

    check_chain(chain)
    return chain


def _shallow(data: dict[str, Any]) -> None:
    """Refuse a document nested deeper than any chain needs, naming where (before anything
    recursive, validation, digests, JSON dumps, meets it)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, at = stack.pop()
        if len(at) > MAX_NESTING:
            path = format_path(at[:8]) + "..."
            raise InvalidRequest(
                f"{path}: nested more than {MAX_NESTING} levels deep", param=format_path(at[:8])
            )
        if isinstance(value, dict):
            stack.extend((v, (*at, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*at, i)) for i, v in enumerate(value))


def _invalid(exc: ValidationError) -> InvalidRequest:
    """The first error, as ``path: message`` (the discriminator's tag dropped from it)."""
    error = exc.errors(include_url=False)[0]
    path = format_path(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        message = (
            "'kind' must be one of generate, parallel, condition, map, conversation"
            if error["type"] == "union_tag_invalid"
            else "a step needs a 'kind'"
        )
        path = f"{path}.kind" if path else "kind"
    return InvalidRequest(f"{path}: {message}" if path else message, param=path or "chain")


_KINDS = frozenset({"generate", "parallel", "condition", "map", "conversation"})


def format_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's location as the document's path: ``steps[2].branches[0].prompt``."""
    out = ""
    previous: Any = None
    for part in loc:
        tag = part in _KINDS and (isinstance(previous, int) or previous == "step")
        previous = part
        if isinstance(part, int):
            out += f"[{part}]"
        elif tag:  # the discriminated union's tag: not part of the document
            continue
        elif part == "else_":
            out += ".else"
        else:
            out += f".{part}" if out else str(part)
    return out
