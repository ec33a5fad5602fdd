"""Operations wiring of a node: metrics, the event stream, proof bundles, JSON logs and the
commit progress line.

The runtime makes one :class:`NodeOps` per node and calls three hooks: ``install(app)`` when
its HTTP app is built (adds ``/metrics``, ``/v1/events``, ``/v1/proofs/{tx_hash}`` and the
latency middleware), ``after_step(replica)`` after consensus steps, and ``close()`` on stop.
The metrics also listen to the ledger's commits (``on_commit``) and are the ledger's observer
(admission and verification batches, passed to ``Ledger.open``): nothing is patched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from chainnode.api.events import EventHub, stream_events
from chainnode.api.metrics import CONTENT_TYPE_LATEST, NodeMetrics
from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import Code
from chainnode.node import jsonlog
from chainnode.node.admission import Admission
from chainnode.node.config import NodeConfig
from chainnode.node.progress import CommitLog
from chainnode.proofs.bundle import ProofError, build_bundle
from consensus.replica import Replica
from p2p import Network

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STREAM_ROUTES = frozenset({"/v1/events"})


class OpsNode(Protocol):
    """What the operations wiring reads of a node (``chainnode.node.runtime.Node``)."""

    cfg: NodeConfig
    ledger: Ledger
    net: Network
    admission: Admission

    @property
    def view(self) -> int: ...

    @property
    def role(self) -> str: ...


class NodeOps:
    def __init__(self, node: OpsNode, metrics: NodeMetrics) -> None:
        self.node = node
        cfg = node.cfg
        ledger = node.ledger
        self.metrics = metrics
        self.metrics.height.set(ledger.height)
        self.metrics.scrape_from(self._scrape)
        self.metrics.storage_from(ledger.storage_levels)
        ledger.on_commit(self.metrics.committed)
        self.commits = CommitLog()  # the rate-limited "committed height …" INFO line
        ledger.on_commit(self.commits.committed)
        self.hub = EventHub(
            ledger,
            queue_blocks=cfg.event_queue_blocks,
            metrics=self.metrics,
        )
        if cfg.log_json:
            jsonlog.install(cfg.node_id, self.position)

    def position(self) -> tuple[int, int]:
        return int(self.node.ledger.height), int(self.node.view)

    def _scrape(self) -> dict[str, float]:
        node = self.node
        pool = node.ledger.mempool
        out = {
            "mempool": float(pool.size),
            "mempool_b": float(pool.size_bytes),
            "view": float(node.view),
            "peers": 0.0,
            "bytes_in": 0.0,
            "bytes_out": 0.0,
        }
        net = node.net
        st = net.stats()
        out["peers"] = float(len(net.connected_peers()))
        out["validator"] = 1.0 if node.role == "validator" else 0.0
        out["bytes_in"], out["bytes_out"] = float(st.bytes_in), float(st.bytes_out)
        backlog = node.admission.backlog
        out["backlog_limit"], out["busy_refusals"] = float(backlog.limit), float(backlog.refused)
        return out

    # -- hooks called by the runtime ---------------------------------------------------------

    def after_step(self, replica: Replica) -> None:
        self.metrics.consensus_at(replica.height, replica.view)

    def install(self, app: web.Application) -> None:
        self.hub.bind(asyncio.get_running_loop())
        app.middlewares.insert(0, self._timing)
        r = app.router
        r.add_get("/metrics", self._metrics)
        r.add_get("/v1/events", self._events)
        r.add_get("/v1/proofs/{hash}", self._proof)

    def close(self) -> None:
        self.hub.close()
        self.commits.close()

    # -- handlers ----------------------------------------------------------------------------

    @web.middleware
    async def _timing(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        if route in STREAM_ROUTES:
            return await handler(request)
        t0 = time.perf_counter()
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            self.metrics.http.labels(request.method, route).observe(time.perf_counter() - t0)
            self.metrics.http_responses.labels(route, str(status)).inc()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await stream_events(request, self.hub)

    async def _proof(self, request: web.Request) -> web.Response:
        from chainnode.api.app import pruned
        from chainnode.api.errors import ApiError

        raw = request.match_info["hash"].lower().removeprefix("0x")
        if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
            raise ApiError(400, Code.INVALID_FIELD, "hash: 64 hex digits", "hash")
        try:
            bundle = build_bundle(self.node.ledger, bytes.fromhex(raw))
        except ProofError as e:
            raise ApiError(500, Code.PROOF_UNAVAILABLE, str(e)) from None
        if bundle is None:
            at = self.node.ledger.tx_pruned_at(bytes.fromhex(raw))
            if at is not None:
                raise pruned(request, f"transaction {raw}", at, "hash")
            raise ApiError(404, Code.NOT_FOUND, f"no committed transaction {raw}", "hash")
        return web.Response(text=bundle.dumps(), content_type="application/json")
