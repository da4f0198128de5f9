# Two commands do all the set-up on a fresh machine:
#   make demo   -> installs everything into .venv and runs the live demo
#   make test   -> installs everything into .venv and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The peer tools of the benchmark (whylogs, River, Evidently) live in a virtualenv of their own
PEERS_VENV  ?= .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp

.PHONY: demo test install clean chromium alerting-tools

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stream-guard demo $(ARGS)

# lint first: ruff, mypy --strict and the layer contract (tests/unit/test_layers.py) hold the code's shape
test: $(STAMP) chromium alerting-tools lint
	$(BIN)/python -m pytest $(ARGS)

# the status page test renders the worker's page in headless Chromium (Debian's package)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
chromium:
	@test -x /usr/bin/chromium || { echo "installing chromium for the status page test (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium; } || { \
	  echo "make test: the status page test needs Chromium at /usr/bin/chromium and it could not be installed;" \
	       "run as root (or with sudo): apt-get install -y --no-install-recommends chromium" >&2; exit 1; }
	@test -x /usr/bin/chromium || { echo "make test: /usr/bin/chromium is still missing after apt-get" >&2; exit 1; }

# the forward test posts to a real Alertmanager; deploy/ and docs/ are checked with promtool and amtool
alerting-tools:
	@test -x /usr/bin/prometheus-alertmanager -a -x /usr/bin/amtool -a -x /usr/bin/promtool || { \
	  echo "installing prometheus-alertmanager and prometheus (promtool) for the alerting tests (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends prometheus-alertmanager prometheus; } || { \
	  echo "make test: the alerting tests need prometheus-alertmanager, amtool and promtool and they could not be" \
	       "installed; run as root (or with sudo): apt-get install -y prometheus-alertmanager prometheus" >&2; exit 1; }

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info .pytest_cache

# the soak under chaos (tests/soak): three workers, a Redis Cluster failing over, 20 minutes of events;
# SG_SOAK_SECONDS=180 for the 3-minute version; SG_SOAK_SEED=N repeats a run's faults
.PHONY: soak
soak: $(STAMP)
	SG_SOAK_SECONDS=$${SG_SOAK_SECONDS:-1200} $(BIN)/python -m pytest -s -q -p no:cacheprovider tests/soak $(ARGS)

.PHONY: bench peers-venv lint
bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/run.py $(ARGS)

peers-venv: $(PEERS_STAMP)

$(PEERS_STAMP): benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/pip install --quiet -r benchmarks/requirements-peers.txt
	touch $(PEERS_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check stream_guard tests benchmarks
	$(BIN)/mypy stream_guard
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_layers.py

# detection quality of stream_guard and the peers on seeded streams with known change points;
# writes benchmarks/detection/RESULTS.md (ARGS=--quick: shorter streams, about 2 minutes)
.PHONY: detection
detection: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/detection/run.py $(ARGS)
