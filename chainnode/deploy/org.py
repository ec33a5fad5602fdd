"""The consortium ceremony: each organisation makes its own keys, genesis comes from public
cards alone, and each organisation configures its own node.

1. ``init_org``: in the organisation's own directory, ``node.pem`` (the node's SM2 identity)
   and ``admin.pem`` (its governance key), mode 0600 and optionally sealed with a password,
   and ``member.json``, its public card: name, public keys, p2p and API endpoints.
2. ``assemble_genesis``: anyone (one organisation, or each one to compare) turns the cards
   into ``genesis.json``; its hash is what the organisations compare out of band.
3. ``configure_org``: ``config.toml`` for this organisation's node; a genesis that does not
   name this organisation's keys is refused unless the node is to follow as an observer.
4. ``admit_observer``: an existing organisation lets a joining one's node (by its card)
   connect to its node as an observer, so that it syncs before the vote that adds it.

No step reads another organisation's private key, and nothing but ``init_org`` writes one:
the only thing that travels between organisations is ``member.json`` and ``genesis.json``.
``network init`` (the local devnet) runs the same three steps in one directory tree.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from chainnode.client.sdk import Account
from chainnode.deploy.layout import ADMIN_KEY, CONFIG, MEMBER, NODE_KEY
from chainnode.deploy.tls import TlsPaths, make_org_tls
from chainnode.model.codes import LedgerError
from chainnode.model.genesis import (
    DEFAULT_PROPOSAL_TTL,
    ConsensusParams,
    Genesis,
    GovernanceParams,
    ValidatorInfo,
    make_genesis,
)
from chainnode.model.keys import KeyFileError, is_sealed, load_private_key, save_private_key
from chainnode.model.types import PUBKEY_LEN
from chainnode.node.config import NodeConfig, write_config
from crypto import sm2

CARD_KIND = "chainnode-member"
CARD_VERSION = 1
ORG_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_CARD_BYTES = 64 * 1024


class OrgError(Exception):
    """A ceremony step that cannot be done; the message says what to do."""


def _key(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise OrgError(f"{what}: expected a hex public key")
    try:
        key = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise OrgError(f"{what}: not hex") from None
    if len(key) != PUBKEY_LEN or key[0] != 4:
        raise OrgError(f"{what}: expected a 65-byte public key 04||x||y")
    return key


def _endpoint(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 256:
        raise OrgError(f"{what}: expected host:port")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise OrgError(f"{what}: expected host:port, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class MemberCard:
    """One organisation's public card (``member.json``): all another party needs to name it
    in a genesis or add it by vote, and nothing secret."""

    name: str
    suite: str
    node_public_key: bytes
    admin_public_keys: tuple[bytes, ...]
    p2p_addr: str
    api_addr: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not ORG_NAME_RE.fullmatch(self.name):
            raise OrgError("name: 1-64 chars of [A-Za-z0-9_.-], starting with a letter or digit")
        if len(set(self.admin_public_keys)) != len(self.admin_public_keys):
            raise OrgError(f"{self.name}: an admin key is listed twice")

    def validator(self) -> ValidatorInfo:
        """The genesis (or governance) entry of this organisation's node."""
        return ValidatorInfo(self.node_public_key, self.name, self.p2p_addr, self.api_addr)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": CARD_KIND,
            "version": CARD_VERSION,
            "name": self.name,
            "suite": self.suite,
            "node_public_key": self.node_public_key.hex(),
            "admin_public_keys": [a.hex() for a in self.admin_public_keys],
            "p2p": self.p2p_addr,
            "api": self.api_addr,
        }

    @classmethod
    def from_json(cls, obj: Any, source: str = "member card") -> MemberCard:
        if not isinstance(obj, dict) or obj.get("kind") != CARD_KIND:
            raise OrgError(f"{source}: not a member card (made by `chainnode org init`)")
        if obj.get("version") != CARD_VERSION:
            raise OrgError(f"{source}: unsupported card version {obj.get('version')!r}")
        admins = obj.get("admin_public_keys")
        if not isinstance(admins, list):
            raise OrgError(f"{source}: admin_public_keys: expected a list")
        suite = obj.get("suite")
        if suite not in ("sm", "ecdsa-p256"):
            raise OrgError(f"{source}: suite: sm or ecdsa-p256")
        return cls(
            name=obj.get("name"),  # type: ignore[arg-type]  # checked in __post_init__
            suite=suite,
            node_public_key=_key(obj.get("node_public_key"), f"{source}: node_public_key"),
            admin_public_keys=tuple(
                _key(a, f"{source}: admin_public_keys[{i}]") for i, a in enumerate(admins)
            ),
            p2p_addr=_endpoint(obj.get("p2p"), f"{source}: p2p"),
            api_addr=_endpoint(obj.get("api"), f"{source}: api"),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> MemberCard:
        try:
            if path.stat().st_size > MAX_CARD_BYTES:
                raise OrgError(f"{path}: larger than {MAX_CARD_BYTES} bytes")
            obj = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise OrgError(f"cannot read {path}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise OrgError(f"{path}: not JSON ({e})") from None
        return cls.from_json(obj, str(path))


# -- 1. org init ---------------------------------------------------------------------------------


def init_org(  # noqa: PLR0913  # the options of `org init`, one each
    out: Path,
    name: str,
    *,
    host: str = "127.0.0.1",
    api_port: int = 8700,
    p2p_port: int = 8800,
    suite: str = "sm",
    password: bytes | None = None,
    force: bool = False,
    admin_key: Path | None = None,
    with_admin: bool = True,
    tls: bool = False,
) -> MemberCard:
    """Generate this organisation's keys in ``out`` and write its card.

    ``admin_key`` puts the admin key elsewhere than ``out/admin.pem`` (the devnet shares one
    admin key at its root); ``with_admin=False`` makes a card without an admin (a devnet node
    other than the first). Key files are never overwritten without ``force``."""
    card_path = out / MEMBER
    if card_path.exists() and not force:
        raise OrgError(
            f"{card_path} already exists: this directory holds an organisation already "
            "(pass --force to replace its keys; its old keys are then lost)"
        )
    out.mkdir(parents=True, exist_ok=True)
    node = sm2.PrivateKey.generate()
    admins: list[bytes] = []
    try:
        save_private_key(out / NODE_KEY, "sm", node.to_bytes(), overwrite=force, password=password)
        if with_admin:
            admin = Account.generate(suite)
            admin.save(admin_key or out / ADMIN_KEY, overwrite=force, password=password)
            admins.append(admin.public_key)
    except KeyFileError as e:
        raise OrgError(str(e)) from None
    card = MemberCard(
        name=name,
        suite=suite,
        node_public_key=node.public_key().to_bytes(),
        admin_public_keys=tuple(admins),
        p2p_addr=f"{host}:{p2p_port}",
        api_addr=f"{host}:{api_port}",
    )
    if tls:
        make_org_tls(out, name, host)
    card.save(card_path)
    return card


# -- 2. genesis assemble -------------------------------------------------------------------------


def parse_threshold(text: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): the fraction of the admins whose votes apply a change."""
    num, sep, den = text.partition("/")
    if not sep or not num.strip().isdigit() or not den.strip().isdigit():
        raise OrgError(f"--admin-threshold: a fraction like 2/3, got {text!r}")
    n, d = int(num), int(den)
    if not 0 < n <= d <= 1000:
        raise OrgError(f"--admin-threshold {text}: between 1/1000 and 1/1")
    if 2 * n <= d:
        raise OrgError(
            f"--admin-threshold {text}: more than half of the admins must agree "
            "(else two disjoint groups could each pass opposite changes)"
        )
    return n, d


def assemble_genesis(
    cards: list[MemberCard],
    chain_id: str,
    *,
    permissions: str = "open",
    consensus: ConsensusParams | None = None,
    timestamp: int = 0,
    admin_threshold: tuple[int, int] = (2, 3),
    proposal_ttl_blocks: int = DEFAULT_PROPOSAL_TTL,
) -> Genesis:
    """The genesis naming every card's node as a validator (in the order given) and every
    card's admin keys as admins. Public data only: the same cards, order and timestamp give
    the same genesis, hence the same hash, wherever it is assembled."""
    if not cards:
        raise OrgError("at least one --member card")
    names = [c.name for c in cards]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise OrgError(f"two cards carry the name {dup[0]!r}")
    suites = {c.suite for c in cards}
    if len(suites) > 1:
        raise OrgError(f"the cards use different suites ({', '.join(sorted(suites))})")
    admins = [a for c in cards for a in c.admin_public_keys]
    if not admins:
        raise OrgError("no card names an admin key: the chain needs at least one admin")
    if len(set(admins)) != len(admins):
        raise OrgError("an admin key appears on two cards")
    try:
        governance = GovernanceParams(*admin_threshold, proposal_ttl_blocks)
        genesis = make_genesis(
            chain_id,
            [c.validator() for c in cards],
            admins,
            suite=suites.pop(),
            permissions=permissions,
            consensus=consensus,
            timestamp=timestamp,
        )
        return replace(genesis, governance=governance)
    except LedgerError as e:
        raise OrgError(f"genesis: {e.message}") from None


# -- 3. org configure ----------------------------------------------------------------------------


def genesis_problem(card: MemberCard, genesis: Genesis) -> str | None:
    """Why ``genesis`` does not make this organisation a member (None: it does)."""
    ours = [v for v in genesis.validators if v.public_key == card.node_public_key]
    if not ours:
        return f"the genesis does not name {card.name}'s node key as a validator"
    missing = [a for a in card.admin_public_keys if a not in genesis.admins]
    if missing:
        return f"the genesis does not name {card.name}'s admin key {missing[0].hex()[:16]}..."
    return None


def _listen_host(addr: str) -> str:
    return addr.rpartition(":")[0].strip("[]")


def configure_org(
    out: Path,
    genesis_path: Path,
    *,
    observer: bool = False,
    password_file: Path | None = None,
) -> NodeConfig:
    """Write ``out/config.toml`` for this organisation's node on ``genesis_path`` (written in
    the config relative to ``out`` when it lies beside or above it, so the directory moves as
    one). Its peers are the chain's validators (from genesis, then as governance changes them).
    """
    card = MemberCard.load(out / MEMBER)
    try:
        genesis = Genesis.load(genesis_path)
    except LedgerError as e:
        raise OrgError(f"{genesis_path}: {e.message}") from None
    if not observer and (problem := genesis_problem(card, genesis)):
        raise OrgError(
            f"{problem}: this genesis is not the one assembled with {out / MEMBER} "
            "(compare its hash with the other organisations), or pass --observer to follow "
            "this chain without signing (an organisation about to join)"
        )
    _check_node_key(out, card)
    rel = Path(os.path.relpath(genesis_path.resolve(), out.resolve()))
    tls = TlsPaths.of(out)
    has_tls = tls.server_cert.is_file() and tls.server_key.is_file()
    cfg = NodeConfig(
        node_id=card.name,
        data_dir=Path("data"),
        genesis=rel,
        node_key=Path(NODE_KEY),
        node_key_password_file=password_file.resolve() if password_file else None,
        api_host=_listen_host(card.api_addr),
        api_port=int(card.api_addr.rpartition(":")[2]),
        p2p_host=_listen_host(card.p2p_addr),
        p2p_port=int(card.p2p_addr.rpartition(":")[2]),
        # org init --tls: the API over TLS, writes only from clients of this org's CA
        api_tls_cert=tls.server_cert.relative_to(out) if has_tls else None,
        api_tls_key=tls.server_key.relative_to(out) if has_tls else None,
        api_client_ca=tls.ca.relative_to(out) if has_tls else None,
        api_client_auth="writes" if has_tls else "all",
    )
    write_config(out / CONFIG, cfg)
    return cfg


def _check_node_key(out: Path, card: MemberCard) -> None:
    """``node.pem`` is the key on the card (a plain PEM is checked; a sealed one is checked
    when the node opens it)."""
    path = out / NODE_KEY
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OrgError(f"cannot read {path}: {e.strerror}") from None
    if is_sealed(data):
        return
    try:
        _, priv = load_private_key(path)
    except KeyFileError as e:
        raise OrgError(str(e)) from None
    if sm2.PrivateKey.from_bytes(priv).public_key().to_bytes() != card.node_public_key:
        raise OrgError(f"{path} is not the node key named in {out / MEMBER}")


def admit_observer(out: Path, card_path: Path) -> tuple[str, bool]:
    """Add the node key of the card at ``card_path`` to ``out/config.toml``'s ``observers``,
    so this organisation's node lets an organisation about to join sync before the vote
    (return its name and whether the key is new), or a removed one's node keep following.
    The file is edited as TOML, every other setting kept as written; a running node applies
    the list on SIGHUP, without a restart."""
    card = MemberCard.load(card_path)
    path = out / CONFIG
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as e:
        raise OrgError(f"cannot read {path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise OrgError(f"{path} is not valid TOML: {e}") from None
    key = card.node_public_key.hex()
    known = [str(k).removeprefix("0x").lower() for k in data.get("observers", [])]
    if key in known:
        return card.name, False
    data["observers"] = [*data.get("observers", []), key]
    try:
        NodeConfig.model_validate(data)
    except ValidationError as e:
        raise OrgError(f"{path}: {e.errors()[0]['msg']}") from None
    path.write_text(tomli_w.dumps(data), "utf-8")
    return card.name, True
