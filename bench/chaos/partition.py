"""Cut p2p links of one node and heal them, through the network's own allow-list.

No fault-injection code in ``p2p``: a cut peer is taken off the allow-list (which closes its
connection, refuses its handshakes and stops our dialer), and healing puts it back with
``add_peer`` (which admits it and dials at once). The allowed set comes from the node (its
validator set at the next height), so a heal never admits a peer the node would not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Set

from p2p import Network
from p2p.config import check_pubkey

log = logging.getLogger("bench.chaos.partition")

Address = tuple[str, int]


class Partition:
    def __init__(
        self,
        net: Network,
        allowed: Callable[[], Set[bytes]],
        addresses: Callable[[], dict[bytes, Address]],
    ) -> None:
        """``allowed()``: whom the node admits when nothing is cut; ``addresses()``: where
        each peer listens (to dial it again on heal)."""
        self.net = net
        self._allowed = allowed
        self._addresses = addresses
        self.cut: frozenset[bytes] = frozenset()

    def set_cut(self, peers: Iterable[bytes]) -> None:
        """Behave as if the network to ``peers`` were cut until the next call (``[]`` heals)."""
        cut = frozenset(check_pubkey(k, "cut peer") for k in peers)
        healed = self.cut - cut
        self.cut = cut
        allowed = set(self._allowed())
        self.net.set_allowed(allowed - cut)
        addresses = self._addresses()
        for peer in healed & allowed:
            if peer in addresses:
                host, port = addresses[peer]
                self.net.add_peer(peer, host, port)
        log.warning("fault injection: links cut to %d peers", len(cut))
