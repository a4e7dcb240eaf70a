# The two commands of the README:
#   make run   installs everything and starts the dashboard on the demo data, at http://127.0.0.1:8501
#   make test  installs everything (Spark included) and runs the whole test suite
#   make spark installs the optional Spark engine: pyspark and a Java runtime (docs/scale-out.md)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# 127.0.0.1: only this machine. To share on a network: TASTEMAKER_PASSWORD=... make run HOST=0.0.0.0
HOST ?= 127.0.0.1

.PHONY: run test install install-dev browser spark java lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

.deps-stamp: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

.deps-stamp-dev: requirements-dev.txt requirements.txt .deps-stamp
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

install: .deps-stamp
install-dev: .deps-stamp-dev browser

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null; fi; \
	fi

# The optional Spark engine: pyspark (a 456 MB source package built once into a wheel, ~45 s; pip's wheel
# cache makes later installs fast) and Debian's Java runtime when no Java 17+ is found.
JAVA := $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)

.deps-stamp-spark: requirements-spark.txt .deps-stamp
	$(BIN)/python -m pip install -q -r requirements-spark.txt
	touch $@

java:
	@if ! $(JAVA) -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; fi; \
	fi

spark: .deps-stamp-spark java

run: install
	@case "$(HOST)" in \
		127.*|localhost|::1) echo "Tastemaker: open http://$(HOST):$(PORT) (only this machine can reach it)";; \
		*) echo "Tastemaker: listening on $(HOST), port $(PORT): other machines open http://<this machine's name or address>:$(PORT)"; \
		   [ -n "$$TASTEMAKER_PASSWORD" ] || echo "No TASTEMAKER_PASSWORD (or secrets password) set: the app will serve nothing until one is.";; \
	esac
	$(BIN)/python -m streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# TASTEMAKER_REQUIRE_SPARK: the Spark tests fail (instead of skipping) when Spark is missing.
test: install-dev spark
	TASTEMAKER_REQUIRE_SPARK=1 $(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/python -m ruff check recsys ui pages app.py tests benchmarks

# Benchmarks against implicit (docs/benchmarks.md). implicit goes into its own venv under the ignored
# benchmarks/out/, never into the app's .venv. OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (set on some hosts
# for old OpenBLAS builds) slow a current numpy, so they are unset for these commands only.
BENCH_VENV := benchmarks/out/venv
BENCH_RUN := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BENCH_VENV)/bin/python

$(BENCH_VENV)/bin/python:
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -r requirements-bench.txt

bench: $(BENCH_VENV)/bin/python
	$(BENCH_RUN) -m benchmarks.speed --json benchmarks/out/speed.json --markdown benchmarks/out/speed.md
	$(BENCH_RUN) -m benchmarks.quality --curves --json benchmarks/out/quality.json --markdown benchmarks/out/quality.md

# On a machine with a CUDA card: torch only, under five minutes.
bench-gpu: .deps-stamp
	$(BIN)/python -m benchmarks.gpu --json benchmarks/out/gpu.json --markdown benchmarks/out/gpu.md

clean:
	rm -rf $(VENV) .deps-stamp .deps-stamp-dev .deps-stamp-spark
