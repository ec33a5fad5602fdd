"""A smaller simulator run with real SM2 signatures (crypto.sm2) instead of the fast double."""

from __future__ import annotations

from collections.abc import Callable

from consensus.sim import SimConfig, Simulation, parse_plan
from crypto import sm2, sm3


class Sm2Suite:
    """The simulator's suite interface over real SM2 keys (deterministic per label)."""

    def __init__(self) -> None:
        self._keys: dict[bytes, sm2.PrivateKey] = {}
        self._pubs: dict[bytes, sm2.PublicKey] = {}

    def keypair(self, label: str) -> tuple[bytes, bytes]:
        secret = sm3.digest(b"sm2-sim:" + label.encode())
        priv = sm2.PrivateKey.from_bytes(secret)
        pub = priv.public_key().to_bytes()
        self._keys[pub] = priv
        self._pubs[pub] = sm2.PublicKey.from_bytes(pub)
        return pub, secret

    def signer(self, public: bytes) -> Callable[[bytes], bytes]:
        return self._keys[public].sign

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        key = self._pubs.get(public)
        return key is not None and key.verify(message, signature)


def test_real_sm2_run_with_faults_keeps_invariants_and_liveness() -> None:
    plan, _ = parse_plan(
        "byzantine 1 forge\ncrash 2 at=300 restart=1200\ndrop type=commit pct=30 until=1200\n"
    )
    cfg = SimConfig(
        n=4, seed=5, base_timeout=200, max_timeout=800, delay=(1, 10), tx_interval=100, block_txs=4
    )
    sim = Simulation(cfg, plan, suite=Sm2Suite())
    sim.run_until_live(1200, 2000, 5, 50)
    chains = [[p.digest for p, _ in h.chain] for h in sim.honest_hosts()]
    shortest = min(map(len, chains))
    assert shortest >= 5 and all(c[:shortest] == chains[0][:shortest] for c in chains)
    # the forger's messages were rejected by real SM2 verification
    reasons = {f.reason for h in sim.honest_hosts() for f in h.faults}
    assert any(r.startswith("bad signature") for r in reasons)
