# buildfleet.mirrors — developer entry points. `make help` lists them.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

VENV        ?= .venv
PY          := $(VENV)/bin/python
BIN         := $(CURDIR)/$(VENV)/bin
# ansible-test installs its pinned sanity tools into the environment it runs
# from: give it one of its own, so they never clash with ansible-lint's.
SANITY_VENV ?= .venv-sanity
# The collection as Ansible sees it: a link from a collections tree to this checkout.
COLL_ROOT   := $(CURDIR)/.build/collections
COLL_LINK   := $(COLL_ROOT)/ansible_collections/buildfleet/mirrors
# ansible-test wants a real directory named ansible_collections/NS/NAME.
SANITY_DIR  := $(CURDIR)/.build/sanity/ansible_collections/buildfleet/mirrors
LAB_LOCK    ?= /tmp/buildfleet-lab.lock
SCENARIOS   ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# The lab's image names and loopback ports (tests/images/lab.env) reach
# Molecule through the environment.
include tests/images/lab.env
export BUILDFLEET_IMAGE_PREFIX BUILDFLEET_REGISTRY_PORT BUILDFLEET_GOPROXY_PORT BUILDFLEET_GOPROXY_TLS_PORT BUILDFLEET_CLOSED_PORT
export BUILDFLEET_REGISTRY_TLS_PORT BUILDFLEET_GOPROXY_AUTH_PORT BUILDFLEET_GOPROXY_LOGIN BUILDFLEET_GOPROXY_PASSWORD
export BUILDFLEET_PYPI_PORT BUILDFLEET_PYPI_TLS_PORT BUILDFLEET_NPM_PORT BUILDFLEET_NPM_TLS_PORT
export BUILDFLEET_PYPI_PACKAGE BUILDFLEET_NPM_PACKAGE BUILDFLEET_NPM_SCOPED_PACKAGE
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export ANSIBLE_FORCE_COLOR := 0
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## this list
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

$(SANITY_VENV)/.installed: requirements-dev.txt
	python3 -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install -q --upgrade pip
	$(SANITY_VENV)/bin/pip install -q "$$(grep '^ansible-core==' requirements-dev.txt)"
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## make the Python virtual environment (.venv)

.PHONY: collection
collection: ## link this checkout into .build/collections as buildfleet.mirrors
	mkdir -p $(dir $(COLL_LINK))
	ln -sfn $(CURDIR) $(COLL_LINK)

.PHONY: engine
engine: ## make sure a Docker engine answers (installs and starts dockerd if needed)
	scripts/docker-engine.sh

.PHONY: images
images: engine ## build the offline lab images (only those whose recipe changed)
	flock /tmp/buildfleet-images.lock tests/images/build.sh

.PHONY: lint
lint: venv collection ## yamllint and ansible-lint
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint

# ansible-test sanity of the ansible-core installed in the virtual environment $(1), on a copy under
# ansible_collections/buildfleet/mirrors; $(2): more ansible-test options.
define run_sanity
	rm -rf $(SANITY_DIR); mkdir -p $(SANITY_DIR)
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(SANITY_DIR)
	# A repository of its own, or ansible-test asks this checkout's git, which ignores .build/.
	git -C $(SANITY_DIR) init -q
	# ansible-test bootstraps pip in each sanity venv with a get-pip.py it downloads from a host of its own,
	# which this network does not reach: a stand-in (ensurepip, then PyPI) takes that script's place in its cache.
	pip_version=$$($(CURDIR)/$(1)/bin/python -c 'from ansible_test._internal.python_requirements import get_venv_packages; print(get_venv_packages(type("Python", (), {"version": "3.11"})())["pip"])')
	get_pip=$$HOME/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	[ -s "$$get_pip" ] || install -D -m 0644 scripts/ansible-test-get-pip.py "$$get_pip"
	# --requirements: ansible-test installs the tool versions it pins (from PyPI) into $(1).
	(cd $(SANITY_DIR) && $(CURDIR)/$(1)/bin/ansible-test sanity --local --requirements --python 3.11 --color no $(2))
endef

.PHONY: sanity
sanity: $(SANITY_VENV)/.installed ## ansible-test sanity on a copy under ansible_collections/buildfleet/mirrors
	$(call run_sanity,$(SANITY_VENV))

.PHONY: unit
unit: venv collection ## pytest for module_utils, modules and filters
	$(BIN)/pytest tests/unit

.PHONY: molecule
molecule: venv collection images ## every Molecule scenario (SCENARIOS="lab ..." to choose)
	# Lab containers share the host's network and fixed ports: one scenario at a time.
	for s in $(SCENARIOS); do flock $(LAB_LOCK) $(BIN)/molecule test -s $$s; done

# The older ansible-core releases that meta/runtime.yml claims (2.19 is the development version above):
# each gets a virtual environment of its own (tests/matrix/requirements-<release>.txt), the unit tests and sanity.
CORE_MATRIX ?= 2.16 2.17 2.18
# ansible-core 2.16 still checks for the Python 2 boilerplate (from __future__ import absolute_import...,
# __metaclass__ = type), which 2.17 dropped with Python 2; the collection's code is Python 3 only, on the
# controller and on the hosts alike.
SANITY_OPTIONS_2.16 := --skip-test future-import-boilerplate --skip-test metaclass-boilerplate

.venv-core-%/.installed: tests/matrix/requirements-%.txt
	python3 -m venv .venv-core-$*
	.venv-core-$*/bin/pip install -q --upgrade pip
	.venv-core-$*/bin/pip install -q -r $<
	touch $@

.PHONY: matrix
matrix: collection $(foreach core,$(CORE_MATRIX),.venv-core-$(core)/.installed) ## unit tests and sanity on every older ansible-core the collection claims
	for core in $(CORE_MATRIX); do
	  echo "=== ansible-core $$core: unit tests"
	  .venv-core-$$core/bin/pytest tests/unit -q -p no:cacheprovider
	done
	$(foreach core,$(CORE_MATRIX),$(call run_sanity,.venv-core-$(core),$(SANITY_OPTIONS_$(core)))
	)

.PHONY: test
# The lab images build (network and disk: debootstrap, downloads) while the layers that need no container run
# (processor: lint, sanity, unit tests, the matrix); Molecule starts when both are done. The build log goes to
# .build/images.log and its end is shown when it fails.
test: venv collection engine ## every layer: lint, package, sanity, unit, molecule
	mkdir -p .build
	flock /tmp/buildfleet-images.lock tests/images/build.sh > .build/images.log 2>&1 & images=$$!
	layers=0; $(MAKE) --no-print-directory lint build sanity unit matrix || layers=$$?
	if ! wait $$images; then tail -n 40 .build/images.log >&2; echo "make test: the lab images failed to build (.build/images.log)" >&2; exit 1; fi
	echo "make test: lab images ready (.build/images.log)"
	[ $$layers = 0 ] || exit $$layers
	$(MAKE) --no-print-directory -o images molecule

.PHONY: build
build: venv ## build the collection tarball and check that no test or lab file is in it
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist
	tarball=$$(ls -t .build/dist/buildfleet-mirrors-*.tar.gz | head -n1)
	if tar -tzf "$$tarball" | grep -E '^(tests|molecule|benchmarks|scripts|\.ci|\.config|\.venv[^/]*|\.build)/'; then
	  echo "$$tarball carries the files above, which build_ignore in galaxy.yml should leave out" >&2; exit 1
	fi
	echo "$$tarball: $$(tar -tzf "$$tarball" | wc -l) entries, no test or lab files"

# make demo, make demo-down and the fleet benchmark
-include scripts/demo.mk
