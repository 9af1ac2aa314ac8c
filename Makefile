# gobuild-operator: `make run` and `make test` are the two commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The local cluster's tools (devtools/localcluster) are the repository's, not part of the product's
# wheel or image: Python finds them here.
export PYTHONPATH := $(CURDIR)/devtools$(if $(PYTHONPATH),:$(PYTHONPATH))
export GOTOOLCHAIN := local

# The host's resolver is not on this machine: a process-mode operator probes addresses only.
OPERATOR_ARGS ?= --register-webhook --webhook-addr=127.0.0.1 --webhook-host=127.0.0.1 --webhook-port=9443 \
  --metrics-addr=127.0.0.1 --metrics-port=8080 --probe-hosts=127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,localhost

.PHONY: help prereqs venv setup binaries images image cluster-up cluster-down run run-local monitoring lint unit fuzz integration lifecycle install-test e2e e2e-setup test bench bench-cache clean generate

# WITH_MONITORING=1: `make run` also builds Prometheus and runs it in the local cluster, scraping
# the operator and evaluating the chart's alerts (docs/monitoring.md).
WITH_MONITORING ?=
MONITORING_FLAG := $(if $(filter-out 0 no false,$(WITH_MONITORING)),--with-monitoring)

help:
	@echo "make run          install the operator with its chart (on the local cluster unless KUBECONFIG is set);"
	@echo "                  WITH_MONITORING=1 adds Prometheus with the chart's alerts"
	@echo "make prereqs      check (as root: install) what a fresh machine needs: Go, Python, Debian packages, disk, cgroups"
	@echo "make monitoring   Prometheus in the running local cluster (make cluster-up), with the chart's alerts"
	@echo "make run-local    the operator as a local process (quick development)"
	@echo "make test         lint, unit, integration and e2e tests on the local control plane"
	@echo "make cluster-up   start the local cluster (control plane + one real node; NODES=2 for two) in the background"
	@echo "make cluster-down stop it, remove its state and restore what it changed on the host"
	@echo "make generate     write crds/ and the generated docs tables from the API model"
	@echo "make fuzz         10,000 hostile workloads and configs through admission, in process"

# Before anything is built: Go and Python versions, the Debian packages of devtools/packages.txt
# (installed with one apt-get line as root, else the command is printed), free disk, cgroups. The
# system's Python runs it (it needs only the standard library), so it also runs before .venv exists.
prereqs:
	@$(PYTHON) -m localcluster.prereqs $(if $(KUBECONFIG),--existing-cluster)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

binaries: venv
	$(PY) -m localcluster build $(MONITORING_FLAG)

# Everything `make run` builds (binaries, images, the operator's image), Go builds and images side by
# side, with an estimate and progress; a second run finds it all cached.
setup: prereqs venv
	$(PY) -m localcluster setup $(MONITORING_FLAG)

# The node's container images (pause, debian, golang 1.26/1.27, golang nonroot) as docker-archives;
# built once as root with mmdebstrap and real Go releases, then found in the cache.
images: venv
	$(PY) -m localcluster images

# The operator's image, built from the top-level Dockerfile by BuildKit (devtools/localcluster/buildkit.py).
image: venv
	$(PY) -m localcluster operator-image

# Nodes of the local cluster that cluster-up and run start (each in its own namespaces; with more
# than one, volumes are node-local ReadWriteOnce, as on managed clusters).
NODES ?= 1

cluster-up: venv
	$(PY) -m localcluster up --state-dir .cluster --nodes $(NODES)

cluster-down: venv
	$(PY) -m localcluster down --state-dir .cluster

# The product as users install it: the local cluster (unless KUBECONFIG names one), the operator's
# image and `helm upgrade --install` of the chart, then the operator's log until Ctrl-C.
FOLLOW := kubectl -n gobuild-system logs -f --prefix --max-log-requests=4 -l app.kubernetes.io/name=gobuild-operator
run: prereqs
	@if [ -n "$$KUBECONFIG" ]; then \
	  $(MAKE) --no-print-directory venv binaries && \
	  $(PY) -m localcluster install $(MONITORING_FLAG) && exec $(FOLLOW); \
	else \
	  $(MAKE) --no-print-directory setup && \
	  exec $(PY) -m localcluster run --state-dir .cluster --nodes $(NODES) --install $(MONITORING_FLAG) -- $(FOLLOW); \
	fi

# Prometheus (built from its Go module) in the running local cluster (`make cluster-up`), scraping the
# operator with the chart's scrape configuration and evaluating the chart's alerts.
monitoring: venv
	$(PY) -m localcluster monitoring --state-dir .cluster

# Quick development: the operator as a local process against the local cluster, its webhook
# registered at https://127.0.0.1:9443 (the API server runs on this machine too).
run-local: binaries
	@if [ -n "$$KUBECONFIG" ]; then \
	  kubectl apply --server-side --force-conflicts -f crds/ && \
	  exec $(PY) -m gobuild_operator run $(OPERATOR_ARGS); \
	else \
	  exec $(PY) -m localcluster run --state-dir .cluster -- bash -c \
	    'kubectl apply --server-side --force-conflicts -f crds/ && \
	     exec $(PY) -m gobuild_operator run $(OPERATOR_ARGS)'; \
	fi

lint: venv
	$(PY) -m ruff check operator devtools tests bench scripts
	$(PY) -m ruff format --check operator devtools tests bench scripts
	$(PY) -m mypy operator/gobuild_operator devtools/localcluster devtools/monitoring devtools/chartschema.py
	$(VENV)/bin/lint-imports

# The CRD and the generated docs tables, from the API model and the reason registry; the chart's
# values.schema.json from its annotated values.yaml; manifests/ from the chart.
generate: venv
	$(PY) -m gobuild_operator.generate
	$(PY) -m monitoring.generate
	$(PY) devtools/chartschema.py
	$(PY) -m localcluster manifests

unit: venv
	$(PY) -m pytest tests/unit -q

# The admission fuzzer at full size, with hostile texts of 1 MiB (make unit: 1000 examples, 128 KiB).
FUZZ_EXAMPLES ?= 10000
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_LARGEST=1048576 $(PY) -m pytest tests/unit/test_fuzz_admission.py -q -s

integration: binaries
	$(PY) -m pytest tests/integration -q

lifecycle: binaries
	$(PY) -m pytest tests/lifecycle -q

# The operator installed with its chart on the local cluster (a session of its own: the in-cluster
# operator must not run beside the host-process one the other suites start).
install-test: binaries
	$(PY) -m pytest tests/install -q

e2e-setup: venv
	$(PY) tests/e2e/modules.py

e2e: binaries e2e-setup
	$(PY) -m pytest tests/e2e -q

test: prereqs lint e2e-setup
	$(PY) -m localcluster setup --with-monitoring --all-images
	$(PY) -m pytest tests/lifecycle -q
	$(PY) -m pytest tests -q --ignore=tests/lifecycle --ignore=tests/install
	$(PY) -m pytest tests/install -q

BENCH_ARGS ?= --repeat 2 --decompose

bench: binaries
	$(PY) bench/complexity.py
	$(PY) bench/diagnosis.py
	$(PY) bench/admission.py $(BENCH_ARGS)
	$(PY) bench/status_burst.py --pods 1000

# go mod download of a large real graph through the module cache, beside the static mirror it
# reads (the floor) and nginx proxy_cache where nginx is installed (docs/cache.md#the-numbers).
# The first run downloads the graph once from the Go module proxy; later runs are offline.
BENCH_CACHE_ARGS ?= --repeat 3 --concurrency 20
bench-cache: venv
	$(PY) bench/cache.py $(BENCH_CACHE_ARGS) $(if $(wildcard /usr/sbin/nginx),,--skip-nginx)

clean:
	-$(PY) -m localcluster down --state-dir .cluster
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
