"""Exactly the DynamoDB actions each access pattern of the application issues (see
``orchestra.storage.dynamodb``, ``storage.governance``, ``storage.cache``, ...): the stacks
grant these tuples, never a table's read or write "all"."""

from __future__ import annotations

#: the catalog: one Scan per refresh, GetItem for one model
CATALOG_READ = ("dynamodb:Scan", "dynamodb:GetItem")
#: the sync: one Scan for the current catalog, one UpdateItem per model it refreshes
#: (PutItem: ``CatalogBackend.upsert`` of a model with no fields)
CATALOG_SYNC = ("dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:PutItem")
BREAKER_RW = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
METRICS_RW = ("dynamodb:UpdateItem", "dynamodb:Query")
BREAKER_READ = ("dynamodb:BatchGetItem",)
#: one conditional or plain PutItem per fact, one Query per debate (``debate.store``)
DEBATES_RW = ("dynamodb:PutItem", "dynamodb:Query")
#: stored Responses answers: one PutItem per answer, one consistent GetItem per
#: ``previous_response_id`` or GET (``storage.dynamodb``)
RESPONSES_RW = ("dynamodb:PutItem", "dynamodb:GetItem")
#: the ledger: one conditional UpdateItem per hold and per settle, GetItem for usage; key
#: and team policies: GetItem, cached per instance (``storage.governance``)
GOVERNANCE_LEDGER = ("dynamodb:GetItem", "dynamodb:UpdateItem")
#: a debate's creator admitted when it starts: policies read, no model called here
GOVERNANCE_READ = ("dynamodb:GetItem",)
#: the admin API: policies read, written, listed (Query by team, Scan) and deleted
GOVERNANCE_ADMIN = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
#: spend reports: one Query per day of spend rows (``storage.spend``)
SPEND_READ = ("dynamodb:Query",)
#: answers from cache: one GetItem per lookup, one PutItem per stored answer
#: (``storage.cache``); no Scan, no Query: an entry is only ever read by its key
CACHE_RW = ("dynamodb:GetItem", "dynamodb:PutItem")
