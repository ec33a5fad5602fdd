"""The few strict DER structures we read and write: SM2 signatures, SPKI, PKCS#8, SEC1.

Strict means: definite minimal lengths, minimal non-negative INTEGERs, no trailing bytes.
Anything else raises `ValueError`, which callers turn into our typed errors.
"""

from __future__ import annotations

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2 = "1.2.156.10197.1.301"

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06
NULL = 0x05


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(b),)) + b


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + _len(len(value)) + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def integer(v: int) -> bytes:
    if v < 0:
        raise ValueError("negative INTEGER")
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return tlv(INTEGER, b)


def oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """One TLV at `pos`: (tag, value, next position)."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        nbytes = first & 0x7F
        if nbytes == 0 or nbytes > 4 or pos + nbytes > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + nbytes], "big")
        if length < 0x80 or data[pos] == 0:
            raise ValueError("non-minimal DER length")
        pos += nbytes
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER value")
    return tag, data[pos:end], end


def read_all(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        tag, val, pos = read(data, pos)
        out.append((tag, val))
    return out


def expect(data: bytes, tag: int) -> bytes:
    """The value of a single TLV of `tag` that spans all of `data`."""
    t, val, end = read(data)
    if t != tag or end != len(data):
        raise ValueError(f"expected DER tag {tag:#x}")
    return val


def parse_integer(value: bytes) -> int:
    if not value:
        raise ValueError("empty INTEGER")
    if value[0] & 0x80:
        raise ValueError("negative INTEGER")
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise ValueError("non-minimal INTEGER")
    return int.from_bytes(value, "big")


def parse_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise ValueError("bad OID")
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    acc = 0
    for byte in value[1:]:
        if acc == 0 and byte == 0x80:
            raise ValueError("non-minimal OID")
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(map(str, parts))


def sm2_signature(r: int, s: int) -> bytes:
    return seq(integer(r), integer(s))


def parse_sm2_signature(der: bytes) -> tuple[int, int]:
    body = expect(der, SEQUENCE)
    items = read_all(body)
    if len(items) != 2 or items[0][0] != INTEGER or items[1][0] != INTEGER:
        raise ValueError("signature is not SEQUENCE { INTEGER, INTEGER }")
    return parse_integer(items[0][1]), parse_integer(items[1][1])


_ALG_SM2 = seq(oid(OID_EC_PUBLIC_KEY), oid(OID_SM2))


def spki(pub65: bytes) -> bytes:
    return seq(_ALG_SM2, tlv(BIT_STRING, b"\x00" + pub65))


SPKI_PREFIX = spki(b"\x04" + bytes(64))[:-65]


def parse_spki(der: bytes) -> bytes:
    """The 65-byte point of an SM2 SubjectPublicKeyInfo."""
    items = read_all(expect(der, SEQUENCE))
    if len(items) != 2 or items[0][0] != SEQUENCE or items[1][0] != BIT_STRING:
        raise ValueError("not a SubjectPublicKeyInfo")
    _check_alg(items[0][1])
    bits = items[1][1]
    if not bits or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    return bits[1:]


def _check_alg(alg_body: bytes) -> None:
    alg = read_all(alg_body)
    if len(alg) != 2 or alg[0][0] != OID or alg[1][0] != OID:
        raise ValueError("not an EC key with a named curve")
    if parse_oid(alg[0][1]) != OID_EC_PUBLIC_KEY:
        raise ValueError("not an EC public key")
    if parse_oid(alg[1][1]) != OID_SM2:
        raise ValueError("curve is not SM2 (1.2.156.10197.1.301)")


def sec1(d: int, pub65: bytes, with_curve: bool) -> bytes:
    parts = [integer(1), tlv(OCTET_STRING, d.to_bytes(32, "big"))]
    if with_curve:
        parts.append(tlv(0xA0, oid(OID_SM2)))
    parts.append(tlv(0xA1, tlv(BIT_STRING, b"\x00" + pub65)))
    return seq(*parts)


def pkcs8(d: int, pub65: bytes) -> bytes:
    return seq(integer(0), _ALG_SM2, tlv(OCTET_STRING, sec1(d, pub65, with_curve=False)))


def parse_sec1(der: bytes, need_curve: bool) -> tuple[int, bytes | None]:
    """(d, public point or None) from an ECPrivateKey."""
    items = read_all(expect(der, SEQUENCE))
    if len(items) < 2 or items[0] != (INTEGER, b"\x01") or items[1][0] != OCTET_STRING:
        raise ValueError("not an ECPrivateKey")
    d_bytes = items[1][1]
    if len(d_bytes) != 32:
        raise ValueError("SM2 private key must be 32 bytes")
    pub = None
    seen_curve = False
    for tag, val in items[2:]:
        if tag == 0xA0:
            if parse_oid(expect(val, OID)) != OID_SM2:
                raise ValueError("curve is not SM2")
            seen_curve = True
        elif tag == 0xA1:
            bits = expect(val, BIT_STRING)
            if not bits or bits[0] != 0:
                raise ValueError("bad BIT STRING")
            pub = bits[1:]
        else:
            raise ValueError("unexpected field in ECPrivateKey")
    if need_curve and not seen_curve:
        raise ValueError("ECPrivateKey names no curve")
    return int.from_bytes(d_bytes, "big"), pub


def parse_pkcs8(der: bytes) -> tuple[int, bytes | None]:
    items = read_all(expect(der, SEQUENCE))
    if len(items) < 3 or items[0] != (INTEGER, b"\x00") or items[1][0] != SEQUENCE:
        raise ValueError("not a PKCS#8 PrivateKeyInfo")
    if items[2][0] != OCTET_STRING:
        raise ValueError("PKCS#8 key is not an OCTET STRING")
    _check_alg(items[1][1])
    return parse_sec1(items[2][1], need_curve=False)
