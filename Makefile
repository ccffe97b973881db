# The two commands of the README: `make run` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean clients browser acme-servers acme-clients package synth

$(STAMP): pyproject.toml agent/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "certsight needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,infra]'
	$(BIN)/python -m pip install --quiet -e ./agent  # the endpoint agent: .venv/bin/certsight-agent
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/certsight run

# The test suites use OpenSSL and a JDK as real clients, and strace to see that the
# warehouse swap is fsynced; the project's machines have them, and elsewhere they are
# installed from Debian's packages when possible.
clients:
	@command -v openssl >/dev/null && command -v javac >/dev/null && command -v strace >/dev/null || { \
	  echo "installing openssl, a JDK and strace for the client tests"; \
	  (apt-get update -qq && apt-get install -y -qq openssl default-jdk-headless strace) \
	    || echo "could not install them: the Java client and fsync tests will be skipped"; }

# The dashboard browser tests drive Debian's Chromium (Playwright's own browser download
# is not used); without it they are skipped.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium for the dashboard browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) \
	    || echo "WARNING: could not install chromium: the dashboard browser tests will be SKIPPED"; }

# The upstream-ACME backend tests run against Debian's pebble (an ACME test CA) and its
# pebble-challtestsrv; without them they are skipped.
acme-servers:
	@command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null || { \
	  echo "installing pebble for the upstream-ACME backend tests"; \
	  (apt-get update -qq && apt-get install -y -qq pebble) \
	    || echo "WARNING: could not install pebble: the ACME backend tests will be SKIPPED"; }

# The ACME client tests drive real clients: lego and dehydrated from Debian, and certbot
# from PyPI in a venv of its own (.venv/tools/certbot): it pins its own `acme`, which
# must not replace the one the project pins in .venv. Without them those tests are skipped.
CERTBOT_VENV := $(VENV)/tools/certbot
acme-clients:
	@command -v lego >/dev/null && command -v dehydrated >/dev/null || { \
	  echo "installing lego and dehydrated for the ACME client tests"; \
	  (apt-get update -qq && apt-get install -y -qq lego dehydrated) \
	    || echo "WARNING: could not install lego and dehydrated: their ACME client tests will be SKIPPED"; }
	@test -x $(CERTBOT_VENV)/bin/certbot || { \
	  echo "installing certbot into $(CERTBOT_VENV) for the ACME client tests"; \
	  ($(PYTHON) -m venv $(CERTBOT_VENV) && $(CERTBOT_VENV)/bin/python -m pip install --quiet certbot) \
	    || { rm -rf $(CERTBOT_VENV); echo "WARNING: could not install certbot: its ACME client tests will be SKIPPED"; }; }

test: $(STAMP) clients browser acme-servers acme-clients
	$(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory lint

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# One AWS Lambda zip per deployable unit under dist/ (docs/deployment.md).
package: $(STAMP)
	$(BIN)/certsight package

# The CloudFormation templates of every stack under infra/cdk.out/ (docs/deploy.md),
# from the zips `make package` builds; offline, no CDK CLI, no AWS account. A pipeline
# fills dist/<unit>-pki from its secret store first; where it is missing, a demo CA made
# for the purpose (build/synth-home) stands in, so the templates can be read anyway.
SYNTH_HOME := build/synth-home
synth: package
	@test -d dist/validation-pki || { \
	  echo "dist/validation-pki is missing: using a demo CA from $(SYNTH_HOME) (templates for reading, not for deploying)"; \
	  test -f $(SYNTH_HOME)/pki/ca.json || $(BIN)/certsight ca init --home $(SYNTH_HOME) >/dev/null; \
	  cp -r $(SYNTH_HOME)/pki dist/validation-pki; }
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(BIN)/python -m infra.app

bench: $(STAMP) acme-servers
	$(BIN)/python bench/ocsp_bench.py
	$(BIN)/python bench/crl_bench.py
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/detector_quality.py
	$(BIN)/python bench/warehouse_bench.py
	$(BIN)/python bench/dashboard_bench.py
	$(BIN)/python bench/issuance_bench.py
	$(BIN)/python bench/acme_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
