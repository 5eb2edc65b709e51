# smart-router: `make run` serves the proxy, `make test` runs everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
PORT ?= 7602
CONFIG ?= config/config.yaml
ENV_FILE ?= .env
CLAUDE_CODE_VERSION ?= 2.1.332
CODEX_VERSION ?= 0.171.0
OPENROUTER_CLIENTS ?= @openrouter/sdk@1.3.19 @openrouter/ai-sdk-provider@2.10.0 ai@6.0.333 zod@4.6.7

.PHONY: run test demo docs lint unit integration bench bench-tools uv env services conformance agents soak compat compat-env bench-compat

uv:  ## install uv from PyPI when it is missing
	@command -v $(UV) >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv

env: uv  ## the locked environment (.venv)
	@$(UV) sync --frozen --quiet

services:  ## what the tests need from Debian: redis-server, PostgreSQL, docker-compose (validates compose.yaml), chromium (dashboard test)
	@command -v redis-server >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq redis-server >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server; }; }
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq postgresql >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql; }; }
	@command -v docker-compose >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq docker-compose >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq docker-compose; }; }
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }; }
	@redis-server --version
	@ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null || command -v initdb

agents:  ## the real clients the tests drive, from the npm registry, in .agents/: Claude Code, Codex CLI, OpenRouter's SDKs
	@mkdir -p .agents
	@test -f .agents/package.json || echo '{"name": "smart-router-test-agents", "private": true}' > .agents/package.json
	@test -x .agents/node_modules/.bin/claude -a -x .agents/node_modules/.bin/codex -a -d .agents/node_modules/@openrouter/ai-sdk-provider || \
	  npm install --prefix .agents --no-audit --no-fund --silent @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) @openai/codex@$(CODEX_VERSION) $(OPENROUTER_CLIENTS)

# `run` and `demo` exec the locked environment's programs (`env` has just synced it): make's own
# child is then `serve` (or the demo) itself, which make hands a SIGTERM to and waits for, and
# which stops everything it started. Through `uv run` a stop would also depend on uv passing the
# signal on (older uv releases did not; SIGINT it passes on only when it gets a second one).
run: env  ## serve $(CONFIG) on 127.0.0.1:$(PORT) (writes $(ENV_FILE) with a random master key first)
	@exec .venv/bin/smart-router serve --config $(CONFIG) --host 127.0.0.1 --port $(PORT) --env-file $(ENV_FILE)

demo: env  ## the proxy in front of simulated providers on 127.0.0.1:$(PORT): try routing with no keys
	@PORT=$(PORT) exec .venv/bin/python -m scripts.demo

docs: env  ## regenerate docs/configuration.md from the settings model (router_ext/settings.py)
	$(UV) run --frozen python -m scripts.config_reference

lint: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy .

unit: env
	$(UV) run --frozen pytest tests/unit -q

integration: env services agents
	$(UV) run --frozen pytest tests/integration -q

test: env services agents lint  ## everything: lint, unit and integration tests (real proxy, Redis)
	$(UV) run --frozen pytest tests -q --ignore=tests/conformance --durations=15

conformance: env  ## replay the real provider samples in ../shared/fixtures
	$(UV) run --frozen pytest tests/conformance -q

soak: env  ## 10 minutes at 20 concurrent through the proxy against randomly failing providers (SOAK_ARGS="--seconds 60")
	$(UV) run --frozen python -m scripts.soak $(SOAK_ARGS)

bench-tools:  ## what the workers benchmark loads with: wrk and nginx (a load generator and an upstream that cost ~0.1 ms a request)
	@command -v wrk >/dev/null 2>&1 && { command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq wrk nginx-light >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk nginx-light; } || \
	  echo "wrk / nginx not installed: the workers benchmark falls back to the Python client and says so"; }

bench: env bench-tools compat-env  ## smart-router vs plain LiteLLM (catalogue writes on both LiteLLMs): writes docs/benchmarks.md, .json and plots (--full: BENCH_ARGS=--full)
	$(UV) run --frozen python -m scripts.bench $(BENCH_ARGS)

# The newest LiteLLM that installs from the registries here. `litellm[proxy]` newer than 1.108.7 does
# not resolve from them (1.108.8-1.109.x pin litellm-enterprise post-releases that are not published;
# 1.110.x also pins a litellm-proxy package that is not there), so the compat environment is the
# locked one with LiteLLM swapped in without its pins, plus what its proxy imports that 1.108.7 did
# not (semver, backports-zstd). With the full index, `pip install litellm[proxy]==1.110.2` is enough.
COMPAT_LITELLM ?= 1.110.2
COMPAT_ENTERPRISE ?= 0.1.83
COMPAT_VENV := .venv-compat

compat-env: env  ## a second environment (.venv-compat) with LiteLLM $(COMPAT_LITELLM)
	@$(UV) venv -q --allow-existing $(COMPAT_VENV) --python .venv/bin/python
	@$(UV) export -q --frozen --no-hashes --all-groups --no-emit-project -o $(COMPAT_VENV)/requirements.txt
	@$(UV) pip install -q --no-config --python $(COMPAT_VENV)/bin/python -r $(COMPAT_VENV)/requirements.txt
	@$(UV) pip install -q --no-config --python $(COMPAT_VENV)/bin/python --no-deps \
	  litellm==$(COMPAT_LITELLM) litellm-enterprise==$(COMPAT_ENTERPRISE)
	@$(UV) pip install -q --no-config --python $(COMPAT_VENV)/bin/python semver backports-zstd
	@$(UV) pip install -q --no-config --python $(COMPAT_VENV)/bin/python --no-deps -e .
	@$(COMPAT_VENV)/bin/python -c "from router_ext.litellm_seam.version import litellm_version as v; print('compat: LiteLLM', v())"

bench-compat: compat-env bench-tools  ## make bench again on LiteLLM $(COMPAT_LITELLM): docs/litellm-$(COMPAT_LITELLM)/benchmarks.md
	$(COMPAT_VENV)/bin/python -m scripts.bench --out docs/litellm-$(COMPAT_LITELLM) $(BENCH_ARGS)

compat: compat-env services agents  ## the unit and integration tests again, on LiteLLM $(COMPAT_LITELLM)
	$(COMPAT_VENV)/bin/python -m pytest tests -q --ignore=tests/conformance --durations=10
