# The two commands: `make run` and `make test`. Both bootstrap what they need.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NODE    := node_modules/.installed
ARGS    ?=

.PHONY: bootstrap run test lint bench soak clean

bootstrap: $(STAMP) $(NODE)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: bootstrap
	$(BIN)/python -m shared.cli local up $(ARGS)

test: bootstrap
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n auto -q $(ARGS)

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: bootstrap
	$(BIN)/python -m bench $(ARGS)

# The webhook fuzzer: 10,200 mutated deliveries over the three sources (ARGS="--n N --seed S").
soak: bootstrap
	$(BIN)/python -m bench.soak_webhooks $(ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
