# baton: a PID 1 for containers.
#
#   make                 build build/baton
#   make test            install what is missing, build, run every test: unit, integration
#                        (baton as a real PID 1), the static build, and real containers
#   make test SANITIZE=address,undefined   unit + integration under ASan and UBSan
#   make run             a demo: baton as PID 1 over a small app with 2 workers
#   make static          build/static/baton, statically linked
#   make install PREFIX=/usr/local
#   make test-container  real container runtime tests (podman + docker CLI), both Dockerfiles built
#   make test-fresh      the Quick start in a fresh minimal Debian 12 container
#   make test-realapps   Express, Fastify, gunicorn and uvicorn rolled under wrk (tests/realapps)
#   make test-node-matrix  the --node-cluster suites under Node 18, 20, 22, 24 and 26
#
# On a machine without make: scripts/install-deps first (plain sh; it installs make too).

CC      ?= gcc
PREFIX  ?= /usr/local
VERSION := 0.1.0

PKGS    := libcap-ng libseccomp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcap-ng -lseccomp)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
           -D_GNU_SOURCE -DBATON_VERSION=\"$(VERSION)\" -Iinclude $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS)

ifdef SANITIZE
BUILD   ?= build/sanitize
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD   ?= build
endif
# Headers generated from files of the tree (the Node drain preload as base64).
GEN     := $(BUILD)/gen
CFLAGS  += -I$(GEN)

SRC      := $(wildcard src/*.c)
OBJ      := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libbaton.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INT_SRC  := $(wildcard tests/integration/test_*.c)
INT_BIN  := $(INT_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)
HELP_SRC := $(wildcard tests/helpers/*.c)
HELP_BIN := $(HELP_SRC:tests/helpers/%.c=build/tests/helpers/%)

.PHONY: all test unit integration run static install deps clean test-container test-static test-fresh bench fuzz
.PHONY: test-realapps test-node-matrix check-calls

all: $(BUILD)/baton

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJ:.o=.d) $(BUILD)/obj/cmd/baton/main.d

# The preload baton hands Node cluster workers in NODE_OPTIONS, as one line of base64.
$(GEN)/node_drain_mjs.h: src/node_drain.mjs
	@mkdir -p $(dir $@)
	{ printf '/* Generated from src/node_drain.mjs by the Makefile. */\n#define NODE_DRAIN_BASE64 "'; \
	  base64 -w0 $<; printf '"\n'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/node_drain.o: $(GEN)/node_drain_mjs.h

$(LIB): $(OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/baton: $(BUILD)/obj/cmd/baton/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/helpers/*.h include/baton/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tests/integration/%: tests/integration/%.c tests/integration/harness.c tests/integration/harness.h $(wildcard tests/helpers/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests/integration -o $@ $< tests/integration/harness.c -lcmocka

# Test workers are built without sanitizers: they are the "app", not baton.
build/tests/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

unit: $(UNIT_BIN)
	@tests/run-tests unit $(UNIT_BIN)

integration: $(BUILD)/baton $(INT_BIN) $(HELP_BIN)
	@BATON=$(abspath $(BUILD)/baton) HELPERS=$(abspath build/tests/helpers) \
	  tests/run-tests integration $(INT_BIN)

test: deps
	@$(MAKE) --no-print-directory unit integration check-calls
ifndef SANITIZE
	@$(MAKE) --no-print-directory test-static test-container
endif

# No two files of src/ call each other (tests/build/check-calls reads the objects).
check-calls: $(LIB)
	@tests/build/check-calls $(BUILD)

# The static binary must sandbox workers exactly as the dynamic one does.
test-static: static build/tests/integration/test_sandbox $(HELP_BIN)
	@BATON=$(abspath build/static/baton) HELPERS=$(abspath build/tests/helpers) \
	  tests/run-tests "integration (static build)" build/tests/integration/test_sandbox

run: deps $(BUILD)/baton
	@echo "baton demo: PID 1 in a new PID namespace, 2 workers on http://127.0.0.1:8080/"
	@echo "In another terminal: curl 127.0.0.1:8080/   (a request)"
	@echo "                     pkill -HUP -x baton      (a zero-downtime rolling restart)"
	@echo "Ctrl-C here drains the workers and stops."
	unshare --pid --fork --mount-proc $(BUILD)/baton -w 2 -v --listen 127.0.0.1:8080 -- node examples/app.js

# libcap-ng.a warns that capng_change_id may call getpwuid and initgroups (NSS): only with
# CAPNG_INIT_SUPP_GRP, which baton never passes; it reads /etc/passwd and /etc/group itself.
static:
	@$(MAKE) --no-print-directory BUILD=build/static LDFLAGS="$(LDFLAGS) -static" build/static/baton

install: $(BUILD)/baton
	install -D -m 0755 $(BUILD)/baton $(DESTDIR)$(PREFIX)/bin/baton
	install -D -m 0644 docs/baton.1 $(DESTDIR)$(PREFIX)/share/man/man1/baton.1

# tests/container/run installs the runtime itself, after checking that it is not in a container.
test-container: deps
	@$(MAKE) --no-print-directory static
	@tests/container/run

# The Quick start's two commands from a clean clone of HEAD in a fresh minimal Debian 12
# container (podman): the build and every suite that can run there must pass.
test-fresh:
	@tests/fresh/run

# libFuzzer over every parser of outside input (tests/fuzz/fuzz_input.c), under ASan and UBSan.
# Not part of `make test`: it runs for FUZZ_SECONDS and keeps its corpus in build/fuzz.
FUZZ_SECONDS ?= 120
fuzz: $(GEN)/node_drain_mjs.h
	@scripts/install-deps --fuzz
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -DBATON_VERSION=\"$(VERSION)\" -Iinclude -I$(GEN) $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o build/fuzz/fuzz_input tests/fuzz/fuzz_input.c $(SRC) $(PKG_LIBS)
	build/fuzz/fuzz_input -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=5 \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/seeds

# Numbers, not pass/fail: bench/README.md.
bench: deps $(BUILD)/baton
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory static
	@bench/footprint/run
	@bench/rollout/run
	@bench/rollout/apps

# Real apps as their users write them, rolled under wrk: tests/realapps/run. The set-up
# installs Debian's gunicorn, uvicorn and Flask, and from npm Express 5, Fastify 5 and Node
# 18 to 26 into /var/cache/baton (cached: a second run downloads nothing).
test-realapps: $(BUILD)/baton
	@tests/realapps/setup apps
	@BATON=$(abspath $(BUILD)/baton) timeout -k 10 900 tests/realapps/run

test-node-matrix: $(BUILD)/baton $(BUILD)/tests/integration/test_node \
		$(BUILD)/tests/unit/test_nodeipc_node $(BUILD)/tests/unit/test_node_drain $(HELP_BIN)
	@tests/realapps/setup
	@BATON=$(abspath $(BUILD)/baton) HELPERS=$(abspath build/tests/helpers) BUILD=$(BUILD) \
	  timeout -k 10 1500 tests/realapps/node-matrix

clean:
	rm -rf build

# The pool's randomized test for much longer than `make unit` runs it (BATON_RANDOM_EVENTS
# and BATON_RANDOM_SEED as for the test itself).
.PHONY: test-random
test-random: $(BUILD)/tests/unit/test_pool_random
	@BATON_RANDOM_EVENTS=$${BATON_RANDOM_EVENTS:-2000000} $(BUILD)/tests/unit/test_pool_random
