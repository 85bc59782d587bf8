# Mandate - the two commands a newcomer needs are `make run` and `make test`.
#
#   make run        install what is missing, build, run the daemon as the
#                   development instance in the foreground (Ctrl-C stops it;
#                   SERVE_ARGS="--listen 127.0.0.1:8701" to move it)
#   make demo       build, then show `mandate check` on the example policies
#   make test       install, build, run every test (also under ASan+UBSan);
#                   ends with "N passed, M failed"
#   make bench      benchmarks (not tests): decisions/s and latency, then
#                   token exchanges/s over HTTP (bench/sts_bench.sh), AuthZEN
#                   evaluations/s next to nginx (bench/authzen_bench.sh),
#                   audited vs unaudited decisions/s (bench/audit_bench.sh),
#                   task-bound vs plain evaluations/s (bench/task_bench.sh)
#   make agentdojo  replay AgentDojo's tool calls through the daemon and print
#                   utility and security per suite (examples/agentdojo/)
#   make difftest N=100000 SEED=1   differential test against cedar-wasm
#                 (GEN=2: the second generator, tests/diff/gen2.js)
#   make fuzz FUZZ_SECONDS=60       libFuzzer on every parser (clang)
#   make build | clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
N          ?= 10000
SEED       ?= 1
GEN        ?= 1
N2         ?= 3000
FUZZ_SECONDS ?= 30
PYTHON     := /usr/bin/python3

.PHONY: all deps build run demo test test-fast test-asan test-tsan difftest bench fuzz clean \
	agentdojo

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The development instance: no configuration, 127.0.0.1:8700, data in
# ./mandate-data/; its start-up message lists the walkthrough's commands.
run: build
	@echo "== mandate serve (development instance); Ctrl-C stops it"
	@echo "== in a second terminal: export PATH=\"$(CURDIR)/$(BUILD)/src:\$$PATH\""
	@exec $(BUILD)/src/mandate serve $(SERVE_ARGS)

demo: build
	@scripts/demo $(BUILD)/src/mandate

# Every suite runs even if an earlier one fails, so the summary counts all.
test: build
	@rm -f $(BUILD)/difftest.log $(BUILD)/difftest2.log
	@meson test -C $(BUILD) --print-errorlogs --num-processes 2 || true
	@$(MAKE) --no-print-directory test-asan || true
	@$(MAKE) --no-print-directory test-tsan || true
	@$(MAKE) --no-print-directory difftest N=$(N) SEED=$(SEED) \
	    > $(BUILD)/difftest.log 2>&1 || true
	@tail -n 5 $(BUILD)/difftest.log
	@$(MAKE) --no-print-directory difftest N=$(N2) SEED=$(SEED) GEN=2 \
	    > $(BUILD)/difftest2.log 2>&1 || true
	@tail -n 5 $(BUILD)/difftest2.log
	@echo "== summary"
	@$(PYTHON) scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
	    $(ASAN_BUILD)/meson-logs/testlog.json \
	    $(TSAN_BUILD)/meson-logs/testlog.json -x $(BUILD)/difftest.log \
	    -x $(BUILD)/difftest2.log

test-fast: build
	meson test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args=-fno-sanitize-recover=undefined

test-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
	    --timeout-multiplier 4

# ThreadSanitizer on the tests that share state between threads: one policy
# set (threads, authorize) and the daemon's snapshots, PIP overlay and group
# commit under concurrent HTTP requests and reloads (concurrency), held
# answers released from other threads (http, and on the wire: http_wire),
# the audit writer's callbacks (audit_writer) and the token service's
# caches (sts)
$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) --buildtype=debug -Db_sanitize=thread \
	    -Db_lundef=false

test-tsan: deps $(TSAN_BUILD)/build.ninja
	ninja -C $(TSAN_BUILD) tests/threads_test tests/authorize_test \
	    tests/concurrency_test tests/http_test tests/http_wire_test \
	    tests/audit_writer_test \
	    tests/sts_test
	TSAN_OPTIONS=halt_on_error=1 \
	    meson test -C $(TSAN_BUILD) --no-rebuild --print-errorlogs \
	    threads authorize concurrency http http_wire audit_writer sts

difftest: build
	node tests/diff/difftest.js --cli $(BUILD)/src/mandate -n $(N) --seed $(SEED) --gen $(GEN)

# AgentDojo replay (examples/agentdojo/README.md); AGENTDOJO_DATA names the
# data directory when it is not ../shared/testdata/agentdojo
agentdojo: build
	$(PYTHON) tests/e2e/agentdojo_replay.py --bin $(BUILD)/src/mandate

bench: build
	bench/run.sh $(BUILD)
	@echo
	bench/sts_bench.sh $(BUILD)
	@echo
	bench/authzen_bench.sh $(BUILD)
	@echo
	bench/audit_bench.sh $(BUILD)
	@echo
	bench/task_bench.sh $(BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized \
	    -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@for f in $(FUZZ_BUILD)/tests/fuzz/fuzz_*; do \
	    [ -f "$$f" ] && [ -x "$$f" ] || continue; \
	    name=$${f##*/fuzz_}; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	    echo "== fuzz $$name ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	        $(FUZZ_BUILD)/corpus/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
