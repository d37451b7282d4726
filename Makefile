# The two front-door commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests use this machine's PostgreSQL and Redis unless told otherwise.
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/masakari} \
	CELERY_BROKER_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} MASAKARI_AUTH=noauth

.PHONY: run test test-rig test-chaos lint clean

# Running needs the service's own dependencies only; the tests add theirs.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# A first setup, without Keystone or an identity provider: the run command
# explicitly turns on password logins (the printed local admin) unless
# OIDC_ISSUER is set, and an open API (noauth) unless KEYSTONE_AUTH_URL or
# OIDC_ISSUER is set. Neither is on by default anywhere else.
run: $(VENV)/.installed
	$(if $(OIDC_ISSUER),,MASAKARI_LOCAL_LOGIN=$${MASAKARI_LOCAL_LOGIN:-1}) \
	$(if $(KEYSTONE_AUTH_URL)$(OIDC_ISSUER),,MASAKARI_AUTH=$${MASAKARI_AUTH:-noauth}) \
	$(PY) manage.py serve

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

# Everything: the suite (the rig's end-to-end tests included), then the chaos
# suite; with PYTEST_ARGS only the suite, as those arguments select.
test: $(VENV)/.installed-test
	bash .ci/services.sh
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,$(TEST_ENV) $(VENV)/bin/pytest -m chaos recovery/tests/chaos)

# Only the end-to-end suite against the real Nova of ../shared/rig (installed
# and started when missing); `make test` runs it too.
test-rig: $(VENV)/.installed-test
	bash .ci/services.sh
	$(TEST_ENV) $(VENV)/bin/pytest recovery/tests/rig $(PYTEST_ARGS)

# Only the chaos suite: rig recoveries while workers, the broker, the
# database or Nova's API fail (10-15 minutes; `make test` ends with it).
test-chaos: $(VENV)/.installed-test
	bash .ci/services.sh
	$(TEST_ENV) $(VENV)/bin/pytest -m chaos recovery/tests/chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
