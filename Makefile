# The course's two commands:  `make lab` opens the course,  `make test` runs every test.
# Both create the virtual environment .venv from pyproject.toml + constraints.txt first
# (the dev extra for the tests, book for `make book` and its browser test, grading for nbgrader's test).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# -n 2: one pytest worker per core of the CI machine; loadfile keeps a notebook in one kernel;
# --no-loadscope-reorder: files in conftest.py's order (longest first), not pytest-xdist's (most tests first).
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: lab test env verify clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,book,grading]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lrcourse)" >/dev/null
	@# nbgrader (for the instructors' route and its test) adds panels to JupyterLab: off for learners
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	$(VENV)/bin/jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader \
	    nbgrader.server_extensions.validate_assignment nbgrader.server_extensions.assignment_list \
	    nbgrader.server_extensions.course_list >/dev/null 2>&1
	touch $@

# Jupyter refuses to run as root unless told to (containers, cloud VMs): allow it only there.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Served from the repository root, so lessons, exercises and solutions all open from the index.
lab: env
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" notebooks/00_index.ipynb

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

# 1. lint; 2. every test, doctest and notebook (lessons and solutions under nbval; the exercises
#    run fresh in tests/test_exercises.py, which also checks that every tagged cell fails);
# 3. at the same time, the lessons and solutions again with NumPy, OpenBLAS and torch on other CPU
#    kernels than the host's best (tools/cpu_paths.py): a checked output must not depend on the CPU.
#    --text-only: its kernels show figures as text, as nbval compares them, without drawing PNGs.
#    Run beside 2 so that it fills the cores while 2's longest files finish; its report follows 2's.
#    One process (-n 0): a third stream of work beside 2's two workers is enough to fill the cores, and a
#    fourth only added contention (make test 318-319 -> 303-304 s, 595-605 -> 575-577 core-s, consecutive runs).
test: env
	$(PY) -m ruff check .
	@other=$$(mktemp); \
	$(PY) tools/cpu_paths.py run --text-only -- $(PY) -m pytest -n 0 $(NBVAL) -p no:cacheprovider -q notebooks solutions \
	    >"$$other" 2>&1 & pid=$$!; \
	echo "$(PY) -m pytest $(PYTEST_ARGS) $(NBVAL) --doctest-modules tests lrcourse notebooks solutions"; \
	$(PY) -m pytest $(PYTEST_ARGS) $(NBVAL) --doctest-modules tests lrcourse notebooks solutions; main=$$?; \
	wait $$pid; second=$$?; cat "$$other"; rm -f "$$other"; \
	echo "make test: main run exit $$main, second-CPU pass exit $$second"; \
	exit $$(( main != 0 || second != 0 ))

verify: env
	$(PY) -m lrcourse verify

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The course website: build/book/index.html (opens from disk or any static host), from the committed
# notebooks as they are, never executed. `make book SOLUTIONS=1` adds the solution notebooks.
.PHONY: book
book: env
	$(PY) tools/build_book.py --out build/book $(if $(filter 1,$(SOLUTIONS)),--solutions)
