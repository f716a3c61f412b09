# The two commands a fresh machine needs:  make report  and  make test.
# Both create .venv on first use; constraints.txt pins torch==2.13.0 (the local CPU build).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUITE  ?= default

.PHONY: report test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

report: $(STAMP)
	$(VENV)/bin/lengthgen report --suite $(SUITE)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) *.egg-info
