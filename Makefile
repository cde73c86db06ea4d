# Two entry points, each bootstraps what it needs:
#   make demo   - set up .venv (Python 3.10 with Lava) and run the whole pipeline on a small trained network
#   make test   - set up .venv and run the test suite (Lava's bit-exactness tests included)
# And the same suite on current Python without Lava (what .ci/run runs second):
#   make test-modern - set up .venv-modern (Python 3.12, or the newest found) without Lava and run the suite
#   make docs        - build the documentation site (mkdocs.yml -> site/) with --strict: any warning fails
# Re-running on a set-up machine installs nothing: a venv is rebuilt only when pyproject.toml changes.
VENV := .venv
STAMP := $(VENV)/.installed
MODERN := .venv-modern
MODERN_STAMP := $(MODERN)/.installed

.PHONY: demo test test-modern docs bench clean-venv

$(STAMP): pyproject.toml
	@PY=$$(tools/find_python.sh 3.10) || exit 1; \
	 echo "bootstrap: creating $(VENV) with $$PY"; \
	 [ -x $(VENV)/bin/python ] || $$PY -m venv $(VENV); \
	 $(VENV)/bin/python -m pip install -q --upgrade pip && \
	 $(VENV)/bin/python -m pip install -q --no-cache-dir -e '.[lava,test,sweep,neurobench,docs]' && touch $(STAMP)

$(MODERN_STAMP): pyproject.toml
	@PY=$$(tools/find_python.sh modern) || exit 1; \
	 echo "bootstrap: creating $(MODERN) with $$PY (no Lava)"; \
	 [ -x $(MODERN)/bin/python ] || $$PY -m venv $(MODERN); \
	 $(MODERN)/bin/python -m pip install -q --upgrade pip && \
	 $(MODERN)/bin/python -m pip install -q --no-cache-dir -e '.[test,sweep,neurobench,docs]' && touch $(MODERN_STAMP)

demo: $(STAMP)
	$(VENV)/bin/neurolearn demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-modern: $(MODERN_STAMP)
	$(MODERN)/bin/python -m pytest -q

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/sim_speed.py

clean-venv:
	rm -rf $(VENV) $(MODERN)
