# `make demo`: on a fresh machine, set up, start the stack, run a worker, replay Online Retail, sync,
# and print the segment table and customer 14646's profile. Each run uses its own app id, topics and
# Redis prefix, so a second run starts from nothing (and leaves the first one's keys alone).
SHELL := /bin/bash
DATA ?= ../shared/data
RUN ?= .run
DEMO := demo-$(shell date +%Y%m%d-%H%M%S)
export RFM_APP_ID ?= rfm-$(DEMO)
export RFM_ORDERS_TOPIC ?= rfm.orders.$(DEMO)
export RFM_CHANGES_TOPIC ?= rfm.segment-changes.$(DEMO)
export RFM_DEAD_LETTER_TOPIC ?= rfm.dead-letter.$(DEMO)
export RFM_REDIS_PREFIX ?= rfm-$(DEMO)
export RFM_DATA_DIR ?= $(RUN)/worker-$(DEMO)

.PHONY: demo test setup stack

# `make test`: the whole suite, unit and integration, against the real Kafka and Redis of `stack up`.
# The unit tests are CPU-bound and share nothing, so they run on both cores (pytest-xdist); the integration
# tests run one at a time, because each already keeps both cores busy with a worker, the broker and a replay,
# and several assert what happens mid-replay. Both runs happen even if the first fails; each ends with its
# slowest tests, so a CI log shows where the time went.
# (The demo's exported names above do not matter to it: every test makes its own.)
test: stack
	python -m pytest -q -n 2 --durations=10 tests/unit; unit=$$?; \
	python -m pytest -q --durations=25 tests/integration; integration=$$?; \
	test $$unit -eq 0 -a $$integration -eq 0

setup:
	@if [ -f scripts/setup.sh ]; then bash scripts/setup.sh; fi

stack: setup
	rfm-stream stack up

demo: stack
	@mkdir -p $(RUN)
	@echo "worker log: $(RUN)/$(DEMO).log"
	@rfm-stream worker > $(RUN)/$(DEMO).log 2>&1 & echo $$! > $(RUN)/$(DEMO).pid; \
	trap 'kill $$(cat $(RUN)/$(DEMO).pid) 2>/dev/null; wait $$(cat $(RUN)/$(DEMO).pid) 2>/dev/null' EXIT; \
	rfm-stream replay $(DATA)/online_retail.csv.gz --format online-retail && \
	rfm-stream sync --timeout 300 && \
	rfm-stream segments && \
	echo && echo "customer 14646:" && rfm-stream customer 14646
