"""The Python SDK: build, sign and submit transactions; query a node.

The public surface is ``Account`` (a key and its address) and ``Client`` (one node's API)."""

from chainnode.client.sdk import Account, Client

__all__ = ["Account", "Client"]
