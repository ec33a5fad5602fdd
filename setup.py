"""Only the optional native extensions; all metadata lives in pyproject.toml.

`crypto._sm4gcm` (SM4-GCM with GFNI or AES-NI, and PCLMULQDQ) and `crypto._sm2verify` (SM2 verification)
are optional: if one fails to compile, the install still succeeds and `crypto.sm4` /
`crypto.sm2` use OpenSSL. So is `chainnode.model._snapchunk` (a state checkpoint's chunks,
cut, encoded and hashed with the GIL released; without it `chainnode.model.snapshot` does
that in Python), `chainnode.model._txwire` (a transaction's wire bytes split and checked in
one call; without it `Transaction.decode` runs in Python), `chainnode.ledger._stateroot` (the
bytes a block's state root hashes; without it the executor packs them in Python), and `contracts._values` (VM values' canonical encoding; without it
`contracts.values` encodes in Python) and `contracts._natives` (the hottest natives' common case
for translated programs; without it they run the Python natives). `crypto/_sm3.h` is the SM3 both native hashers include.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "crypto._sm4gcm",
            sources=["crypto/_sm4gcm.c"],
            depends=["crypto/_sm4_x128.h", "crypto/_sm4_x256.h"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "crypto._sm2verify",
            sources=["crypto/_sm2verify.c"],
            extra_compile_args=["-O3", "-Wall", "-pthread"],
            extra_link_args=["-pthread"],
            depends=["crypto/_sm3.h"],
            optional=True,
        ),
        Extension(
            "chainnode.model._snapchunk",
            sources=["chainnode/model/_snapchunk.c"],
            include_dirs=["crypto"],
            depends=["crypto/_sm3.h"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "chainnode.model._txwire",
            sources=["chainnode/model/_txwire.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "chainnode.ledger._stateroot",
            sources=["chainnode/ledger/_stateroot.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "contracts._values",
            sources=["contracts/_values.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "contracts._natives",
            sources=["contracts/_natives.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
    ]
)
