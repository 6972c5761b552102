# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs
# (a pinned uv, then .venv from uv.lock) and is fast when that is already done.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Where PYTHONDONTWRITEBYTECODE is set nothing is ever cached, and every command compiles about
# a thousand modules from source (4.4 s for `luodi id check`, 1.9 s with bytecode): uv compiles
# what it installs, .compiled a .venv made before (once), .compiled-src luodi when it changes.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup browser demo test test-random lint format bench clean vendor

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

$(VENV)/.compiled: $(VENV)/.synced
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	@touch $@

# luodi's own modules, again whenever one changes (compileall skips the unchanged ones).
$(VENV)/.compiled-src: $(VENV)/.compiled $(shell find src -name '*.py')
	$(BIN)/python -m compileall -q -j 0 src
	@touch $@

setup: $(VENV)/.compiled-src

# Debian's Chromium for the browser tests (a test tool cannot download its own browser here),
# Debian's Noto CJK fonts for the PDF notices (the PDF embeds them; nothing is fetched) and
# Debian's Java 17 for Apache Spark (`luodi policy score --engine spark`; PySpark is from PyPI).
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	{ [ -n "$$JAVA_HOME" ] || command -v java >/dev/null 2>&1; } || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing $$missing: browser tests, PDF notices or Spark will be skipped"; fi; \
	fi

# A second `make demo` finds the first one's data: `make demo DEMO_ARGS=--force` starts over.
demo: setup browser
	$(BIN)/luodi demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Two workers, one per core (pytest-xdist); a file's tests stay on one worker, so a module's
# loaded city is built once. `pytest tests/x` by hand runs in this process.
test: setup browser lint
	$(BIN)/pytest -n 2 --dist loadfile

# Property tests explore new examples (the default profile is derandomised, so that CI is
# reproducible); a failure prints the blob that replays it.
test-random: setup
	HYPOTHESIS_PROFILE=random $(BIN)/pytest tests/kernels tests/programs/test_rules.py

bench: setup
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/scoring.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/timeline.py
	$(BIN)/python bench/allocation.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/notices.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/spark.py

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .ruff_cache .mypy_cache .hypothesis

# The vendored front-end files (committed; this only refreshes them): htmx and ECharts for the
# pages, axe-core for the browser tests. npm packs them from the registry; nothing runs.
HTMX_VERSION := 2.0.11
ECHARTS_VERSION := 6.1.0
AXE_VERSION := 4.14.1
vendor:
	@tmp=$$(mktemp -d); cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) echarts@$(ECHARTS_VERSION) axe-core@$(AXE_VERSION) >/dev/null && \
	  for f in *.tgz; do mkdir -p $${f%.tgz} && tar xzf $$f -C $${f%.tgz}; done; cd - >/dev/null; \
	cp $$tmp/htmx.org-$(HTMX_VERSION)/package/dist/htmx.min.js src/luodi/web/static/vendor/htmx.min.js; \
	cp $$tmp/echarts-$(ECHARTS_VERSION)/package/dist/echarts.common.min.js src/luodi/web/static/vendor/echarts.min.js; \
	cp $$tmp/axe-core-$(AXE_VERSION)/package/axe.min.js tests/web/vendor/axe.min.js; \
	rm -rf $$tmp
