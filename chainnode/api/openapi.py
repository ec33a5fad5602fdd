"""The OpenAPI 3.1 document, generated from the same pydantic models the handlers validate with."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from chainnode.api import models as m

REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _json_content(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _html(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    }


MAX_HEIGHT = 10**19 - 1  # at most 19 digits (the stream's own bound)


# long: the route table of the OpenAPI document, one entry per route
@functools.cache
def openapi_document() -> dict[str, Any]:
    comps: dict[str, Any] = {}
    err = _schema(m.ErrorResponse, comps)
    tx_in = _schema(m.TransactionIn, comps)

    def responses_only(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": "error", "content": _json_content(err)} for c in codes}

    def responses(ok: type[BaseModel], *codes: int, ok_code: int = 200) -> dict[str, Any]:
        out: dict[str, Any] = {
            str(ok_code): {"description": "OK", "content": _json_content(_schema(ok, comps))}
        }
        out.update(responses_only(*codes))
        return out

    hash_param = _path_param("hash", "transaction hash, 64 hex digits")
    paths: dict[str, Any] = {
        "/v1/transactions": {
            "post": {
                "summary": "Submit one signed transaction or a batch",
                "description": (
                    "JSON: one transaction object or an array of them. msgpack "
                    "(Content-Type: application/msgpack): one transaction in its canonical "
                    "encoding, or an array of encodings (each a bin). A batch is all or "
                    "nothing: one rejected transaction (named by field [i]) rejects the batch. "
                    "Returns the hashes at once; with ?wait=S waits up to S seconds for the "
                    "receipts. 503 BUSY (with Retry-After): more transactions wait than the "
                    "node commits within its admission budget; nothing of the request was read."
                ),
                "parameters": [
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "number", "minimum": 0, "maximum": 60},
                        "description": "seconds to wait for the receipts",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [tx_in, {"type": "array", "items": tx_in}]}
                        },
                        "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": responses(m.SubmitResponse, 400, 403, 409, 413, 415, 503),
            }
        },
        "/v1/transactions/{hash}": {
            "get": {
                "summary": "A committed transaction and its position",
                "parameters": [hash_param],
                "responses": responses(m.TxResponse, 400, 404, 410),
            }
        },
        "/v1/receipts/{hash}": {
            "get": {
                "summary": "The receipt of a committed transaction",
                "parameters": [hash_param],
                "responses": responses(m.ReceiptResponse, 400, 404, 410),
            }
        },
        "/v1/blocks/{id}": {
            "get": {
                "summary": "A block by height, hash or 'latest', with its commit certificate",
                "parameters": [
                    _path_param("id", "a height, a block hash or 'latest'"),
                    {
                        "name": "txs",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean", "default": True},
                        "description": "include the full transactions (false: hashes only)",
                    },
                ],
                "responses": responses(m.BlockResponse, 400, 404, 410),
            }
        },
        "/v1/status": {
            "get": {
                "summary": "Chain id, height, view, primary, peers, mempool size",
                "responses": responses(m.StatusResponse),
            }
        },
        "/v1/validators": {
            "get": {
                "summary": "The validator set in force for the next block",
                "responses": responses(m.ValidatorsResponse),
            }
        },
        "/v1/state/{contract}/{key}": {
            "get": {
                "summary": "One stored value of a contract",
                "parameters": [
                    _path_param("contract", "contract name or address"),
                    _path_param("key", "storage key: UTF-8 text, or 0x-prefixed hex bytes"),
                ],
                "responses": responses(m.StateResponse, 400, 404),
            }
        },
        "/v1/call": {
            "post": {
                "summary": "Read-only call of a @view contract method",
                "requestBody": {
                    "required": True,
                    "content": _json_content(_schema(m.CallRequest, comps)),
                },
                "description": (
                    "Runs on a worker thread with the node's call_gas_limit. 429 "
                    "RATE_LIMITED: this client address sent more than its share (see "
                    "Retry-After); 503 BUSY: every view worker and queue slot is taken."
                ),
                "responses": responses(m.CallResponse, 400, 404, 429, 503),
            }
        },
        "/v1/contracts": {
            "get": {
                "summary": "The contracts on chain: name, address, kind (paged)",
                "parameters": [
                    _query_param(
                        "after",
                        {"type": "string", "pattern": m.HEX_ADDRESS},
                        "continue after this address (the previous answer's next)",
                    ),
                    _query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": m.CONTRACTS_PAGE},
                        "deployed contracts in this answer at most",
                    ),
                ],
                "responses": responses(m.ContractsResponse, 400),
            }
        },
        "/v1/contracts/{contract}": {
            "get": {
                "summary": "A contract's methods: parameters with types, @view or not, docs",
                "parameters": [_path_param("contract", "contract name or address (0x optional)")],
                "responses": responses(m.ContractResponse, 400, 404),
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Server-Sent Events: committed blocks and contract events",
                "description": (
                    "Each committed block gives its matching `contract_event` messages, then one "
                    "`block` message whose SSE id is its height. `from_height` (or the "
                    "Last-Event-ID header, resuming after that height) replays committed blocks "
                    "first, then goes live without a gap or a repeat. A consumer that falls too "
                    "far behind is dropped (reconnect with Last-Event-ID)."
                ),
                "parameters": [
                    _query_param("contract", {"type": "string"}, "contract name or address"),
                    _query_param(
                        "event", {"type": "string", "minLength": 1, "maxLength": 256}, "event name"
                    ),
                    _query_param(
                        "from_height",
                        {"type": "integer", "minimum": 0, "maximum": MAX_HEIGHT},
                        "replay committed blocks from this height",
                    ),
                    _query_param(
                        "blocks",
                        {"type": "boolean", "default": True},
                        "include the block messages (false: their ids only)",
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                        "description": "resume after this height (the last id seen)",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the stream (text/event-stream; never ends by itself)",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **responses_only(400, 410, 503),
                },
            }
        },
        "/v1/proofs/{hash}": {
            "get": {
                "summary": "Proof bundle of a committed transaction, checkable offline",
                "parameters": [hash_param],
                "responses": responses(m.ProofBundle, 400, 404, 410, 500),
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of this node (text exposition format)",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document (OpenAPI 3.1)",
                "responses": {
                    "200": {"description": "OK", "content": _json_content({"type": "object"})}
                },
            }
        },
        "/docs": {
            "get": {
                "summary": "Browsable documentation of this API, served by the node itself",
                "responses": _html("a page that renders /openapi.json"),
            }
        },
        "/": {
            "get": {
                "summary": "The web console (blocks, transactions, contracts, verify a record)",
                "responses": _html("the console's page"),
            }
        },
        "/console/{name}": {
            "get": {
                "summary": "A script or style of the web console",
                "parameters": [
                    _path_param("name", "a file of the console (app.js, verify.js, style.css)")
                ],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {
                            "text/javascript": {"schema": {"type": "string"}},
                            "text/css": {"schema": {"type": "string"}},
                        },
                    },
                    **responses_only(404),
                },
            }
        },
        "/verify.html": {
            "get": {
                "summary": "The offline proof verifier: one self-contained page",
                "responses": _html("the verifier (works from disk once saved)"),
            }
        },
        "/healthz": {
            "get": {"summary": "The process is alive", "responses": responses(m.HealthResponse)}
        },
        "/readyz": {
            "get": {
                "summary": "The node is in sync and takes transactions",
                "responses": {
                    **responses(m.HealthResponse),
                    "503": {
                        "description": "not ready",
                        "content": _json_content(_schema(m.HealthResponse, comps)),
                    },
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chainnode HTTP API",
            "version": "1",
            "description": (
                "A permissioned consortium chain node. Errors always have the shape "
                '{"error": {"code", "message", "field"}}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": comps},
    }
