"""Only the optional native extension; all metadata lives in pyproject.toml.

`crypto._sm4gcm` (SM4-GCM with GFNI/PCLMULQDQ) is optional: if it fails to compile, the
install still succeeds and `crypto.sm4` uses OpenSSL.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "crypto._sm4gcm",
            sources=["crypto/_sm4gcm.c"],
            extra_compile_args=["-O3", "-Wall"],
            optional=True,
        )
    ]
)
