# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two flavours of one venv: `make run` installs the runtime only, `make test` (and the other
# targets) the dev tools and benchmark extras as well; each has its own stamp, so `make test`
# after `make run` still installs what the tests need.
STAMP_RUN := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
# The optional native extensions, built in place by setup.py (the one list of each one's C file
# and headers): SM4-GCM and SM2 verification (without them crypto uses OpenSSL), snapshot
# chunks, transactions' decoding, the state root's bytes, VM values' encoding and the VM's
# hottest natives (without them, Python).
EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
NATIVE_SM2 := crypto/_sm2verify$(EXT_SUFFIX)
NATIVES := $(NATIVE_SM2) $(addsuffix $(EXT_SUFFIX),crypto/_sm4gcm chainnode/model/_snapchunk \
	chainnode/model/_txwire chainnode/ledger/_stateroot contracts/_values contracts/_natives)
NATIVE_SOURCES := $(wildcard crypto/*.[ch] chainnode/*/*.[ch] contracts/*.[ch])

# `make run` settings (the defaults of `chainnode network up`); e.g.
#   make run API_PORT_BASE=9700 P2P_PORT_BASE=9800 VALIDATORS=4 DIR=devnet
# An existing DIR keeps the ports its genesis.json was made with (network up says so).
VALIDATORS ?=
API_PORT_BASE ?=
P2P_PORT_BASE ?=
DIR ?= devnet
RUN_ARGS := --dir $(DIR) $(if $(VALIDATORS),--validators $(VALIDATORS)) \
	$(if $(API_PORT_BASE),--api-port-base $(API_PORT_BASE)) \
	$(if $(P2P_PORT_BASE),--p2p-port-base $(P2P_PORT_BASE))

.PHONY: run test check tools lint typecheck unit alltests soak fuzz fuzz-sm2 chaos bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $(STAMP_RUN)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The editable install builds them too; after a C file or header changes this rebuilds in place
# what it touches (setuptools knows which, and skips the rest), then marks every built one up
# to date: one run for all. A failed build only warns (setup.py's output names the extension):
# its module runs its plain path, the Python or OpenSSL one.
$(NATIVES): $(NATIVE_SOURCES) setup.py | $(VENV)/bin/python
	$(PY) setup.py -q build_ext --inplace && touch -c $(NATIVES) || \
		echo "warning: a native extension was not built; its module runs its plain path"

run: $(STAMP_RUN) $(NATIVES)
	$(VENV)/bin/chainnode network up $(RUN_ARGS)

# Everything: lint, types, and every test (unit, integration and end-to-end).
test: $(STAMP) $(NATIVES) tools lint typecheck alltests

# The quick loop (< 1 min): lint, types and the unit tests. tests/conftest.py gives each test
# module its level (unit, integration, e2e); `pytest -m "not e2e"` and the like work too.
check: $(STAMP) $(NATIVES) lint typecheck unit

# External tools the tests use: promtool (Debian package prometheus) lints /metrics; chromium
# (Debian's, driven by Playwright's Python package: no browser download) runs the web console.
tools:
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
		|| echo "warning: promtool missing and cannot be installed (not root?); its test will fail"
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
		|| echo "warning: chromium missing and cannot be installed (not root?); the console tests will fail"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy crypto storage contracts consensus p2p chainnode bench

unit: $(STAMP) $(NATIVES)
	$(PY) -m pytest -m unit --durations=5

alltests: $(STAMP) $(NATIVES)
	$(PY) -m pytest --durations=12

soak: $(STAMP)
	$(PY) -m consensus.soak --seeds 50000

# The fuzz tests (decoders, wire, compiler, verifier, HTTP API) with thousands of examples.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz SCHEMATHESIS_MAX_EXAMPLES=$${EXAMPLES:-200} $(PY) -m pytest tests \
		-k "fuzz or random or garbage or schemathesis" -p no:randomly --timeout 3600

# The native SM2 verify against OpenSSL and constructed answers: CASES (default 10^7) cases
# from SEED (make test runs 200,000 of them).
fuzz-sm2: $(STAMP) $(NATIVE_SM2)
	SM2_DIFF_CASES=$${CASES:-10000000} SM2_DIFF_SEED=$${SEED:-1} $(PY) -m pytest \
		tests/crypto/test_sm2_native.py -k differential -p no:randomly -q --timeout 7200

# A seeded fault schedule on a real 4-validator network; DURATION seconds (default 20 min).
chaos: $(STAMP)
	$(PY) -m bench.chaos --duration $${DURATION:-1200} --seed $${SEED:-1}

bench: $(STAMP) $(NATIVES)
	$(PY) -m bench.crypto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
