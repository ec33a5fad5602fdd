"""Backend choice: automatic, by config, by CHAINNODE_SM2_BACKEND; a clear error without SM2.

Each case runs in a child process because the choice is made once per process. A libcrypto
"without SM2" is a real one whose OPENSSL_CONF activates only the `base` provider (no
algorithms), which is how a FIPS-only or stripped OpenSSL looks to us.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crypto import CryptoError, sm2
from tests.conftest import subprocess_env

PROBE = """
import sys
from crypto import sm2, BackendUnavailable
try:
    name = sm2.backend_name()
except BackendUnavailable as exc:
    print("UNAVAILABLE:", exc)
    sys.exit(3)
k = sm2.PrivateKey.generate()
ok = k.public_key().verify(b"m", k.sign(b"m")) and not k.public_key().verify(b"n", k.sign(b"m"))
print(name, k.backend, ok)
"""

NO_SM2_CONF = """openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
base = base_sect
[base_sect]
activate = 1
"""


def probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = subprocess_env()
    full.pop("CHAINNODE_SM2_BACKEND", None)
    full.pop("CHAINNODE_LIBCRYPTO", None)
    if env.pop("no_sm2", ""):
        conf = tmp_path / "no-sm2.cnf"
        conf.write_text(NO_SM2_CONF)
        full["OPENSSL_CONF"] = str(conf)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=60
    )


def test_auto_prefers_native(tmp_path: Path) -> None:
    out = probe(tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["native", "native", "True"]


NO_NATIVE = "import sys; sys.modules['crypto._sm2verify'] = None  # as if never built\n"


def test_auto_without_native_falls_back_to_openssl_and_logs_why(tmp_path: Path) -> None:
    full = subprocess_env()
    full.pop("CHAINNODE_SM2_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", NO_NATIVE + PROBE], env=full, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["openssl", "openssl", "True"]
    assert "SM2 verification falls back to openssl" in out.stderr
    assert "crypto._sm2verify is not built" in out.stderr


def test_forced_native_when_unavailable_names_why(tmp_path: Path) -> None:
    full = subprocess_env()
    full["CHAINNODE_SM2_BACKEND"] = "native"
    out = subprocess.run(
        [sys.executable, "-c", NO_NATIVE + PROBE], env=full, capture_output=True, text=True
    )
    assert out.returncode == 3, out.stderr
    assert "UNAVAILABLE: SM2 backend 'native' unavailable" in out.stdout
    assert "crypto._sm2verify is not built" in out.stdout and "build_ext" in out.stdout


def test_forced_native_without_openssl_sm2_names_why(tmp_path: Path) -> None:
    out = probe(tmp_path, no_sm2="1", CHAINNODE_SM2_BACKEND="native")
    assert out.returncode == 3, out.stderr
    assert "'native' signs with OpenSSL" in out.stdout and "no SM2 support" in out.stdout


def test_env_selects_gmssl(tmp_path: Path) -> None:
    out = probe(tmp_path, CHAINNODE_SM2_BACKEND="gmssl")
    assert out.stdout.split() == ["gmssl", "gmssl", "True"], out.stderr


def test_auto_falls_back_to_gmssl_without_sm2(tmp_path: Path) -> None:
    out = probe(tmp_path, no_sm2="1")
    assert out.stdout.split() == ["gmssl", "gmssl", "True"], out.stderr


def test_forced_openssl_without_sm2_names_the_fix(tmp_path: Path) -> None:
    out = probe(tmp_path, no_sm2="1", CHAINNODE_SM2_BACKEND="openssl")
    assert out.returncode == 3, out.stderr
    assert "no SM2 support" in out.stdout
    assert "CHAINNODE_SM2_BACKEND=gmssl" in out.stdout and "OpenSSL >= 3.0" in out.stdout


@pytest.mark.parametrize("lib", ["/nonexistent/libcrypto.so.3", "libz.so.1"])
def test_forced_openssl_with_wrong_library(tmp_path: Path, lib: str) -> None:
    out = probe(tmp_path, CHAINNODE_SM2_BACKEND="openssl", CHAINNODE_LIBCRYPTO=lib)
    assert out.returncode == 3, out.stderr
    assert "CHAINNODE_SM2_BACKEND=gmssl" in out.stdout


def test_unknown_backend_names() -> None:
    with pytest.raises(CryptoError):
        sm2.set_backend("rot13")
    with pytest.raises(CryptoError):
        sm2.backend_name("rot13")


def test_set_backend_is_the_config_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINNODE_SM2_BACKEND", raising=False)
    try:
        sm2.set_backend("gmssl")
        assert sm2.backend_name() == "gmssl"
        assert sm2.PrivateKey.generate().backend == "gmssl"
        assert sm2.backend_name("openssl") == "openssl"  # an explicit argument still wins
    finally:
        sm2.set_backend(None)
    assert sm2.backend_name() == "native"
    assert sm2.available_backends() == ["native", "openssl", "gmssl"]


def _without_gmssl(tmp_path: Path) -> str:
    """A directory to put first on PYTHONPATH in which `import gmssl` fails, as on a machine
    with the runtime dependencies only (gmssl is a benchmark extra)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "gmssl.py").write_text("raise ImportError('gmssl is not installed')\n")
    return str(hide) + ":" + subprocess_env()["PYTHONPATH"]


def test_runtime_needs_no_gmssl(tmp_path: Path) -> None:
    out = probe(tmp_path, PYTHONPATH=_without_gmssl(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["native", "native", "True"]


def test_gmssl_backend_without_gmssl_names_the_extra(tmp_path: Path) -> None:
    out = probe(tmp_path, PYTHONPATH=_without_gmssl(tmp_path), CHAINNODE_SM2_BACKEND="gmssl")
    assert out.returncode == 3, out.stderr
    assert "chainnode[bench]" in out.stdout and "gmssl" in out.stdout


def test_no_sm2_and_no_gmssl_names_both_fixes(tmp_path: Path) -> None:
    out = probe(tmp_path, no_sm2="1", PYTHONPATH=_without_gmssl(tmp_path))
    assert out.returncode == 3, out.stderr
    assert "OpenSSL >= 3.0" in out.stdout and "chainnode[bench]" in out.stdout
