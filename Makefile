# SampleVAE Workbench: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lab install browser lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

browser:
	bash scripts/install_browser.sh

demo: $(STAMP)
	$(VENV)/bin/samplevae demo --out demo_out

test: $(STAMP) browser
	$(PY) -m ruff check samplevae widgets tests bench
	$(PY) -m pytest -q --timeout=900

lab: $(STAMP)
	$(VENV)/bin/samplevae demo --out demo_out --no-report
	cd notebooks && SAMPLEVAE_DEMO_DIR=$(CURDIR)/demo_out ../$(VENV)/bin/jupyter lab \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

lint: $(STAMP)
	$(PY) -m ruff check samplevae widgets tests bench

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out samplevae_workspace

.PHONY: test-browser
test-browser: $(STAMP) browser
	$(PY) -m pytest tests/browser -m browser -v --timeout=900
