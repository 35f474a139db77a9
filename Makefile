# pciplane — the two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all demo test check lint typecheck imports unit bench screenshots clean

all: test

# The virtualenv, with the package, its host extras, the OpenStack clients the tests drive
# and the dev tools. Rebuilt when
# pyproject.toml changes. System packages (libvirt-dev, ...) are installed when missing.
$(STAMP): pyproject.toml scripts/ensure-system-packages
	scripts/ensure-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[host,postgres,openstack,dev]'
	touch $@

$(VENV): $(STAMP)

demo: $(STAMP)
	$(BIN)/pciplane demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The suite in $(JOBS) processes, each taking whole files (a file's module fixtures, such
# as a started service, are set up once): about half the time of one process on 2 cores.
JOBS ?= 2

unit: $(STAMP)
	$(BIN)/pytest -n $(JOBS) --dist loadfile tests

test: lint typecheck imports unit

# Every benchmark of bench/README.md, one after the other; each prints its markdown rows.
BENCHES := $(sort $(wildcard bench/bench_*.py))

bench: $(STAMP)
	@for script in $(BENCHES); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The README's pictures of the web UI, taken by its browser tests.
screenshots: $(STAMP)
	PCIPLANE_UI_SCREENSHOTS=docs/ui $(BIN)/pytest tests/integration/test_ui_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
