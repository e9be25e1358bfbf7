# The two commands: `make run` serves shootflow on this machine, `make test` runs the tests.
# Each installs what is missing first (OS packages when root, the virtualenv, the migrations).

PYTHON ?= python3
VENV := .venv
# The database the tests run on: sqlite, or postgresql (`make test DATABASE=postgresql`: a
# private PostgreSQL server the tests start). Set on the command line only, not from the
# environment, where the name may mean something else.
DATABASE := sqlite
ifeq ($(filter $(DATABASE),sqlite postgresql),)
$(error DATABASE must be sqlite or postgresql, not '$(DATABASE)')
endif
# The broker the tests run on: redis, or amqp (`make test BROKER=amqp`: a private RabbitMQ node
# the tests start, with Redis keeping the results; only the tests marked amqp run then, those
# of the canvas, cancelling and the broker's faults). Command line only, like DATABASE.
BROKER := redis
ifeq ($(filter $(BROKER),redis amqp),)
$(error BROKER must be redis or amqp, not '$(BROKER)')
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Each package is looked for by what it provides: a command, a module, a font family.
# With only Debian's default fonts Chromium draws Chinese, Japanese and Korean as empty
# boxes and emoji as boxes or black outlines; fonts-noto-core brings Devanagari, Bengali,
# Thai, Tamil and most other living scripts (tests/test_fonts.py checks the result).
# fc-list, which finds the families, is in fontconfig.
OS_PACKAGES_CHECK = \
	missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	$(PYTHON) -c "import ensurepip" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v fc-list >/dev/null 2>&1 || missing="$$missing fontconfig"; \
	fc-list -q "Noto Sans CJK JP" 2>/dev/null || missing="$$missing fonts-noto-cjk"; \
	fc-list -q "Noto Color Emoji" 2>/dev/null || missing="$$missing fonts-noto-color-emoji"; \
	fc-list -q "Noto Sans Devanagari" 2>/dev/null || missing="$$missing fonts-noto-core"
# The tests' PostgreSQL server is Debian's (initdb and postgres of any version). On it, the
# tests also run workers on hosts of their own (network namespaces: ip, and unshare of
# util-linux, which Debian always has).
ifeq ($(DATABASE),postgresql)
OS_PACKAGES_CHECK += ; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"
endif
# The tests' RabbitMQ node runs the start script of Debian's package (and its Erlang's epmd).
ifeq ($(BROKER),amqp)
OS_PACKAGES_CHECK += ; \
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$$missing rabbitmq-server"
endif

.PHONY: run test bench setup os-packages
.DEFAULT_GOAL := run

run: setup
	FLASK_APP=wsgi $(BIN)/flask db upgrade
	$(BIN)/python -m shootflow.launcher

test: setup
	SHOOTFLOW_TEST_DATABASE=$(DATABASE) SHOOTFLOW_TEST_BROKER=$(BROKER) \
	  $(BIN)/python -m pytest $(if $(filter amqp,$(BROKER)),-m amqp) $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

setup: os-packages $(STAMP)

os-packages:
	@$(OS_PACKAGES_CHECK); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing OS packages:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "shootflow needs these OS packages:$$missing"; \
	    echo "Run: sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@# A virtualenv made by another interpreter (PYTHON changed) is made anew, not mixed.
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print(sys.version)')" != \
	     "$$($(PYTHON) -c 'import sys; print(sys.version)')" ]; then rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@
