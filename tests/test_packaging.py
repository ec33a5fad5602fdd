"""What a user installs: the runtime needs no benchmark or dev package, every runtime
dependency is used, `make run` installs the runtime only and `make test` the dev extras."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib

from tests.conftest import REPO_ROOT, subprocess_env

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
RUNTIME_PACKAGES = ("chainnode", "consensus", "p2p", "storage", "contracts", "crypto")
# distribution name -> the module it provides
IMPORT_NAME = {"pyyaml": "yaml", "prometheus-client": "prometheus_client", "tomli-w": "tomli_w"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def _imported_modules(packages: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for pkg in packages:
        for path in (REPO_ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found


def test_runtime_dependencies_exclude_benchmark_and_dev_packages() -> None:
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    bench = {_name(r) for r in extras["bench"]}
    dev = {_name(r) for r in extras["dev"]}
    assert {"matplotlib", "gmssl"} <= bench
    assert not runtime & (bench | dev), runtime & (bench | dev)
    assert "chainnode[bench]" in extras["dev"]  # make test runs the benchmark tests too
    assert "types-toml" not in dev  # nothing imports `toml` (tomllib and tomli_w are used)
    assert "toml" not in _imported_modules(RUNTIME_PACKAGES + ("bench", "tests"))


def test_every_runtime_dependency_is_imported_by_the_runtime() -> None:
    used = _imported_modules(RUNTIME_PACKAGES)
    for req in PYPROJECT["project"]["dependencies"]:
        name = _name(req)
        module = IMPORT_NAME.get(name, name)
        assert module in used, f"{name} is a runtime dependency that no runtime module imports"


def test_the_node_and_cli_load_no_benchmark_module() -> None:
    """What `chainnode start` and the CLI commands import: no bench, matplotlib or gmssl."""
    probe = (
        "import sys\n"
        "import chainnode.cli.main, chainnode.node.runtime, chainnode.deploy.devnet\n"
        "from crypto import sm2\n"
        "k = sm2.PrivateKey.generate(); assert k.public_key().verify(b'm', k.sign(b'm'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('bench', 'matplotlib', 'gmssl'))\n"
        "print(bad)\n"
    )
    env = subprocess_env()
    env.pop("CHAINNODE_SM2_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _recipe(makefile: str, target: str) -> str:
    m = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert m, f"no rule for {target}"
    return m.group(1)


def test_make_run_installs_the_runtime_and_make_test_the_dev_extras() -> None:
    mk = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run: \$\(STAMP_RUN\)", mk, re.M)
    assert re.search(r"^test: \$\(STAMP\) ", mk, re.M)
    assert re.search(r"^STAMP_RUN := \$\(VENV\)/\.installed-run$", mk, re.M)
    assert re.search(r"^STAMP := \$\(VENV\)/\.installed-dev$", mk, re.M)
    run_install = re.findall(r"pip install --quiet (.+)", _recipe(mk, "$(STAMP_RUN)"))
    assert run_install == ["-e ."]
    assert "-e '.[dev]'" in _recipe(mk, "$(STAMP)")


def test_make_run_passes_the_chosen_ports() -> None:
    """`make -n` prints the command `make run` would run with the README's variables."""
    out = subprocess.run(
        ["make", "-n", "run", "API_PORT_BASE=9700", "P2P_PORT_BASE=9800",
         "VALIDATORS=4", "DIR=mynet"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if "network up" in ln]
    assert line.split() == [
        ".venv/bin/chainnode", "network", "up", "--dir", "mynet", "--validators", "4",
        "--api-port-base", "9700", "--p2p-port-base", "9800",
    ]  # fmt: skip
    plain = subprocess.run(
        ["make", "-n", "run"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    (line,) = [ln for ln in plain.stdout.splitlines() if "network up" in ln]
    assert line.split() == [".venv/bin/chainnode", "network", "up", "--dir", "devnet"]
