# Two entry points, each bootstraps what it needs:
#   make demo   - set up .venv (Python 3.10) and run the whole pipeline on a small trained network
#   make test   - set up .venv and run the test suite
# Re-running on a set-up machine installs nothing: the venv is rebuilt only when pyproject.toml changes.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml
	@PY=$$(tools/find_python310.sh) || exit 1; \
	 echo "bootstrap: creating $(VENV) with $$PY"; \
	 [ -x $(VENV)/bin/python ] || $$PY -m venv $(VENV); \
	 $(VENV)/bin/python -m pip install -q --upgrade pip && \
	 $(VENV)/bin/python -m pip install -q -e '.[test]' && touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neurolearn demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/sim_speed.py

clean-venv:
	rm -rf $(VENV)
