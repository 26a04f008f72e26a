# Two commands matter: `make run` (the service, demo flow, embedded defaults) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test unit e2e setup asterisk system-deps check-flows clean

run: setup asterisk
	$(PY) -m common.cli run

test: setup asterisk system-deps
	$(PY) -m pytest -ra

unit: setup
	$(PY) -m pytest -ra -m "not e2e"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,tts]'
	@touch $(STAMP)

asterisk: setup
	$(PY) -m common.cli provision-asterisk

# Real SIP callers for the end-to-end tests, the prompt renderer's tools, and the headless
# browser the page tests drive (Debian's chromium, through Playwright).
system-deps:
	@command -v sipp >/dev/null && command -v espeak-ng >/dev/null && command -v sox >/dev/null && \
	  { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester espeak-ng sox chromium; }

check-flows: setup
	$(VENV)/bin/ivr flow lint
	$(VENV)/bin/ivr flow test

clean:
	-umount .run/asterisk-root/proc 2>/dev/null
	rm -rf .run $(VENV)
