# flowc developer commands. `make demo` and `make test` each set up everything they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
TEST_PLUGINS := $(sort $(wildcard tests/testplugin/pyproject.toml))
STAMP := $(VENV)/.flowc-installed

.PHONY: setup demo test lint check bench clean

$(STAMP): pyproject.toml $(PLUGINS) $(TEST_PLUGINS) requirements-engines.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]' $(foreach p,$(PLUGINS),-e '$(dir $(p))[test]') $(foreach p,$(TEST_PLUGINS),-e $(dir $(p)))
	$(BIN)/python -m pip install -q --no-deps -r requirements-engines.txt
	touch $(STAMP)

setup: $(STAMP)

# The main job on embedded defaults: simulate a call to the voice-agent example, offline.
demo: setup
	$(BIN)/flowc call examples/flows/voice-agent.yaml --say "Hello, what are your opening hours?"

lint: setup
	$(BIN)/ruff check flowc plugins tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/compile.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
