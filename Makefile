# The two commands a new user needs (see README):
#   make report   set everything up, verify the fence variants, write the report
#   make test     set up what the tests need and run them
PY := .venv/bin/python

.PHONY: report test bench diagrams

report:
	scripts/bootstrap
	$(PY) -m sessionfence verify --all --controllers 2; s=$$?; \
	$(PY) -m sessionfence report --all --out build/report || s=$$?; exit $$s

test:
	scripts/bootstrap --test
	$(PY) -m pytest

bench:
	scripts/bootstrap --bench
	$(PY) benchmarks/run_all.py

diagrams:
	scripts/bootstrap
	$(PY) -m sessionfence diagram --regenerate-docs
