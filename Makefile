# The two front-door commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests use this machine's PostgreSQL and Redis unless told otherwise.
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/masakari} \
	CELERY_BROKER_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} MASAKARI_AUTH=noauth

.PHONY: run test test-rig lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# Without an identity provider (OIDC_ISSUER), a first setup logs in with the
# printed local admin password: the run command turns that on explicitly.
run: $(VENV)/.installed
	$(if $(OIDC_ISSUER),,MASAKARI_LOCAL_LOGIN=$${MASAKARI_LOCAL_LOGIN:-1}) $(PY) manage.py serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: $(VENV)/.installed
	bash .ci/services.sh
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

# End to end against the real Nova of ../shared/rig (installed and started
# when missing). Not part of `make test`: see README.
test-rig: $(VENV)/.installed
	bash .ci/services.sh
	$(TEST_ENV) $(VENV)/bin/pytest -m rig recovery/tests/rig $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
