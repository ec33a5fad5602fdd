"""A validator with fault injection, for the chaos harness: ``python -m bench.chaos.node``.

The same node as ``chainnode start --config ...``, built through the node's
:class:`~chainnode.node.runtime.Seams`: its consensus transport is a
:class:`~bench.chaos.byzantine.ByzantineTransport` (honest until told otherwise), its block-sync
and tx-fetch answers pass through the transport's forgers, every signed message its core hands
out is collected (:mod:`bench.chaos.sentlog`), and two extra routes steer it:

- ``POST /v1/_test/partition`` ``{"cut": [public key hex, ...]}`` cuts the p2p links to those
  peers (``[]`` heals);
- ``POST /v1/_test/byzantine`` ``{"modes": [...]}`` sets the lies (``[]`` makes it honest);
- ``POST /v1/_test/snapshot`` ``{"corrupt_chunks": true}`` makes it serve every snapshot
  chunk with one byte flipped (a Byzantine snapshot peer; ``false`` makes it honest).

Neither route is in ``/openapi.json``, and nothing here exists in a node started by the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from aiohttp import web

from bench.chaos.byzantine import ByzantineTransport
from bench.chaos.partition import Partition
from bench.chaos.sentlog import SentLog
from chainnode.model.codes import LedgerError
from chainnode.model.types import Block
from chainnode.node.compact import compact_payload
from chainnode.node.config import ConfigError, load_config
from chainnode.node.consensus_glue import sm2_signer
from chainnode.node.consensus_host import SyncFilter, TxsFilter
from chainnode.node.driver import CONSENSUS_CHANNEL, Transport
from chainnode.node.runtime import Node, Seams, StartupError, run
from chainnode.node.snapshot_wire import KIND_CHUNK, SnapshotFilter
from chainnode.node.validator_peers import split_addr
from consensus.messages import PrePrepare
from consensus.types import Proposal
from p2p import P2PError

log = logging.getLogger("bench.chaos.node")


class Faults:
    """The fault-injection state of one node: its lying transport and its cut links."""

    def __init__(self) -> None:
        self.transport: ByzantineTransport | None = None
        self.partition: Partition | None = None
        self.corrupt_chunks = False

    def make_transport(self, node: Node) -> Transport:
        self.transport = ByzantineTransport(
            node.net,
            node.chain_id,
            node.public_key,
            sm2_signer(node.key),
            lambda pp, later_ms: alternative_proposal(node, pp, later_ms),
            CONSENSUS_CHANNEL,
            lambda pp: hashes_only_proposal(node, pp),
        )
        offer, gossip = node.net.offer_txs, node.net.gossip_txs
        # withhold_txs and no_gossip: the txs waiting here go to no peer that connects (an
        # honest node offers them, and a backup would then hold what the proposal names by
        # hash); no_gossip: nor are our clients' txs flooded
        node.net.offer_txs = lambda peer_id, txs: (  # type: ignore[method-assign]
            0 if {"withhold_txs", "no_gossip"} & self.transport_modes() else offer(peer_id, txs)
        )
        node.net.gossip_txs = lambda txs: (  # type: ignore[method-assign]
            0 if "no_gossip" in self.transport_modes() else gossip(txs)
        )
        log.warning("fault injection enabled (bench.chaos.node): never in production")
        return self.transport

    def transport_modes(self) -> frozenset[str]:
        return frozenset() if self.transport is None else self.transport.modes

    def sync_filter(self, node: Node) -> SyncFilter:
        return lambda response: self._forge(node, response)

    def txs_filter(self, node: Node) -> TxsFilter:
        return lambda response: (
            response if self.transport is None else self.transport.forge_txs(response)
        )

    def _forge(self, node: Node, response: bytes) -> bytes:
        if self.transport is None:
            return response
        return self.transport.forge_sync(response, lambda raw: forged_block(node, raw))

    def snapshot_filter(self, node: Node) -> SnapshotFilter:
        return self._corrupt

    def _corrupt(self, kind: str, answer: bytes) -> bytes:
        if not self.corrupt_chunks or kind != KIND_CHUNK or not answer:
            return answer
        return answer[:-1] + bytes([answer[-1] ^ 0x01])

    def routes(self, node: Node, app: web.Application) -> None:
        links = self.partition = Partition(
            node.net, lambda: validator_keys(node), lambda: peer_addresses(node)
        )

        async def partition(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                links.set_cut(bytes.fromhex(k.removeprefix("0x")) for k in body["cut"])
            except (ValueError, KeyError, TypeError, AttributeError, P2PError) as e:
                return bad_request(e)
            return web.json_response({"cut": sorted(k.hex() for k in links.cut)})

        async def byzantine(request: web.Request) -> web.Response:
            transport = self.transport
            assert transport is not None, "the transport seam runs before the routes"
            try:
                body = await request.json()
                transport.set_modes(body["modes"])
            except (ValueError, KeyError, TypeError) as e:
                return bad_request(e)
            return web.json_response(
                {"modes": sorted(transport.modes), "acts": dict(transport.acts)}
            )

        async def snapshot(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                corrupt = body["corrupt_chunks"]
                if not isinstance(corrupt, bool):
                    raise TypeError("corrupt_chunks is true or false")
            except (ValueError, KeyError, TypeError) as e:
                return bad_request(e)
            self.corrupt_chunks = corrupt
            return web.json_response({"corrupt_chunks": corrupt})

        app.router.add_post("/v1/_test/partition", partition)
        app.router.add_post("/v1/_test/snapshot", snapshot)
        app.router.add_post("/v1/_test/byzantine", byzantine)

    def seams(self) -> Seams:
        return Seams(
            transport=self.make_transport,
            sync_filter=self.sync_filter,
            txs_filter=self.txs_filter,
            snapshot_filter=self.snapshot_filter,
            routes=self.routes,
            on_send=lambda node: SentLog(node.cfg.data_dir, node.public_key),
        )


def bad_request(e: Exception) -> web.Response:
    """A test tool's bad request: say what it was."""
    return web.json_response({"error": {"code": "BAD_REQUEST", "message": str(e)}}, status=400)


def validator_keys(node: Node) -> set[bytes]:
    """Whom the node admits: its validator set at the next height."""
    ledger = node.ledger
    return {v.public_key for v in ledger.validators_at(ledger.height + 1)}


def peer_addresses(node: Node) -> dict[bytes, tuple[str, int]]:
    """Where each peer listens: the configured dial list, else the chain's ``p2p_addr``."""
    ledger = node.ledger
    out = {v.public_key: split_addr(v.p2p_addr) for v in ledger.validators_at(ledger.height + 1)}
    out.update((key, (host, port)) for key, host, port in node.net.config.peers)
    return out


def alternative_proposal(node: Node, pp: PrePrepare, later_ms: int) -> Proposal | None:
    """Another block for the height of our PRE-PREPARE, stamped ``later_ms`` later."""
    block = node.blocks.get(pp.digest)
    if block is None:
        return None
    try:
        alt = node.ledger.build_block(
            block.height, block.header.view, node.public_key, block.header.timestamp + later_ms
        )
    except LedgerError:
        return None
    node.blocks.remember(alt)
    return Proposal(alt.height, pp.proposal.parent, alt.hash, alt.encode())


def hashes_only_proposal(node: Node, pp: PrePrepare) -> Proposal | None:
    """Our PRE-PREPARE's proposal with every tx by hash (none of our clients' bodies)."""
    block = node.blocks.get(pp.digest)
    if block is None:
        return None
    return dataclasses.replace(pp.proposal, payload=compact_payload(block))


def forged_block(node: Node, raw: bytes) -> bytes:
    """The block with its timestamp moved by 1 ms: a different hash under the same cert."""
    block = node.ledger.decode_block(raw)
    header = dataclasses.replace(block.header, timestamp=block.header.timestamp + 1)
    return Block(header, block.txs).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos.node", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="the node's config.toml")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        parser.exit(2, f"error: {e}\n")
    try:
        run(cfg, Faults().seams())
    except StartupError as e:
        parser.exit(1, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
