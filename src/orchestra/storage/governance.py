"""The governance table in DynamoDB: key and team policies, and the budget/rate ledger.

One table, two kinds of item per scope (pk ``key#<id>`` or ``team#<id>``): sk ``policy``
holds the policy as JSON (``doc``; Decimals stay exact), sk ``ledger`` holds the counters
and live holds the ledger reserves against (``governance/ledger.py``). Like
``storage/dynamodb.py``: the client is injected or made lazily, boto3 calls run in a
thread, AWS failures become :class:`StorageError`, and ``calls`` counts round trips.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from orchestra.governance.records import KeyPolicy, TeamPolicy
from orchestra.storage.dynamodb import _CONDITION_FAILED, _map_error, _Table, from_item
from orchestra.storage.tables import GOVERNANCE_TABLE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from orchestra.governance.ledger_backend import LedgerUpdate

POLICY_SK = "policy"
LEDGER_SK = "ledger"
_PK = GOVERNANCE_TABLE.partition_key
_SK = GOVERNANCE_TABLE.sort_key or "sk"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {_PK: {"S": pk}, _SK: {"S": sk}}


class DynamoDBPolicyStore(_Table):
    """``PolicyStore`` over the governance table's ``policy`` items."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)

    async def _get(self, pk: str) -> str | None:
        response = await self._call(
            "get_item", TableName=self.table_name, Key=_key(pk, POLICY_SK), ConsistentRead=True
        )
        item = response.get("Item")
        return item["doc"]["S"] if item else None

    async def _put(self, pk: str, kind: str, doc: str, team: str | None) -> None:
        item = _key(pk, POLICY_SK) | {"kind": {"S": kind}, "doc": {"S": doc}}
        if team is not None:
            item["team"] = {"S": team}
        await self._call("put_item", TableName=self.table_name, Item=item)

    async def _list(self, kind: str, team: str | None = None) -> list[str]:
        """Every policy document of one kind (a Scan: admin reads, never the hot path)."""
        condition = "#sk = :sk AND #kind = :kind"
        values = {":sk": {"S": POLICY_SK}, ":kind": {"S": kind}}
        names = {"#sk": _SK, "#kind": "kind"}
        if team is not None:
            condition += " AND #team = :team"
            values[":team"] = {"S": team}
            names["#team"] = "team"
        items = await self._pages(
            "scan",
            FilterExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return [item["doc"] for item in sorted(items, key=lambda i: str(i[_PK]))]

    async def get_key(self, key_id: str) -> KeyPolicy | None:
        doc = await self._get(f"key#{key_id}")
        return KeyPolicy.model_validate_json(doc) if doc is not None else None

    async def put_key(self, policy: KeyPolicy) -> None:
        await self._put(f"key#{policy.key_id}", "key", policy.model_dump_json(), policy.team)

    async def delete_key(self, key_id: str) -> bool:
        response = await self._call(
            "delete_item",
            TableName=self.table_name,
            Key=_key(f"key#{key_id}", POLICY_SK),
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))

    async def list_keys(self, team: str | None = None) -> list[KeyPolicy]:
        return [KeyPolicy.model_validate_json(doc) for doc in await self._list("key", team)]

    async def get_team(self, team_id: str) -> TeamPolicy | None:
        doc = await self._get(f"team#{team_id}")
        return TeamPolicy.model_validate_json(doc) if doc is not None else None

    async def put_team(self, policy: TeamPolicy) -> None:
        await self._put(f"team#{policy.team_id}", "team", policy.model_dump_json(), None)

    async def list_teams(self) -> list[TeamPolicy]:
        return [TeamPolicy.model_validate_json(doc) for doc in await self._list("team")]


class DynamoDBLedgerBackend(_Table):
    """``LedgerBackend``: each :class:`LedgerUpdate` is one conditional UpdateItem on the
    scope's ``ledger`` item (DynamoDB applies it atomically). The new item comes back
    (``ALL_NEW``) for the rate headers, and on a refusal the item as it was
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``) to name the limit and find expired
    holds, both without another round trip."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)

    async def update(self, pk: str, change: LedgerUpdate) -> tuple[bool, dict[str, Any]]:
        kwargs = update_request(change)
        self.calls += 1
        try:
            response = await asyncio.to_thread(
                self.client.update_item,
                TableName=self.table_name,
                Key=_key(pk, LEDGER_SK),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **kwargs,
            )
        except Exception as exc:
            old = _refused_item(exc)
            if old is not None:
                return False, _decode_item(old)
            mapped = _map_error(exc, "UpdateItem", self.table_name)
            raise mapped from exc
        return True, _decode_item(response.get("Attributes", {}))

    async def read(self, pk: str) -> dict[str, Any]:
        response = await self._call(
            "get_item", TableName=self.table_name, Key=_key(pk, LEDGER_SK), ConsistentRead=True
        )
        return from_item(response.get("Item", {}))


def _refused_item(exc: Exception) -> dict[str, Any] | None:
    """The item as it was when ``exc`` is a failed condition (``{}``: no item), else None."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
        return None
    response: dict[str, Any] = dict(exc.response)
    item: dict[str, Any] = dict(response.get("Item") or {})
    for name in (_PK, _SK):
        item.pop(name, None)
    return item


def update_request(change: LedgerUpdate) -> dict[str, Any]:
    """The UpdateItem arguments for ``change``: ADD counters, SET the hold and the TTL,
    REMOVE a settled hold and stale counters, under the ceilings' conditions."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}

    def name(attr: str) -> str:
        placeholder = names.get(attr)
        if placeholder is None:
            placeholder = names[attr] = f"#a{len(names)}"
        return placeholder

    def value(raw: Any) -> str:
        placeholder = f":v{len(values)}"
        values[placeholder] = _encode(raw)
        return placeholder

    clauses = []
    if change.add:
        clauses.append("ADD " + ", ".join(f"{name(a)} {value(n)}" for a, n in change.add.items()))
    sets = []
    if change.set_hold is not None:
        sets.append(f"{name(change.set_hold[0])} = {value(change.set_hold[1])}")
    if change.expires_at is not None:
        sets.append(f"{name('expires_at')} = {value(change.expires_at)}")
    if sets:
        clauses.append("SET " + ", ".join(sets))
    removes = sorted(change.remove)
    if change.remove_hold is not None:
        removes.insert(0, change.remove_hold)
    if removes:
        clauses.append("REMOVE " + ", ".join(name(a) for a in removes))
    conditions = [
        f"(attribute_not_exists({name(c.attr)}) OR {name(c.attr)} <= {value(c.bound)})"
        for c in change.ceilings
    ]
    if change.remove_hold is not None:
        conditions.append(f"attribute_exists({name(change.remove_hold)})")
    if not clauses:
        raise ValueError("an empty ledger update")
    request: dict[str, Any] = {
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": {placeholder: attr for attr, placeholder in names.items()},
    }
    if values:
        request["ExpressionAttributeValues"] = values
    if conditions:
        request["ConditionExpression"] = " AND ".join(conditions)
    return request


def _encode(value: int | str | dict[str, Any]) -> dict[str, Any]:
    """A counter, a window name or a hold record as an AttributeValue (the ledger writes
    nothing else; spelled out because boto3's serializer costs several times more)."""
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    return {"M": {name: _encode(item) for name, item in value.items()}}


def _decode(value: dict[str, Any]) -> Any:
    if "N" in value:
        return int(value["N"])
    if "S" in value:
        return value["S"]
    if "M" in value:
        return {name: _decode(item) for name, item in value["M"].items()}
    return from_item({"v": value})["v"]


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    """A ledger item as plain values: counters and hold fields are integers (nanos, never
    fractions), names strings."""
    return {name: _decode(value) for name, value in item.items()}
