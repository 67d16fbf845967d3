# chainsim: two commands on a fresh machine.
#   make demo   run the balanced scenario for a year and print its summary
#   make test   run the test suite
# Both create .venv/ (with a Python >= 3.12 found by .ci/find-python) if missing.
# make test also installs Debian's chromium (for the workshop's browser test)
# when it is missing; make workshop serves the live page on localhost.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-full validation bench browser workshop venv wheel-check mutants clean

demo: $(STAMP)
	$(VENV)/bin/chainsim run balanced --days 365 --out runs/demo

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist worksteal

test-full: $(STAMP)
	$(PY) -m pytest -n 2 -m full

validation: $(STAMP)
	$(PY) experiments/validation.py

browser:
	@.ci/install-browser

wheel-check: $(STAMP)
	.ci/wheel-smoke

mutants: $(STAMP)
	.ci/mutation-score

workshop: $(STAMP)
	$(VENV)/bin/chainsim workshop

bench: $(STAMP)
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/reference_speed.py
	$(PY) benchmarks/cli_wall.py

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
		python_bin=$$(.ci/find-python) || exit 1; \
		echo "creating $(VENV) with $$python_bin"; \
		$$python_bin -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[workshop,cluster,test]'
	$(PY) -m chainsim.workshop.assets
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis runs rooms sweeps fits build dist mutants
