"""How the CLI reaches a node: the TLS files given once to the ``chainnode`` group (``--ca``,
``--cert``, ``--client-key``, or their environment variables) apply to every command's
``--node https://…``."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from chainnode.client.sdk import Client, tls_context


@dataclass(slots=True)
class TlsFiles:
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


TLS = TlsFiles()


def client(node: str, timeout: float = 30.0) -> Client:
    return Client(node, timeout, ca=TLS.ca, cert=TLS.cert, key=TLS.key)


def url_context(url: str) -> ssl.SSLContext | None:
    """The TLS context for a plain ``urllib`` request to ``url`` (None for http)."""
    if not url.lower().startswith("https://"):
        return None
    return tls_context(TLS.ca, TLS.cert, TLS.key)
