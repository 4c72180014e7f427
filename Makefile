# The two commands a newcomer needs: `make run` (the node, development mode)
# and `make test` (the whole suite). Everything else here is what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.mcledger-installed
NPM_STAMP := contracts/node_modules/.mcledger-installed
CONTEXTS_STAMP := node/contexts/node_modules/.mcledger-installed
INTEROP_STAMP := tests/interop/node_modules/.mcledger-installed
CHAINS_STAMP := tests/chains/node_modules/.mcledger-installed
OA_STAMP := tests/openattestation/node_modules/.mcledger-installed
PAGE_STAMP := verifier-page/node_modules/.mcledger-installed
PAGE_BUILT := node/verifier/web/verifier.js
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup lint bench contexts verifier-page clean-venv

run: setup
	$(BIN)/mcledger serve --dev

test: setup lint $(INTEROP_STAMP) $(CONTEXTS_STAMP) $(CHAINS_STAMP) $(CHROMIUM)
	$(BIN)/pytest

setup: $(PY_STAMP) $(NPM_STAMP) $(PAGE_BUILT)

# Reinstall only when the project's dependency files change.
$(PY_STAMP): pyproject.toml requirements.lock setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c requirements.lock -e '.[test]'
	touch $@

$(NPM_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The JSON-LD contexts ship with the package (node/credentials/contexts/standard/, committed);
# their pinned npm packages are installed only to test that the copies match them, and
# `make contexts` exports them anew after a version bump.
$(CONTEXTS_STAMP): node/contexts/package.json node/contexts/package-lock.json
	cd node/contexts && npm ci --no-audit --no-fund --loglevel=error
	touch $@

contexts: $(CONTEXTS_STAMP)
	cd node/contexts && node export.mjs

# The verifier page (/verify, `mcledger verifier export`): built from verifier-page/ with the
# pinned esbuild and libraries into node/verifier/web/, which is committed and ships in the
# wheel; rebuilt when its sources change (a test checks the committed copy is a fresh build).
$(PAGE_STAMP): verifier-page/package.json verifier-page/package-lock.json
	cd verifier-page && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(PAGE_BUILT): $(PAGE_STAMP) verifier-page/build.mjs $(wildcard verifier-page/src/*) \
		$(wildcard node/credentials/contexts/*.jsonld node/credentials/contexts/standard/*)
	cd verifier-page && node build.mjs

verifier-page: $(PAGE_STAMP)
	cd verifier-page && node build.mjs

# The page's tests drive Debian's Chromium (Playwright never downloads a browser).
$(CHROMIUM):
	$(SUDO) apt-get install -y --no-install-recommends chromium || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

# Independent verifiers (Digital Bazaar's JavaScript libraries) for the interop tests.
$(INTEROP_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# A second, independent EVM node (Hardhat Network) for the chain-variant tests (tests/chains/).
$(CHAINS_STAMP): tests/chains/package.json tests/chains/package-lock.json
	cd tests/chains && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# OpenAttestation's DocumentStore as published on npm, for the side-by-side revocation gas
# benchmark (tests/benchmarks/bench_revocation_commitments.py); only `make bench` needs it.
$(OA_STAMP): tests/openattestation/package.json tests/openattestation/package-lock.json
	cd tests/openattestation && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check anchoring node cli contracts tests
	$(BIN)/ruff format --check anchoring node cli contracts tests
	$(BIN)/mypy

bench: setup $(OA_STAMP)
	$(BIN)/pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s

clean-venv:
	rm -rf $(VENV) contracts/node_modules node/contexts/node_modules \
	       tests/interop/node_modules tests/chains/node_modules verifier-page/node_modules \
	       tests/openattestation/node_modules
