# make demo, make demo-down, make bench-fleet and make bench-audit. The Makefile includes this
# file, so its variables (BIN, PY, the lab's exported ports and collections
# path) and the lab images' targets apply here.

.PHONY: demo
demo: venv collection images ## the README's first command: a lab fleet, site.yml applied, the proof; KEEP=1 leaves the fleet up
	KEEP=$(KEEP) scripts/demo.sh up

.PHONY: demo-down
demo-down: ## tear down the fleet that `make demo KEEP=1` left up
	scripts/demo.sh down

.PHONY: bench-fleet
bench-fleet: venv collection images ## fleet benchmark (not a test): site.yml on 9 build servers vs fact gathering
	$(PY) benchmarks/fleet_bench.py $(BENCH_ARGS)

.PHONY: bench-audit
bench-audit: venv collection images ## audit benchmark (not a test): buildfleet.mirrors.audit on 9 build servers vs fact gathering
	$(PY) benchmarks/audit_bench.py $(BENCH_ARGS)
