# The two commands a newcomer needs: `make run` (the node, development mode)
# and `make test` (the whole suite). Everything else here is what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.mcledger-installed
NPM_STAMP := contracts/node_modules/.mcledger-installed
CONTEXTS_STAMP := node/contexts/node_modules/.mcledger-installed
INTEROP_STAMP := tests/interop/node_modules/.mcledger-installed

.PHONY: run test setup lint bench contexts clean-venv

run: setup
	$(BIN)/mcledger serve --dev

test: setup lint $(INTEROP_STAMP) $(CONTEXTS_STAMP)
	$(BIN)/pytest

setup: $(PY_STAMP) $(NPM_STAMP)

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

# Independent verifiers (Digital Bazaar's JavaScript libraries) for the interop tests.
$(INTEROP_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check anchoring node cli contracts tests
	$(BIN)/ruff format --check anchoring node cli contracts tests
	$(BIN)/mypy

bench: setup
	$(BIN)/pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s

clean-venv:
	rm -rf $(VENV) contracts/node_modules node/contexts/node_modules \
	       tests/interop/node_modules
