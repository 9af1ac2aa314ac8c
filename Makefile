# gobuild-operator: `make run` and `make test` are the two commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export GOTOOLCHAIN := local

OPERATOR_ARGS ?= --register-webhook --webhook-addr=127.0.0.1 --webhook-host=127.0.0.1 --webhook-port=9443 --metrics-addr=127.0.0.1 --metrics-port=8080

.PHONY: help venv binaries cluster-up cluster-down run lint unit integration lifecycle e2e e2e-setup test bench clean generate

help:
	@echo "make run          the operator + webhook (on a local control plane unless KUBECONFIG is set)"
	@echo "make test         lint, unit, integration and e2e tests on the local control plane"
	@echo "make cluster-up   start the local cluster (control plane + one real node) in the background"
	@echo "make cluster-down stop it, remove its state and restore what it changed on the host"
	@echo "make generate     write crds/ and the generated docs tables from the API model"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

binaries: venv
	$(PY) -m localcluster build

cluster-up: venv
	$(PY) -m localcluster up --state-dir .cluster

cluster-down: venv
	$(PY) -m localcluster down --state-dir .cluster

run: binaries
	@if [ -n "$$KUBECONFIG" ]; then \
	  echo "using the cluster KUBECONFIG names: $$KUBECONFIG"; \
	  kubectl apply --server-side --force-conflicts -f crds/ && \
	  exec $(PY) -m gobuild_operator run $(OPERATOR_ARGS); \
	else \
	  exec $(PY) -m localcluster run --state-dir .cluster -- bash -c \
	    'kubectl apply --server-side --force-conflicts -f crds/ && \
	     echo "try:  kubectl apply -f examples/gobuildconfig-basic.yaml -f examples/job-opted-in.yaml" && \
	     exec $(PY) -m gobuild_operator run $(OPERATOR_ARGS)'; \
	fi

lint: venv
	$(PY) -m ruff check operator devtools tests bench scripts
	$(PY) -m ruff format --check operator devtools tests bench scripts
	$(PY) -m mypy operator/gobuild_operator devtools/localcluster
	$(VENV)/bin/lint-imports

# The CRD and the generated docs tables, from the API model and the reason registry.
generate: venv
	$(PY) -m gobuild_operator.generate

unit: venv
	$(PY) -m pytest tests/unit -q

integration: binaries
	$(PY) -m pytest tests/integration -q

lifecycle: binaries
	$(PY) -m pytest tests/lifecycle -q

e2e-setup: venv
	$(PY) tests/e2e/modules.py

e2e: binaries e2e-setup
	$(PY) -m pytest tests/e2e -q

test: lint binaries e2e-setup
	$(PY) -m pytest tests/lifecycle -q
	$(PY) -m pytest tests -q --ignore=tests/lifecycle

BENCH_ARGS ?= --repeat 2 --decompose

bench: binaries
	$(PY) bench/admission.py $(BENCH_ARGS)
	$(PY) bench/status_burst.py --pods 1000

clean:
	-$(PY) -m localcluster down --state-dir .cluster
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
