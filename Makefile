# baton: a PID 1 for containers.
#
#   make                 build build/baton
#   make test            install what is missing, build, run every test: unit, integration
#                        (baton as a real PID 1), the static build, and real containers
#   make test SANITIZE=address,undefined   unit + integration under ASan and UBSan
#   make run             a demo: baton as PID 1 over a small app with 2 workers
#   make static          build/static/baton, statically linked (a static PIE; STATIC_PIE= for not)
#   make CFLAGS=-O1      CFLAGS, CPPFLAGS, LDFLAGS choose optimisation and debug; the flags the
#                        build needs (and the hardening: PIE, RELRO, BIND_NOW, ...) stay
#   make test-clang      build with clang, warnings as errors, and run the unit tests
#   make fuzz FUZZ_SECONDS=60  libFuzzer over the parsers of outside input, ASan + UBSan
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

# CFLAGS, CPPFLAGS and LDFLAGS are the user's: optimisation and debug (`make CFLAGS=-O1`). What
# the build needs is in the BATON_* variables, which stay whatever the user sets, and comes first
# on each command line, so that the user's flags can still turn one off (-fno-stack-protector).
CFLAGS  ?= -O2 -g
LDLIBS  += $(PKG_LIBS)

ifdef SANITIZE
BUILD   ?= build/sanitize
else
BUILD   ?= build
endif
# Headers generated from files of the tree (the Node drain preload as base64).
GEN     := $(BUILD)/gen

BATON_CPPFLAGS := -D_GNU_SOURCE -DBATON_VERSION=\"$(VERSION)\" -Iinclude -I$(GEN) $(PKG_CFLAGS)
BATON_CFLAGS   := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2
BATON_LDFLAGS  :=

# Hardening, for a PID 1 that starts as root: PIE, stack protector, full RELRO (the GOT
# read-only after start-up, every symbol bound at start), and, where the compiler has them,
# stack-clash probes and CET branch markers (x86 only: hence the test).
cc-option = $(shell $(CC) -Werror $(1) -E -x c /dev/null >/dev/null 2>&1 && echo $(1))
BATON_CFLAGS  += -fPIE -fstack-protector-strong \
                 $(call cc-option,-fstack-clash-protection) $(call cc-option,-fcf-protection)
BATON_LDFLAGS += -Wl,-z,relro,-z,now
# The static build is a static PIE: it relocates itself at start (glibc's rcrt1.o), with its
# relocations packed (DT_RELR, binutils 2.38 and glibc 2.36): 0.4 kB instead of 38 kB of table
# read at every start. That costs 12 kB of private dirty memory against a non-PIE static binary
# (the relocated RELRO pages); `make static STATIC_PIE=` builds that one, with the other flags.
STATIC_PIE ?= 1
ld-option = $(shell echo 'int main(void){return 0;}' | \
	$(CC) -x c - -o /dev/null -Wl,--fatal-warnings $(1) >/dev/null 2>&1 && echo $(1))
RELR := -Wl,-z,pack-relative-relocs
ifdef STATIC
ifneq ($(STATIC_PIE),)
BATON_LDFLAGS += -static-pie $(call ld-option,$(RELR))
else
BATON_LDFLAGS += -static
endif
else
BATON_LDFLAGS += -pie
endif
# _FORTIFY_SOURCE does nothing without the optimiser (and some glibc versions warn, which -Werror
# turns into an error), and it would hide from ASan the calls ASan checks better: only on an
# optimised build without sanitizers. The last -O of CFLAGS is the one the compiler keeps.
ifeq ($(SANITIZE),)
ifneq ($(filter-out -O0,$(lastword $(filter -O%,$(CFLAGS)))),)
BATON_CPPFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
else
BATON_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BATON_LDFLAGS += -fsanitize=$(SANITIZE)
endif

ALL_CFLAGS  = $(BATON_CPPFLAGS) $(CPPFLAGS) $(BATON_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(BATON_LDFLAGS) $(LDFLAGS)
# What each build of $(BUILD) was made with: rewritten only when it changes, so that another CC
# or CFLAGS rebuilds everything while a plain `make` again rebuilds nothing.
FLAGS_LINE := $(subst ','\'',$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LDLIBS))

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
.PHONY: test-realapps test-node-matrix test-hardening test-clang check-calls FORCE

all: $(BUILD)/baton

deps:
	@scripts/install-deps

$(BUILD)/flags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(FLAGS_LINE)' | cmp -s - $@ || echo '$(FLAGS_LINE)' > $@
FORCE:

$(BUILD)/obj/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

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

$(BUILD)/baton: $(BUILD)/obj/cmd/baton/main.o $(LIB) $(BUILD)/flags
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/helpers/*.h include/baton/*.h) \
		$(LIB) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tests/integration/%: tests/integration/%.c tests/integration/harness.c tests/integration/harness.h \
		$(wildcard tests/helpers/*.h) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Itests/integration -o $@ $< tests/integration/harness.c -lcmocka

# Test workers are built without sanitizers: they are the "app", not baton.
build/tests/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

unit: $(UNIT_BIN)
	@tests/run-tests unit $(UNIT_BIN)

integration: $(BUILD)/baton $(INT_BIN) $(HELP_BIN)
	@BATON=$(abspath $(BUILD)/baton) HELPERS=$(abspath build/tests/helpers) BT_SANITIZE=$(SANITIZE) \
	  tests/run-tests integration $(INT_BIN)

test: deps
	@$(MAKE) --no-print-directory unit integration test-hardening check-calls
ifndef SANITIZE
	@$(MAKE) --no-print-directory test-static test-container
endif

# PIE, BIND_NOW, RELRO, a non-executable stack and the stack protector, read back with readelf.
test-hardening: $(BUILD)/baton
	@tests/build/check-hardening $(BUILD)/baton

# No two files of src/ call each other (tests/build/check-calls reads the objects).
check-calls: $(LIB)
	@tests/build/check-calls $(BUILD)

# The static binary must sandbox workers exactly as the dynamic one does, and be as hardened
# (a non-PIE one has no dynamic section: no PIE nor BIND_NOW to check).
test-static: static build/tests/integration/test_sandbox $(HELP_BIN)
	@tests/build/check-hardening $(if $(STATIC_PIE),,--no-pie) build/static/baton
	@BATON=$(abspath build/static/baton) HELPERS=$(abspath build/tests/helpers) \
	  tests/run-tests "integration (static build)" build/tests/integration/test_sandbox

# The whole build with clang, warnings as errors, in build/clang: its unit tests and hardening.
test-clang:
	@scripts/install-deps --clang
	@$(MAKE) --no-print-directory CC=clang BUILD=build/clang unit test-hardening

run: deps $(BUILD)/baton
	@echo "baton demo: PID 1 in a new PID namespace, 2 workers on http://127.0.0.1:8080/"
	@echo "In another terminal: curl 127.0.0.1:8080/   (a request)"
	@echo "                     pkill -HUP -x baton      (a zero-downtime rolling restart)"
	@echo "Ctrl-C here drains the workers and stops."
	unshare --pid --fork --mount-proc $(BUILD)/baton -w 2 -v --listen 127.0.0.1:8080 -- node examples/app.js

# libcap-ng.a warns that capng_change_id may call getpwuid and initgroups (NSS): only with
# CAPNG_INIT_SUPP_GRP, which baton never passes; it reads /etc/passwd and /etc/group itself.
static:
	@$(MAKE) --no-print-directory BUILD=build/static STATIC=1 build/static/baton

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
