# The course's two commands:  `make lab` opens the course,  `make test` runs every test.
# Both create the virtual environment .venv from pyproject.toml + constraints.txt first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# -n 2: one pytest worker per core of the CI machine; loadfile keeps a notebook in one kernel.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: lab test env verify clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lrcourse)" >/dev/null
	touch $@

# Jupyter refuses to run as root unless told to (containers, cloud VMs): allow it only there.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: env
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) notebooks/00_index.ipynb

test: env
	$(PY) -m pytest $(PYTEST_ARGS) tests notebooks \
	    --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

verify: env
	$(PY) -m lrcourse verify

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
