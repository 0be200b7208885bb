# sluice - see README.md.  `make demo` and `make test` install missing
# Debian packages first (scripts/deps.sh), then build.

CC      ?= cc
PKGS     = sqlite3 libpq yaml-0.1 libcrypto jansson zlib libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libpq is dlopen'ed when a PostgreSQL URL is used (db_postgres.c): not linked
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libpq,$(PKGS)) 2>/dev/null) -ldl
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -Wformat=2 -Wvla -fno-strict-aliasing $(PKG_CFLAGS)
LDLIBS   = $(PKG_LIBS) -lpg_query -lm -pthread

LIB_SRC  = $(sort $(wildcard src/core/*.c src/db/*.c src/migrate/*.c src/analyze/*.c src/contract/*.c src/stats/*.c src/quality/*.c src/model/*.c src/observe/*.c src/pipeline/*.c src/deploy/*.c src/cli/*.c))
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))

# Two builds of the same sources: plain (build/) and sanitized (build/asan/).
B        = build
LIB_OBJ  = $(LIB_SRC:%.c=$(B)/%.o)
ASAN     = $(B)/asan
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(LIB_SRC:%.c=$(ASAN)/%.o)

.PHONY: all deps deps-build demo test test-quick unit e2e fuzz bench clean asan bench-lint bench-gate bench-impact bench-rollback bench-expand bench-shadow bench-rollout

all: $(B)/sluice $(B)/sluice_flags.so

deps:
	@sh scripts/deps.sh all

deps-build:
	@sh scripts/deps.sh build

$(B)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libsluice.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/sluice: $(B)/src/main.o $(B)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
	@ln -sf $(B)/sluice sluice

# The SQLite extension serving code loads for sluice_flag_enabled (see
# src/deploy/flag_ext.c): built alone, position-independent, exporting only
# its entry point, and using the host's SQLite (so no -lsqlite3).
FLAG_EXT_SRC = src/deploy/flag_ext.c src/deploy/flag.c src/core/error.c src/core/buf.c
$(B)/sluice_flags.so: $(FLAG_EXT_SRC) src/deploy/flag.h src/core/buf.h src/core/error.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSL_FLAG_EXTENSION -fPIC -shared -fvisibility=hidden -Wl,-z,defs \
	  -o $@ $(FLAG_EXT_SRC) $(shell pkg-config --libs libcrypto 2>/dev/null)

$(ASAN)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(ASAN)/libsluice.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ASAN)/sluice: $(ASAN)/src/main.o $(ASAN)/libsluice.a
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

asan: $(ASAN)/sluice $(UNIT_SRC:tests/unit/%.c=$(ASAN)/tests/%)

# Unit tests (cmocka), one binary per module, in both builds.
$(B)/tests/%: tests/unit/%.c $(B)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(B)/libsluice.a $(LDLIBS) -lcmocka

$(ASAN)/tests/%: tests/unit/%.c $(ASAN)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -Isrc -o $@ $< $(ASAN)/libsluice.a $(LDLIBS) -lcmocka

UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# `make test`: unit + end-to-end (SQLite and a real PostgreSQL the tests
# start), then the same suite under ASan+UBSan, then short fuzz runs.
# Last line: "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory -j2 all asan $(UNIT_BIN) fuzz-build
	@sh tests/run.sh

test-quick: all $(UNIT_BIN)
	@SLUICE_NO_ASAN=1 SLUICE_NO_FUZZ=1 sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@rm -f examples/recsys/recsys.db
	./build/sluice -C examples/recsys run --time-scale 3600

# libFuzzer harnesses (clang).  FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
FUZZ_LIB_SRC = $(filter-out src/cli/%,$(LIB_SRC))
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

# the library is compiled once for every harness (instrumented, not linked
# with libFuzzer's main), then each harness links against it
FUZZ_OBJ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS)
FUZZ_OBJ = $(FUZZ_LIB_SRC:%.c=$(B)/fuzzobj/%.o)

$(B)/fuzzobj/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_OBJ_FLAGS) -c $< -o $@

$(B)/fuzzobj/libsluice.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/fuzz/%: tests/fuzz/%.c $(B)/fuzzobj/libsluice.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -Isrc -o $@ $< $(B)/fuzzobj/libsluice.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: deps fuzz-build
	@for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  seeds=tests/fuzz/corpus/$$n; [ $$n = fuzz_split ] && seeds="$$seeds tests/lint examples/recsys/migrations"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $(B)/fuzz/corpus-$$n $$seeds 2>&1 | grep -E '^(#[0-9]+.*DONE|==.*ERROR|Done)' || exit 1; \
	done

bench: all
	@sh bench/run.sh

bench-lint:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/lint.sh
bench-gate:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/gate.sh
bench-impact:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/impact.sh
bench-rollback:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/rollback.sh
bench-rollout:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/rollout.sh
bench-shadow:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/shadow.sh
bench-expand:
	@SLUICE=$${SLUICE:-$(B)/sluice} bash bench/expand.sh

clean:
	rm -rf $(B) sluice examples/recsys/*.db
