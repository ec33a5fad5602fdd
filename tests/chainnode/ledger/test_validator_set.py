"""The one validator-change rule (chainnode.model.validator_set), shared by governance and the
proof verifier: an added validator replaces its key's entry and goes last, a removal drops it,
everyone else keeps their order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainnode.model.codes import MalformedError
from chainnode.model.genesis import ValidatorInfo
from chainnode.model.validator_set import (
    apply_validator_change,
    parse_change,
    removal_problem,
)
from chainnode.proofs import bundle


def key(i: int) -> bytes:
    return b"\x04" + i.to_bytes(64, "big")


def info(i: int, name: str = "") -> ValidatorInfo:
    return ValidatorInfo(key(i), name or f"n{i}", f"h{i}:1", f"h{i}:2")


changes = st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.sampled_from("abc")), max_size=30)


@given(changes)
def test_changes_keep_keys_unique_and_order_stable(steps: list[tuple[bool, int, str]]) -> None:
    vs = [info(0), info(1)]
    for add, i, name in steps:
        before = list(vs)
        if add:
            vs = apply_validator_change(vs, info(i, name))
            assert vs[-1] == info(i, name)
            others = [v for v in before if v.public_key != key(i)]
        else:
            vs = apply_validator_change(vs, key(i))
            assert key(i) not in [v.public_key for v in vs]
            others = [v for v in before if v.public_key != key(i)]
        assert [v for v in vs if v.public_key != key(i)] == others
        assert len({v.public_key for v in vs}) == len(vs)


def test_removal_problems() -> None:
    assert removal_problem([info(0), info(1)], key(1)) is None
    assert removal_problem([info(0), info(1)], key(2)) == "not a validator"
    assert removal_problem([info(0)], key(0)) == "cannot remove the last validator"


def test_parse_change_takes_exactly_the_governance_arguments() -> None:
    assert parse_change("add_validator", [key(3), "n3", "h:1", "h:2"]) == ValidatorInfo(
        key(3), "n3", "h:1", "h:2"
    )
    assert parse_change("remove_validator", [key(3)]) == key(3)
    for method, args in [
        ("add_validator", [key(3), "n3", "h:1"]),
        ("add_validator", [key(3), "n3", "h:1", 7]),
        ("remove_validator", [b"\x04" * 3]),
        ("remove_validator", [key(3), key(4)]),
        ("add_admin", [key(3)]),
    ]:
        with pytest.raises(MalformedError):
            parse_change(method, args)


def test_the_proof_verifier_and_governance_share_the_rule() -> None:
    """No second copy: both modules call the model's function."""
    from chainnode.ledger.system import governance

    assert bundle.apply_validator_change is apply_validator_change
    assert governance.apply_validator_change is apply_validator_change
