"""Per-organisation TLS files for the HTTP API (``org init --tls``).

A self-signed CA of the organisation (ECDSA P-256, ten years), a server certificate for its
node's API (the --host as a DNS name or IP address, plus localhost and 127.0.0.1) and one client
certificate (for its admins and applications), each valid for two years. Standard P-256 TLS
because every HTTP client and proxy speaks it; transactions stay authorised by SM2 signatures.
Private keys are written 0600 like every key file; the CA key should then move offline.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "client.pem", "client-key.pem"


@dataclass(frozen=True, slots=True)
class TlsPaths:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def of(cls, org_dir: Path) -> TlsPaths:
        d = org_dir / TLS_DIR
        return cls(d / CA_CERT, d / SERVER_CERT, d / SERVER_KEY, d / CLIENT_CERT, d / CLIENT_KEY)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _san(host: str) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName("localhost")]
    ips = {ipaddress.ip_address("127.0.0.1")}
    try:
        ips.add(ipaddress.ip_address(host))
    except ValueError:
        if host and host != "localhost":
            out.append(x509.DNSName(host))
    out += [x509.IPAddress(ip) for ip in sorted(ips, key=str)]
    return out


def _issue(  # subject, its key, issuer, issuer key, kind, lifetime
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    builder_ext: list[tuple[x509.ExtensionType, bool]],
    days: int,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    for ext, critical in builder_ext:
        b = b.add_extension(ext, critical)
    return b.sign(issuer_key, hashes.SHA256())


def make_org_tls(org_dir: Path, org: str, host: str) -> TlsPaths:
    """Write ``org_dir/tls/``: the CA, the API's server certificate, one client certificate."""
    d = org_dir / TLS_DIR
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{org} API CA", org)
    ca = _issue(
        ca_name,
        ca_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        ],
        3650,
    )
    leaf_usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _issue(
        _name(f"{org} node API", org),
        server_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.SubjectAlternativeName(_san(host)), False),
        ],
        730,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        _name(f"{org} client", org),
        client_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_usage, True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        ],
        730,
    )
    paths = TlsPaths.of(org_dir)
    _write_key(d / CA_KEY, ca_key)
    _write_key(paths.server_key, server_key)
    _write_key(paths.client_key, client_key)
    for path, cert in ((paths.ca, ca), (paths.server_cert, server), (paths.client_cert, client)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths
