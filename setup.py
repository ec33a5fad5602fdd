"""Only the optional native extensions; all metadata lives in pyproject.toml.

`crypto._sm4gcm` (SM4-GCM with GFNI/PCLMULQDQ) and `crypto._sm2verify` (SM2 verification)
are optional: if one fails to compile, the install still succeeds and `crypto.sm4` /
`crypto.sm2` use OpenSSL.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "crypto._sm4gcm",
            sources=["crypto/_sm4gcm.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        ),
        Extension(
            "crypto._sm2verify",
            sources=["crypto/_sm2verify.c"],
            extra_compile_args=["-O3", "-Wall", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
    ]
)
