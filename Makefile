# connection-summary: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PGTAP_DIR := .cache/pgtap
PGTAP_SQL := $(PGTAP_DIR)/usr/share/postgresql/15/extension/pgtap.sql
PG15_BIN ?= /usr/lib/postgresql/15/bin
export CONNECTION_SUMMARY_PGTAP_SQL ?= $(abspath $(PGTAP_SQL))

.PHONY: install pgtap lint test test-pg15 demo bench clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# pgTAP is Debian's postgresql-15-pgtap package, fetched (not committed) and
# loaded as plain SQL into whichever server the tests use.
pgtap: $(PGTAP_SQL)

$(PGTAP_SQL):
	rm -rf $(PGTAP_DIR) && mkdir -p $(PGTAP_DIR)
	cd $(PGTAP_DIR) && apt-get download postgresql-15-pgtap >/dev/null 2>&1 \
		|| { echo "apt-get download postgresql-15-pgtap failed: apt's package lists are missing;" \
		          "run 'apt-get update' as root (or .ci/run, which does), then make again" >&2; exit 1; }
	dpkg-deb -x $(PGTAP_DIR)/postgresql-15-pgtap_*.deb $(PGTAP_DIR)
	test -f $@

lint: install
	$(BIN)/sqlfluff lint --disable-progress-bar sql migrations
	$(BIN)/ruff check python tests bench
	$(BIN)/mypy

# Every test on the embedded PostgreSQL 18, then the SQL suites again on
# Debian's PostgreSQL 15 when its binaries are present.
test: install pgtap lint
	$(BIN)/pytest -q
	@$(MAKE) --no-print-directory test-pg15

test-pg15: install pgtap
	@if [ -x $(PG15_BIN)/postgres ]; then \
		echo "== SQL suites on PostgreSQL 15 ($(PG15_BIN))"; \
		CONNECTION_SUMMARY_PG_BIN=$(PG15_BIN) $(BIN)/pytest -q -m "not slow" \
			tests/test_pgtap.py tests/test_migrations.py; \
	else echo "== PostgreSQL 15 binaries not found at $(PG15_BIN): skipping the 15 run"; fi

demo: install
	$(BIN)/connection-summary demo

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
