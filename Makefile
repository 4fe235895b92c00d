# Everyday commands. `make install test lint bench`.
PY ?= python

install:
	$(PY) -m pip install -e ".[test,oracle]"

test:
	$(PY) -m pytest

test-ci:
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest

lint:
	ruff check .
	ruff format --check .

format:
	ruff format .
	ruff check --fix .

bench:
	$(PY) benchmarks/bench_overhead.py
	$(PY) benchmarks/bench_kernels.py

.PHONY: install test test-ci lint format bench
