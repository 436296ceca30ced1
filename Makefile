# tidal - make builds, make test tests, make demo shows, make bench measures.
# Builds go to build/. CC, CXX and CFLAGS may be overridden: make CC=clang test

CC ?= cc
CXX ?= c++
CLANG ?= clang
OPT ?= -O2 -g
STRICT = -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS ?= $(OPT)
SAN = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
B = build
HDR = tidal.h
TESTS = test_core test_first_time test_blake3 test_parse test_sim_disk test_sim_net test_durability test_replication test_multiregion test_migration test_uat
TESTS += test_first_lock test_first_errors test_first_forget test_snapshot test_first_schema test_profile
TESTS += test_control test_flat test_flat_spill test_smoke test_collect test_node test_gather test_move test_node_calls
TESTS += test_restore test_tcp test_member test_membership
TESTS += test_shell
TESTS += test_resp
TESTS += test_idem test_cluster
TESTS += test_ship_early
EXAMPLES = quickstart durable demo tidald cluster
FUZZERS = fuzz_query fuzz_wal fuzz_snapshot fuzz_message fuzz_merge fuzz_export fuzz_event fuzz_config
FUZZERS += fuzz_control fuzz_peer fuzz_frame
FUZZERS += fuzz_resp

.PHONY: all test test-build demo cluster bench fuzz fuzz-ci sanitize matrix props clean explore fuzz-speed mutants
.PHONY: fuzz-speed-ci

all: $(B)/tidal $(addprefix $(B)/,$(TESTS) $(EXAMPLES)) $(addprefix $(B)/replay_,$(FUZZERS))

$(B):
	mkdir -p $(B)

$(B)/test_%: tests/test_%.c $(HDR) tidal_sim.h tests/*.h fuzz/fuzz_common.h fuzz/fuzz_alloc.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< -lm

$(B)/asan_test_%: tests/test_%.c $(HDR) tidal_sim.h tests/*.h fuzz/fuzz_common.h fuzz/fuzz_alloc.h | $(B)
	$(CC) $(STRICT) $(SAN) -o $@ $< -lm

# test_flat_spill is test_flat with the bucket count limit lowered.
$(B)/test_flat_spill $(B)/asan_test_flat_spill: tests/test_flat.c

$(B)/%: examples/%.c $(HDR) tidal_sim.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< -lm
$(B)/demo: tests/uat_scenario.h
$(B)/tidald: examples/tidald_resp.h
# test_resp runs build/tidald as a process (and includes its protocol header).
$(B)/test_resp $(B)/asan_test_resp: examples/tidald_resp.h $(B)/tidald
# test_cluster and cluster (make cluster) run six of them through the same scenario.
$(B)/cluster: examples/tidald_proc.h examples/cluster_scenario.h $(B)/tidald
$(B)/test_cluster $(B)/asan_test_cluster: examples/tidald_proc.h examples/cluster_scenario.h $(B)/tidald

# The shell (examples/tidal_shell.c) is the tool `tidal`; test_shell runs it, and its ASan
# build runs asan_tidal.
$(B)/tidal: examples/tidal_shell.c $(HDR) | $(B)
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< -lm
$(B)/asan_tidal: examples/tidal_shell.c $(HDR) | $(B)
	$(CC) $(STRICT) $(SAN) -o $@ $< -lm
$(B)/test_shell: $(B)/tidal
$(B)/asan_test_shell: $(B)/asan_tidal

$(B)/replay_%: fuzz/%.c fuzz/replay_main.c $(HDR) tidal_sim.h fuzz/*.h | $(B)
	$(CC) $(STRICT) $(SAN) -o $@ fuzz/$*.c fuzz/replay_main.c -lm

$(B)/prop_%: props/prop_%.c props/prop_common.h $(HDR) tidal_sim.h tests/tidal_test.h | $(B)
	$(CC) $(STRICT) $(CFLAGS) -o $@ $< -lm

$(B)/asan_prop_%: props/prop_%.c props/prop_common.h $(HDR) tidal_sim.h tests/tidal_test.h | $(B)
	$(CC) $(STRICT) $(SAN) -o $@ $< -lm

# FUZZ_O: the optimisation of every libFuzzer build (libfuzz_, cifuzz_, make mutants). -O2
# was measured and is not the default: replaying one fixed set of inputs it takes 13% (export)
# and 8% (merge) less CPU, but in a fuzzing run it explores other inputs (inlining merges
# edges: 8% fewer features) and the rate fuzz-speed-ci prints was no better (means of three
# interleaved 20 s runs at load 3-4: export 241/s at -O1, 250/s at -O2; merge 775/s, 752/s).
# make mutants catches all three either way.
FUZZ_O ?= -O1
# BLAKE3 is not instrumented for coverage (fuzz/coverage_ignore.txt): a hash's branches say
# nothing about the input's structure, and tracing its compares cost a quarter of some
# targets' time. It keeps its ASan and UBSan checks.
$(B)/libfuzz_%: fuzz/%.c $(HDR) tidal_sim.h fuzz/*.h fuzz/coverage_ignore.txt | $(B)
	$(CLANG) -g $(FUZZ_O) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -fsanitize-coverage-ignorelist=fuzz/coverage_ignore.txt -o $@ fuzz/$*.c -lm

# What fuzz-ci and make mutants run: the same, without comparison tracing. They run with
# -use_cmp=0 (and no value profile), where libFuzzer records the traced operands but never
# mutates with them, so the traces were pure cost (a quarter to a third of the time of
# fuzz_merge and fuzz_export); the edge coverage that guides them is the same (checked:
# merge:3600 and export:300 write the very same new inputs either way; merge:3600 took
# 9.9 s of CPU with the traces, 5.9 s without).
FUZZ_CI_COV = -fno-sanitize-coverage=trace-cmp
$(B)/cifuzz_%: fuzz/%.c $(HDR) tidal_sim.h fuzz/*.h fuzz/coverage_ignore.txt | $(B)
	$(CLANG) -g $(FUZZ_O) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(FUZZ_CI_COV) -fsanitize-coverage-ignorelist=fuzz/coverage_ignore.txt -o $@ fuzz/$*.c -lm

# Everything make test runs; tests/run.sh sums the results into "N passed, N failed".
PROPS = prop_replication prop_multiregion prop_migration

# Link builds: code generation of the whole implementation in every test was most of make
# test's time, so the implementation of tidal.h and tidal_sim.h is compiled once per flavour
# (plain, ASan+UBSan) into objects the tests, props and fuzz replays link. Each is compiled
# against a generated header (tests/link.sh, tests/link.awk): tidal.h with the function
# bodies replaced by prototypes and the private functions and data external, given with
# -include, so the sources are the same for both builds. Programs that set a configuration
# macro before including the header stay on the full header (tests/link.sh guard refuses
# them), and so do the examples, the benches, the libFuzzer targets and the compile matrix.
# make LINK= test builds everything on the full header as before (from a clean build/).
LINK ?= 1
L = $(B)/link
FULL_TESTS = test_durability test_first_schema test_replication test_node_calls test_flat_spill test_member
FULL_REPLAYS = fuzz_export
LINK_TESTS = $(if $(LINK),$(filter-out $(FULL_TESTS),$(TESTS)))
LINK_PROPS = $(if $(LINK),$(PROPS))
LINK_REPLAYS = $(if $(LINK),$(filter-out $(FULL_REPLAYS),$(FUZZERS)))
LINK_GEN = tests/link.sh tests/link.awk

$(L)/%.h $(L)/%_impl.c: %.h $(LINK_GEN)
	sh tests/link.sh gen $*.h $(L)
$(L)/tidal_impl.o: $(L)/tidal_impl.c
	$(CC) $(STRICT) $(CFLAGS) -c -o $@ $<
$(L)/tidal_sim_impl.o: $(L)/tidal_sim_impl.c $(L)/tidal.h
	$(CC) $(STRICT) $(CFLAGS) -c -o $@ $<
$(L)/asan_tidal_impl.o: $(L)/tidal_impl.c
	$(CC) $(STRICT) $(SAN) -c -o $@ $<
$(L)/asan_tidal_sim_impl.o: $(L)/tidal_sim_impl.c $(L)/tidal.h
	$(CC) $(STRICT) $(SAN) -c -o $@ $<
$(L)/asan_replay_main.o: fuzz/replay_main.c | $(L)/tidal.h
	$(CC) $(STRICT) $(SAN) -c -o $@ $<

LINK_OBJS = $(L)/tidal_impl.o $(L)/tidal_sim_impl.o
ASAN_LINK_OBJS = $(L)/asan_tidal_impl.o $(L)/asan_tidal_sim_impl.o
# The generated headers a source needs: tidal_sim.h's only when it includes tidal_sim.h.
LINK_INC = -include $(L)/tidal.h $(if $(shell grep -l 'tidal_sim\.h' $<),-include $(L)/tidal_sim.h)
LINK_INC_SIM = -include $(L)/tidal.h -include $(L)/tidal_sim.h

$(addprefix $(B)/,$(LINK_TESTS)): $(B)/%: tests/%.c $(LINK_OBJS) $(L)/tidal.h $(L)/tidal_sim.h tests/*.h fuzz/fuzz_common.h fuzz/fuzz_alloc.h | $(B)
	@sh tests/link.sh guard "$(CC)" $<
	$(CC) $(STRICT) $(CFLAGS) $(LINK_INC) -o $@ $< $(LINK_OBJS) -lm
$(addprefix $(B)/asan_,$(LINK_TESTS)): $(B)/asan_%: tests/%.c $(ASAN_LINK_OBJS) $(L)/tidal.h $(L)/tidal_sim.h tests/*.h fuzz/fuzz_common.h fuzz/fuzz_alloc.h | $(B)
	@sh tests/link.sh guard "$(CC)" $<
	$(CC) $(STRICT) $(SAN) $(LINK_INC) -o $@ $< $(ASAN_LINK_OBJS) -lm
$(addprefix $(B)/,$(LINK_PROPS)): $(B)/%: props/%.c props/prop_common.h $(LINK_OBJS) $(L)/tidal.h $(L)/tidal_sim.h tests/tidal_test.h | $(B)
	@sh tests/link.sh guard "$(CC)" $<
	$(CC) $(STRICT) $(CFLAGS) $(LINK_INC_SIM) -o $@ $< $(LINK_OBJS) -lm
$(addprefix $(B)/asan_,$(LINK_PROPS)): $(B)/asan_%: props/%.c props/prop_common.h $(ASAN_LINK_OBJS) $(L)/tidal.h $(L)/tidal_sim.h tests/tidal_test.h | $(B)
	@sh tests/link.sh guard "$(CC)" $<
	$(CC) $(STRICT) $(SAN) $(LINK_INC_SIM) -o $@ $< $(ASAN_LINK_OBJS) -lm
$(addprefix $(B)/replay_,$(LINK_REPLAYS)): $(B)/replay_%: fuzz/%.c $(L)/asan_replay_main.o $(ASAN_LINK_OBJS) $(L)/tidal.h $(L)/tidal_sim.h fuzz/*.h | $(B)
	@sh tests/link.sh guard "$(CC)" $<
	$(CC) $(STRICT) $(SAN) $(LINK_INC) -o $@ $< $(L)/asan_replay_main.o $(ASAN_LINK_OBJS) -lm

# The binaries build in parallel (one job per core: 60+ builds of the whole header, about
# half of make test's time on 2 cores when serial); the tests then run two at a time
# too (tests/run.sh; JOBS=1 sh tests/run.sh for one at a time).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test:
	@$(MAKE) --no-print-directory -j$(JOBS) test-build
	@TESTS="$(TESTS)" PROPS="$(PROPS)" LINK="$(LINK)" sh tests/run.sh

test-build: all $(addprefix $(B)/asan_,$(TESTS)) $(addprefix $(B)/,$(PROPS)) $(addprefix $(B)/asan_,$(PROPS))

sanitize: $(addprefix $(B)/asan_,$(TESTS))
	@for t in $(TESTS); do $(B)/asan_$$t || exit 1; done

# The compile matrix alone (run.sh runs it too).
matrix:
	@sh tests/run.sh matrix

demo: $(B)/demo
	@$(B)/demo

# The acceptance run on real processes (3 regions x 2 shards of tidald on 127.0.0.1).
cluster: $(B)/cluster $(B)/tidald
	@$(B)/cluster

# SQLite is a peer in bench_wal when libsqlite3-dev is installed (it is not needed by tests).
SQLITE_OK = $(shell printf 'int main(void){return sqlite3_libversion_number() == 0;}' | \
    $(CC) -include sqlite3.h -x c - -lsqlite3 -o /dev/null 2>/dev/null && echo 1)
WAL_SQLITE = $(if $(SQLITE_OK),-DBENCH_WAL_SQLITE=1 -lsqlite3,-DBENCH_WAL_SQLITE=0)
BENCH_FLAGS = -std=c99 -O2 -DNDEBUG -Wall -Wextra -Wpedantic -Wshadow -Werror
BENCHES = bench_core bench_wal bench_sim bench_resp

# One bench alone, e.g. make build/bench_core && ./build/bench_core retrieve
$(B)/bench_%: bench/bench_%.c bench/bench_common.h examples/tidald_proc.h $(HDR) tidal_sim.h | $(B)
	$(CC) $(BENCH_FLAGS) -o $@ $< -lm $(if $(filter wal,$*),$(WAL_SQLITE))

# bench_resp runs build/tidald (and redis-server beside it when installed).
bench: $(B)/tidald | $(B)
	$(CC) $(BENCH_FLAGS) -o $(B)/bench_core bench/bench_core.c -lm
	$(CC) $(BENCH_FLAGS) -o $(B)/bench_wal bench/bench_wal.c -lm $(WAL_SQLITE)
	@if [ -f bench/bench_sim.c ]; then $(CC) $(BENCH_FLAGS) -o $(B)/bench_sim bench/bench_sim.c -lm; fi
	$(B)/bench_core
	$(B)/bench_wal
	@if [ -x $(B)/bench_sim ]; then $(B)/bench_sim; fi
	$(CC) $(BENCH_FLAGS) -o $(B)/bench_resp bench/bench_resp.c -lm
	$(B)/bench_resp

# Coverage-guided fuzzing with libFuzzer (clang); FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
# libFuzzer options every run below uses (fuzz, fuzz-ci, fuzz-speed*, mutants; not explore).
# Entropic scheduling keeps every feature seen fewer than 255 times in a "rare" list that it
# searches linearly for every feature of every input: with the ~7,000-11,000 features of
# merge and export that was 20-30% of their time in a run of a few thousand inputs (CPU for
# 3,000 merge inputs: 5.5 s, 4.4 s with 4, 4.0 s with -entropic=0; coverage alike). With 4,
# entropic stays on and the list is cut to the 100 rarest once a rare feature is seen 5 times.
FUZZ_OPTS ?= -entropic_feature_frequency_threshold=4
fuzz: $(addprefix $(B)/libfuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
	  c=$${f#fuzz_}; mkdir -p $(B)/corpus_$$c; \
	  echo "fuzzing $$f for $(FUZZ_SECONDS)s"; \
	  $(B)/libfuzz_$$f -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTS) -artifact_prefix=$(B)/ -print_final_stats=1 $(B)/corpus_$$c fuzz/corpus/$$c || exit 1; \
	done

# The reproducible short run CI does: a fixed libFuzzer seed, a fixed number of inputs per
# target, an empty output corpus and no comparison tracing (-use_cmp=0: traced operands
# include pointers, which differ run to run), so a given commit explores the same inputs
# on every run (checked: same corpus twice). New findings go to build/, never into
# fuzz/corpus; a crash is kept as build/fuzzci_<target>/crash-*.
# Inputs per target (about 15 s each here); FUZZ_PCT=400 runs four times as many.
FUZZ_CI = query:1500000 wal:100000 snapshot:120000 message:15000 merge:3600 export:300 event:8000 config:150000 control:30000 peer:30000 frame:30000
FUZZ_CI += resp:300000
FUZZ_PCT ?= 100
FUZZ_SEED ?= 1
fuzz-ci:
	@$(MAKE) --no-print-directory -j$(JOBS) $(addprefix $(B)/cifuzz_,$(FUZZERS))
	@for t in $(FUZZ_CI); do \
	  c=$${t%%:*}; n=$$(( $${t#*:} * $(FUZZ_PCT) / 100 )); f=fuzz_$$c; \
	  o=$(B)/fuzzci_$$c; rm -rf $$o; mkdir -p $$o/new; \
	  echo "fuzzing $$f: seed $(FUZZ_SEED), $$n inputs"; \
	  $(B)/cifuzz_$$f -seed=$(FUZZ_SEED) -runs=$$n -use_cmp=0 $(FUZZ_OPTS) -artifact_prefix=$$o/ \
	    -print_final_stats=1 $$o/new fuzz/corpus/$$c || exit 1; \
	done

# Longer property runs: make props SCALE=50 (the tests' budgets and the histories, x SCALE)
SCALE ?= 20
props: $(addprefix $(B)/,$(TESTS)) $(addprefix $(B)/,$(PROPS))
	@for t in $(TESTS) $(PROPS); do $(B)/$$t --scale $(SCALE) || exit 1; done

# Inputs per second of every libFuzzer target from a fixed 20 s run each (FUZZ_SPEED_SECONDS).
# One deliberate bug at a time in a copy of tidal.h, each run against the fuzz target that
# guards it with fuzz-ci's seed and input count: every mutant must be caught (tests/mutants.sh).
mutants:
	@CLANG=$(CLANG) B=$(B) FUZZ_O="$(FUZZ_O)" FUZZ_SEED=$(FUZZ_SEED) FUZZ_CI="$(FUZZ_CI)" FUZZ_CI_COV="$(FUZZ_CI_COV)" FUZZ_OPTS="$(FUZZ_OPTS)" \
	  sh tests/mutants.sh

fuzz-speed: $(addprefix $(B)/libfuzz_,$(FUZZERS))
	@B=$(B) FUZZERS="$(FUZZERS)" FUZZ_OPTS="$(FUZZ_OPTS)" sh tests/fuzz_speed.sh
# The same for fuzz-ci's binaries (no comparison tracing), run as fuzz-ci runs them.
fuzz-speed-ci: $(addprefix $(B)/cifuzz_,$(FUZZERS))
	@B=$(B) FUZZERS="$(FUZZERS)" FUZZ_BIN=cifuzz_ FUZZ_ARGS=-use_cmp=0 FUZZ_OPTS="$(FUZZ_OPTS)" sh tests/fuzz_speed.sh

# Exploration with fresh seeds: props and fuzzers round-robin from a random base seed
# (printed first; BASE=<n> replays a run), stopping by itself after MINUTES. Fuzzers join
# when clang can build them. make test and make fuzz-ci stay fixed and reproducible.
MINUTES ?= 10
FUZZ_CAN = $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, long n){(void)d;(void)n;return 0;}' | \
    $(CLANG) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo 1)
explore: $(addprefix $(B)/,$(PROPS)) $(if $(FUZZ_CAN),$(addprefix $(B)/libfuzz_,$(FUZZERS)))
	@B=$(B) MINUTES=$(MINUTES) FUZZ_SLICE=$(or $(FUZZ_SLICE),20) PROPS="$(PROPS)" FUZZERS="$(if $(FUZZ_CAN),$(FUZZERS))" \
	  bash tests/explore.sh

clean:
	rm -rf $(B)

# Regenerates the seed corpora of the decoder fuzzers from real files.
corpus: | $(B)
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_corpus fuzz/gen_corpus.c -lm
	rm -rf $(B)/corpus_db && $(B)/gen_corpus $(B)/corpus_db
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_export_corpus fuzz/gen_export_corpus.c -lm
	$(B)/gen_export_corpus
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_message_corpus fuzz/gen_message_corpus.c -lm
	$(B)/gen_message_corpus
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_event_corpus fuzz/gen_event_corpus.c -lm
	$(B)/gen_event_corpus
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_peer_corpus fuzz/gen_peer_corpus.c -lm
	mkdir -p fuzz/corpus/peer && $(B)/gen_peer_corpus
	$(CC) $(STRICT) $(SAN) -o $(B)/gen_frame_corpus fuzz/gen_frame_corpus.c -lm
	mkdir -p fuzz/corpus/frame && $(B)/gen_frame_corpus
