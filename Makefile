# Quiz Platform — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := python3 -m uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
# The suite runs on TEST_WORKERS pytest-xdist workers (each with its own database and Redis
# prefix; 3 on 2 cores: much of the suite waits on real servers and a browser), a module
# per worker (loadscope: a module's servers start once; in collection order, which
# tests/conftest.py starts with the slowest modules: xdist's own reorder by test count ran
# the 4-minute data_lifecycle module last, alone); the stack drills measure recovery
# times, so they run afterwards, alone (the data tier's untimed life cycle, backups, PITR and
# `stack down`, is tests/e2e/test_data_lifecycle.py: it runs with the suite).
TEST_WORKERS ?= 3
STACK_DRILLS := tests/e2e/test_stack_drills.py tests/e2e/test_data_drills.py
ifeq ($(strip $(PYTEST_ARGS)),)
PYTEST_RUN = $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15 $(addprefix --ignore=,$(STACK_DRILLS)) tests; $(PY) -m pytest --durations=10 $(STACK_DRILLS)
else
PYTEST_RUN = $(PY) -m pytest $(PYTEST_ARGS)
endif

.PHONY: help install run test lint audit bench bench-stack services clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## Create .venv with the locked dependencies (installs uv with pip if missing)
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: install ## Migrate, load the demo on an empty database and serve on http://127.0.0.1:8000
	$(VENV)/bin/quiz db upgrade
	$(VENV)/bin/quiz demo
	@echo "serving on http://127.0.0.1:8000  (API docs: http://127.0.0.1:8000/api/v1/docs)"
	$(VENV)/bin/quiz serve --host 127.0.0.1 --port 8000

lint: install ## ruff, mypy --strict and lint-imports (the layer contract)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

test: install ## Install what the tests need, lint, type-check, audit the locked dependencies (pip-audit), run the suite (PYTEST_ARGS=... runs just those)
	scripts/system-deps.sh
	$(MAKE) --no-print-directory lint
	scripts/pip-audit.sh
	@set -euo pipefail; \
	eval "$$(scripts/test-services.sh)"; \
	export QUIZ_TEST_DATABASE_URL QUIZ_TEST_REDIS_URL; \
	$(PYTEST_RUN)

audit: install ## pip-audit on uv.lock (fails only on a known vulnerability; offline it warns)
	scripts/pip-audit.sh

services: ## Make sure PostgreSQL and Redis answer for the tests (starts throwaway ones)
	@scripts/test-services.sh

bench: install ## Benchmarks (wrk against one instance on PostgreSQL + Redis; web page sizes and server times; the exam-day scenario, ~5 min); not part of make test
	@set -euo pipefail; eval "$$(scripts/test-services.sh)"; \
	export QUIZ_TEST_DATABASE_URL QUIZ_TEST_REDIS_URL; \
	$(PY) bench/run.py; \
	$(PY) bench/web.py; \
	$(PY) bench/exam.py

bench-stack: install ## The cached quiz read through the whole stack (HAProxy/TLS, 1-4 instances) vs one instance direct, then the exam day and a 2,000-player live game through it; ~18 min
	@set -euo pipefail; \
	$(PY) bench/stack.py; \
	$(PY) bench/exam.py --stack; \
	$(PY) bench/live.py

clean: ## Remove caches and the local SQLite database
	rm -rf .pytest_cache .mypy_cache .ruff_cache var/quiz.sqlite3*
