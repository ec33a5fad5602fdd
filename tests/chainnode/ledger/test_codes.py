"""Error codes: one home (chainnode.model.codes.Code), one style (UPPER_SNAKE), and the API's
document lists exactly them, so a client can match every code it may see."""

from __future__ import annotations

import re

from chainnode.api.openapi import openapi_document
from chainnode.model.codes import Code


def test_every_code_is_upper_snake_and_named_as_it_reads() -> None:
    for c in Code:
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", c.value), c
        assert c.name == c.value


def test_the_error_schema_enumerates_the_codes() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert sorted(schemas["Code"]["enum"]) == sorted(c.value for c in Code)
    assert schemas["ErrorDetail"]["properties"]["code"]["$ref"].endswith("/Code")
