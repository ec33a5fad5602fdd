"""Only the optional native extensions; all metadata lives in pyproject.toml.

Each is optional: if one fails to compile, the install still succeeds and its module runs
the plain path it is pinned to by tests:

- `crypto._sm4gcm`: SM4-GCM with GFNI or AES-NI, and PCLMULQDQ (else OpenSSL)
- `crypto._sm2verify`: SM2 verification (else OpenSSL)
- `chainnode.model._snapchunk`: a state checkpoint's chunks, cut, encoded and hashed with the
  GIL released (else `chainnode.model.snapshot` in Python)
- `chainnode.model._txwire`: a transaction decoded from its wire bytes in one call (else
  `Transaction.decode` in Python)
- `chainnode.ledger._stateroot`: the bytes a block's state root hashes (else the executor packs
  them in Python)
- `contracts._values`: VM values' canonical encoding and decoding (else Python)
- `contracts._natives`: the hottest natives' common case for translated programs (else the
  Python natives)

Shared headers: `crypto/_sm3.h`, the SM3 the native hashers include;
`chainnode/model/_msgpack_out.h`, the canonical msgpack writer of those that build hashed bytes.
"""

from setuptools import Extension, setup


def native(
    name: str, source: str, headers: tuple[str, ...] = (), pthread: bool = False
) -> Extension:
    """An optional extension (a failed build leaves the Python or OpenSSL path) of one C file,
    with the shared headers it includes (their folders searched, a change rebuilds it)."""
    threads = ["-pthread"] if pthread else []
    return Extension(
        name,
        sources=[source],
        include_dirs=sorted({h.rsplit("/", 1)[0] for h in headers}),
        depends=list(headers),
        extra_compile_args=["-O3", "-Wall", *threads],
        extra_link_args=threads,
        optional=True,
    )


SM3 = "crypto/_sm3.h"
MSGPACK_OUT = "chainnode/model/_msgpack_out.h"

setup(
    ext_modules=[
        native("crypto._sm4gcm", "crypto/_sm4gcm.c", ("crypto/_sm4_x128.h", "crypto/_sm4_x256.h")),
        native("crypto._sm2verify", "crypto/_sm2verify.c", (SM3,), pthread=True),
        native("chainnode.model._snapchunk", "chainnode/model/_snapchunk.c", (SM3, MSGPACK_OUT)),
        native("chainnode.model._txwire", "chainnode/model/_txwire.c"),
        native("chainnode.ledger._stateroot", "chainnode/ledger/_stateroot.c", (MSGPACK_OUT,)),
        native("contracts._values", "contracts/_values.c"),
        native("contracts._natives", "contracts/_natives.c"),
    ]
)
