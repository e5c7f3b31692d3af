# SampleVAE Workbench: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What ruff lints: the code, the tests, the scripts and the notebooks' sources.
LINT := samplevae widgets tests bench scripts notebooks

.PHONY: demo test lab install browser lint notebooks bench clean

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
	$(PY) -m ruff check $(LINT)
	$(PY) -m ruff format --check $(LINT)
	$(PY) -m pytest -q --timeout=900

lab: $(STAMP)
	$(VENV)/bin/samplevae demo --out demo_out --no-report
	cd notebooks && SAMPLEVAE_DEMO_DIR=$(CURDIR)/demo_out ../$(VENV)/bin/jupyter lab \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

lint: $(STAMP)
	$(PY) -m ruff check $(LINT)
	$(PY) -m ruff format --check $(LINT)

# notebooks/*.py (jupytext's percent format) are the source of the notebooks: write each
# paired .ipynb from its .py (cell ids and metadata kept), then clear its outputs.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --update --to ipynb notebooks/*.py
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level=WARN notebooks/*.ipynb

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out samplevae_workspace

.PHONY: test-browser
test-browser: $(STAMP) browser
	$(PY) -m pytest tests/browser -m browser -v --timeout=900
