# agq - build, test, install.  See README.md.
#
#   make            build bin/ (the source-tree build: default spool is ./spool)
#   make demo       run the main job on the in-tree spool: a Debian package's
#                   typos fixed by agents, reviewed, merged (AGENT=claude|codex)
#   make check      build with ASan+UBSan and run every test
#   make install    PREFIX=/usr/local (default spool PREFIX/var/spool/agq)
#
# Missing libraries are installed with apt-get when run as root; otherwise the
# build stops and prints the apt-get line to run.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
CFLAGS   ?= -O2 -g
SAN      ?=
O        ?= build/default
BINOUT   ?= bin
# The backends (agq-backend(7)) go next to the programs' libexec/agq/.
LIBEXECOUT ?= $(if $(filter bin,$(BINOUT)),libexec/agq,$(dir $(BINOUT))libexec/agq)

TOP      := $(CURDIR)
STD      := -std=c17 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -D_GNU_SOURCE -iquote lib
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
# Recursive (=) so pkg-config runs after `deps` has installed what is missing,
# and DEPCFLAGS then once: its first use sets it to its value (not once a
# compile command, a process each).
DEPCFLAGS = $(eval DEPCFLAGS := $(shell pkg-config --cflags jansson libcurl libgit2 nettle zlib libmicrohttpd))$(DEPCFLAGS)
# libcurl is not linked: lib/curlload.c loads it with dlopen(3) when a
# program first makes a request (its 30 libraries cost 13 ms a start).
LIBS      = $(shell pkg-config --libs jansson libgit2 nettle zlib) -linotifytools -lm
ALLCFLAGS = $(STD) $(CFLAGS) $(if $(SAN),$(SANFLAGS)) $(DEPCFLAGS)
# --as-needed: a program links only the libraries its objects use (agq-submit
# needs neither libcurl nor libgit2, and each one costs start-up time).
# The sanitizer build links libasan and libubsan statically: the dynamic
# loader no longer relocates them at each of the suite's thousands of
# starts (`agq-ls --help`: 930 page faults to 857; with LeakSanitizer not
# started in the one-shot programs, tests/san/noleaks.c, 682 and about 30%
# less CPU a start; submit, journal and sched.bats: 894,000 page faults to
# 777,000, the plain build's 467,000).
SANLINK  := -static-libasan -static-libubsan
LDFLAGS  += -Wl,--as-needed $(if $(SAN),$(SANFLAGS) $(SANLINK))

PROGS    := agq agq-submit agq-sched agq-run agq-ls agq-show agq-status \
            agq-cancel agq-hold agq-release agq-retry agq-wait agq-journal \
            agq-fsck \
            agq-classify agq-verify agq-registry agq-doctor
# issue 5: stats, sync, dashboard, alerts
PROGS    += agq-stats agq-sync agq-dash agq-alert
# issue 16: worktrees, branches, commits, pushes, PR records
PROGS    += agq-git agq-pr
# issue 17: a task's output
PROGS    += agq-cat
# issue 17: edit a queued task, change its lane, archive finished tasks
PROGS    += agq-edit agq-prio agq-clean
# issue 19: plan documents, the watch stream
PROGS    += agq-plan agq-watch
# issue 19: the MCP server agents plan through
PROGS    += agq-mcp
# issue 19: missions of tasks
PROGS    += agq-mission
# issues 20, 21: agents as services (units, capability tokens)
PROGS    += agq-agent
# issue 21: recurring tasks
PROGS    += agq-routine
# issue 20: an agent's spool over ssh
PROGS    += agq-remote
# issue 21: pauses of a lane, a tenant, a backend, the spool
PROGS    += agq-pause agq-resume

# libagq, in archives by layer (lib/README maps every file): each program
# names the archives it links below (LINK_prog), so what it links is stated
# here, not arranged by where a function is placed; a link fails when a
# program comes to use code of a layer it does not name.  ARCHIVES lists
# them highest layer first, the order ld(1) must read them in.
LIB_core   := backends fskind util curlload redact cli quota conf steps classify task runas spool \
              lifecycle journal prrec jrecon throttle qstate lease review open reject agent \
              captoken out wake notify archive deps mission jsonpatch plan watch \
              submit mcp mcptools cron routine remote
LIB_exec   := backend verify git githooks patch forge taskgit reviewer merge attempt
LIB_route  := resources registry regcheck route
LIB_report := stats prview sync dash alert
LIB_engine := fsck sched shepherd runner ctl doctor edit clean via
ARCHIVES   := engine report route exec core
LIBSRC     := $(foreach a,$(ARCHIVES),$(LIB_$(a)))
# Programs: what each links, besides its main and paths.o.
LINK_agq          := core
LINK_agq-submit   := core
LINK_agq-ls       := core
LINK_agq-show     := report exec core
LINK_agq-wait     := core
LINK_agq-cat      := core
LINK_agq-journal  := core
LINK_agq-classify := core
LINK_agq-verify   := exec core
LINK_agq-cancel   := engine core
LINK_agq-hold     := engine core
LINK_agq-release  := engine core
LINK_agq-retry    := engine core
LINK_agq-edit     := engine core
LINK_agq-prio     := engine core
LINK_agq-clean    := engine core
LINK_agq-fsck     := engine core
LINK_agq-sched    := engine route core
LINK_agq-run      := engine route core
LINK_agq-doctor   := engine route exec core
LINK_agq-registry := route exec core
LINK_agq-stats    := report core
LINK_agq-status   := report core
LINK_agq-dash     := report exec core
LINK_agq-sync     := report exec core
LINK_agq-alert    := report route core
LINK_agq-git      := exec core
LINK_agq-pr       := exec core
LINK_agq-plan     := core
LINK_agq-watch    := core
LINK_agq-mission  := exec core
LINK_agq-agent    := core
LINK_agq-attempt  := exec core
LINK_agq-mcp      := core
LINK_agq-routine  := core
LINK_agq-remote   := engine route core
LINK_agq-pause    := core
LINK_agq-resume   := core
LINK_backend      := exec core
$(foreach p,$(PROGS) agq-attempt,$(if $(LINK_$(p)),,$(error Makefile: no LINK_$(p))))
LIBS     += $(shell pkg-config --libs libmicrohttpd) -lpthread

LIBOBJ   := $(LIBSRC:%=$(O)/lib/%.o)
HDR      := $(wildcard lib/*.h)
# The backend executables: the names of the rows of the table of backends
# (lib/backends.h), each row beginning with `{ .name = "NAME",` on a line of
# its own; tests/backend.bats checks this list against the compiled table.
BACKENDS := $(shell sed -n 's/^[[:space:]]*{ \.name = "\([a-z0-9_-]*\)",.*/\1/p' \
            $(TOP)/lib/backends.c)
ifeq ($(BACKENDS),)
$(error no backends found in lib/backends.c)
endif
UNITS    := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
# Test helpers built beside the unit tests, not run as tests: jwrite
# appends events through libagq's journal writer (tests/report.bats).
TESTHELPERS := jwrite

# paths.c: compiled-in locations.  Source-tree build by default.
SRC_PATHS := -DAGQ_SPOOL_DIR='"$(TOP)/spool"' \
             -DAGQ_CONF_FILE='"$(TOP)/etc/agq.conf"' \
             -DAGQ_BIN_DIR='"$(TOP)/bin"' \
             -DAGQ_LIBEXEC_DIR='"$(TOP)/libexec/agq"'
INST_PATHS := -DAGQ_SPOOL_DIR='"$(PREFIX)/var/spool/agq"' \
             -DAGQ_CONF_FILE='"$(PREFIX)/etc/agq/agq.conf"' \
             -DAGQ_BIN_DIR='"$(PREFIX)/bin"' \
             -DAGQ_LIBEXEC_DIR='"$(PREFIX)/libexec/agq"'
PATHS     = $(if $(INSTALL_BUILD),$(INST_PATHS),$(SRC_PATHS))

DEB_BUILD := build-essential pkg-config libjansson-dev libinotifytools0-dev \
             nettle-dev zlib1g-dev
DEB_TEST  := bats mandoc inotify-tools

.PHONY: all deps deps-test deps-demo progs demo check unit install clean lint-man torture bench \
        fuzz fuzz-build completion
all: deps
	@$(MAKE) --no-print-directory progs completion

progs: $(PROGS:%=$(BINOUT)/%) $(BACKENDS:%=$(LIBEXECOUT)/%) \
       $(LIBEXECOUT)/agq-attempt

# ---- dependencies -----------------------------------------------------------
# The end of each deps recipe, which sets $$missing to the Debian packages
# missing: install them with apt-get when root, else print the line to run
# and fail.  $(1): what they are, for the message.
apt_install = if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "make: missing $(1); run:"; \
	    echo "  sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

deps:
	@missing=""; \
	pkg-config --exists jansson 2>/dev/null || missing="$$missing libjansson-dev"; \
	pkg-config --exists libcurl 2>/dev/null || missing="$$missing libcurl4-openssl-dev"; \
	pkg-config --exists libgit2 2>/dev/null || missing="$$missing libgit2-dev"; \
	pkg-config --exists libmicrohttpd 2>/dev/null || missing="$$missing libmicrohttpd-dev"; \
	pkg-config --exists nettle 2>/dev/null || missing="$$missing nettle-dev"; \
	pkg-config --exists zlib 2>/dev/null || missing="$$missing zlib1g-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	[ -f /usr/include/inotifytools/inotifytools.h ] || missing="$$missing libinotifytools0-dev"; \
	command -v $(CC) >/dev/null || missing="$$missing build-essential"; \
	$(call apt_install,build dependencies)

# make demo's input and its tools (libexec/agq/agq-demo): the Python
# sources Debian's python3-apt installs, codespell and git.
deps-demo:
	@missing=""; \
	command -v codespell >/dev/null || missing="$$missing codespell"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	[ -f /usr/lib/python3/dist-packages/apt/package.py ] || missing="$$missing python3-apt"; \
	$(call apt_install,demo dependencies)

deps-test: deps deps-demo
	@missing=""; \
	command -v bats >/dev/null || missing="$$missing bats"; \
	command -v mandoc >/dev/null || missing="$$missing mandoc"; \
	command -v inotifywait >/dev/null || missing="$$missing inotify-tools"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || missing="$$missing libclang-rt-14-dev"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v zsh >/dev/null || missing="$$missing zsh"; \
	command -v ssh >/dev/null || missing="$$missing openssh-client"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	$(call apt_install,test dependencies)

# ---- build ------------------------------------------------------------------
# $$ in prerequisites: a program's archives are looked up by its name.
.SECONDEXPANSION:

$(O)/lib/%.o: lib/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(O)/lib/paths.o: lib/paths.c $(HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(PATHS) -c -o $@ $<

$(O)/libagq.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

$(O)/libagq-%.a: $$(addprefix $(O)/lib/,$$(addsuffix .o,$$(LIB_$$*)))
	rm -f $@
	ar rcs $@ $^

$(O)/bin/%.o: bin/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(BINOUT)/%: $(O)/bin/%.o $(O)/lib/paths.o \
    $$(foreach a,$$(LINK_$$*),$(O)/libagq-$$(a).a) $$(call san_noleaks,$$*)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The sanitizer build of a one-shot program (every program but the daemons,
# and the backends and agq-attempt) links tests/san/noleaks.c, which skips
# LeakSanitizer's check at exit unless AGQ_TEST_LEAKS=1: the check stays in
# the daemons and agq-mcp (a server), where a leak in a loop grows, and in
# the unit tests (tests/san/noleaks.c says why; tests/leaks.bats checks
# it).  $(1): the program's name.
SAN_DAEMONS := agq-sched agq-run agq-dash agq-mcp agq-remote
san_noleaks = $(if $(SAN),$(if $(filter $(1),$(SAN_DAEMONS)),,$(O)/tests/noleaks.o))

$(O)/tests/noleaks.o: tests/san/noleaks.c
	@mkdir -p $(@D)
	$(CC) $(STD) $(CFLAGS) -c -o $@ $<

# agq-submit is started once per task from shells, hooks and cron: outside
# the sanitizer build it is linked statically (glibc, jansson, Nettle), which
# saves the dynamic loader's work, about 0.4 ms of its 2 ms (bench/README.md).
# zlib: a parent of "after" looked up in the archive (deps.c).
$(BINOUT)/agq-submit: LIBS = $(if $(SAN),$(SUBMIT_LIBS),-static $(SUBMIT_LIBS))
SUBMIT_LIBS = $(shell pkg-config --libs jansson nettle zlib) -lm

# agq-cancel, -hold, -release, -retry share one main (bin/agq-ctl.c).
$(O)/bin/agq-cancel.o $(O)/bin/agq-hold.o $(O)/bin/agq-release.o \
$(O)/bin/agq-retry.o: bin/agq-ctl.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DAGQ_CTL_OP='"$(patsubst agq-%.o,%,$(@F))"' -c -o $@ $<

# agq-agent installs the agq-run@.service it was built with: the template
# etc/systemd/agq-run@.service as a C string literal.
$(O)/gen/unit_tmpl.h: etc/systemd/agq-run@.service
	@mkdir -p $(@D)
	sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$$/\\n"/' $< > $@

$(O)/bin/agq-agent.o: bin/agq-agent.c $(HDR) $(O)/gen/unit_tmpl.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -iquote $(O)/gen -c -o $@ $<
# agq-pause and agq-resume share one main (bin/agq-pause.c).
$(O)/bin/agq-pause.o $(O)/bin/agq-resume.o: bin/agq-pause.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DAGQ_PAUSE_OP='"$(patsubst agq-%.o,%,$(@F))"' -c -o $@ $<

# agq-attempt: an agent task's attempt, exec'd by agq-run's task process so
# that agq-run itself links neither libgit2 nor the backend code.
$(O)/libexec/agq-attempt.o: libexec/agq-attempt.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

# The backends: one main (libexec/backend.c) built once per name.
$(O)/libexec/%.o: libexec/backend.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DAGQ_BACKEND='"$*"' -c -o $@ $<

$(LIBEXECOUT)/agq-attempt: $(O)/libexec/agq-attempt.o $(O)/lib/paths.o \
    $(LINK_agq-attempt:%=$(O)/libagq-%.a) $(call san_noleaks,agq-attempt)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(LIBEXECOUT)/%: $(O)/libexec/%.o $(O)/lib/paths.o \
    $(LINK_backend:%=$(O)/libagq-%.a) $$(call san_noleaks,$$*)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/unit/%: tests/unit/%.c tests/unit/unit.h tests/unit/unit_task.h \
    $(O)/lib/paths.o $(O)/libagq.a
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -Itests/unit $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LIBS)

# ---- shell completion -------------------------------------------------------
# bash and zsh completion of agq and every agq-CMD, written by one
# generator from each program's --help (etc/completion/mkcompletion says
# what it reads); task ids complete from the default spool's ids/.
COMPGEN := etc/completion/mkcompletion etc/completion/agq.bash.in \
           etc/completion/_agq.in
completion: build/completion/agq.bash

build/completion/agq.bash: $(COMPGEN) $(PROGS:%=bin/%)
	etc/completion/mkcompletion bin '$(TOP)/spool' build/completion $(PROGS)

build/completion/_agq: build/completion/agq.bash

# ---- the main job -----------------------------------------------------------
demo: all deps-demo
	@./libexec/agq/agq-demo

# ---- tests ------------------------------------------------------------------
# The test build: ASan+UBSan binaries in build/san/bin, then every test.
# The builds use both cores unless make was given -j already.
CHECK_J = $(if $(findstring -j,$(MAKEFLAGS)),,-j2)
# The unit tests valgrind runs again in make check (tests/run's header says
# why these), the only ones its plain build makes: the rest run under it in
# make torture.
VG_UNITS := test_journal test_spool test_task test_util test_lifecycle
check: deps-test
	@$(MAKE) $(CHECK_J) --no-print-directory O=build/san BINOUT=build/san/bin SAN=1 \
	    progs $(UNITS:%=build/san/unit/%) $(TESTHELPERS:%=build/san/unit/%)
	@$(MAKE) $(CHECK_J) --no-print-directory progs $(VG_UNITS:%=build/default/unit/%) >/dev/null
	@$(MAKE) $(CHECK_J) --no-print-directory fuzz-build build/fault/failfsync.so \
	    build/fault/leak.so build/fault/clockoff.so >/dev/null
	@AGQ_TEST_BIN=$(TOP)/build/san/bin AGQ_TEST_UNIT=$(TOP)/build/san/unit \
	    AGQ_TEST_VGUNIT=$(TOP)/build/default/unit AGQ_TEST_VGUNITS="$(VG_UNITS)" \
	    AGQ_TEST_FUZZ=$(TOP)/build/fuzz/fuzz_task \
	    AGQ_TEST_FAILFSYNC=$(TOP)/build/fault/failfsync.so \
	    AGQ_TEST_LEAKSO=$(TOP)/build/fault/leak.so \
	    AGQ_TEST_UNITS="$(UNITS)" ./tests/run

# LD_PRELOAD shims (tests/fault/): failfsync.so makes fsync(2) fail on
# demand, leak.so gives a process a leak for LeakSanitizer to find.
build/fault/failfsync.so: tests/fault/failfsync.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $< -ldl

build/fault/leak.so: tests/fault/leak.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $<

# clockoff.so: this host's clock $AGQ_CLOCK_OFFSET seconds off the
# kernel's file times (a skewed host, tests/liveness.bats).
build/fault/clockoff.so: tests/fault/clockoff.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $< -ldl

unit: deps-test
	@$(MAKE) --no-print-directory O=build/san BINOUT=build/san/bin SAN=1 \
	    $(UNITS:%=build/san/unit/%)
	@for u in $(UNITS); do build/san/unit/$$u || exit 1; done

# ---- fuzzing (tests/fuzz/README) --------------------------------------------
# The task parser and validator (fuzz_task) and the other inputs, config,
# agent files, journal, times (fuzz_input), under libFuzzer: libagq rebuilt
# with clang into build/fuzz.  `make check` fuzzes each for a few seconds
# (tests/fuzz.bats); `make fuzz` for FUZZ_TIME seconds each, keeping what
# it finds in build/fuzz/.
FUZZ_O     := build/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TIME  ?= 600
FUZZ_SEEDS := tests/fuzz/seeds tests/fuzz/regress \
              tests/corpora/JSONTestSuite/test_parsing
fuzz-build: deps-test
	@$(MAKE) --no-print-directory O=$(FUZZ_O) CC=clang \
	    CFLAGS='$(FUZZ_FLAGS)' $(FUZZ_O)/fuzz_task $(FUZZ_O)/fuzz_input

# The fuzz targets call the core layer only (task, conf, journal, agent,
# times), so only its archive is built with clang for them.
$(FUZZ_O)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_O)/lib/paths.o \
    $(FUZZ_O)/libagq-core.a
	$(CC) $(ALLCFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

fuzz: fuzz-build
	@mkdir -p $(FUZZ_O)/corpus $(FUZZ_O)/corpus-input $(FUZZ_O)/findings
	$(FUZZ_O)/fuzz_task -max_total_time=$(FUZZ_TIME) -timeout=10 \
	    -rss_limit_mb=2048 -artifact_prefix=$(FUZZ_O)/findings/ \
	    -print_final_stats=1 $(FUZZ_O)/corpus $(FUZZ_SEEDS)
	$(FUZZ_O)/fuzz_input -max_total_time=$(FUZZ_TIME) -timeout=10 \
	    -rss_limit_mb=2048 -artifact_prefix=$(FUZZ_O)/findings/input- \
	    -print_final_stats=1 $(FUZZ_O)/corpus-input tests/fuzz/seeds-input

# ---- crash torture (tests/torture/README) ---------------------------------
# The long form of tests/torture.bats: kill -9 at random for
# TORTURE_SECONDS while TORTURE_TASKS tasks go through, then a full disk
# (with LeakSanitizer in every program: the error paths are where leaks hide),
# after every unit test under valgrind (make check runs only VG_UNITS there);
# last, tests/hosts.bats at 4 simulated hosts x 2 agents x 2,000 tasks.
TORTURE_SECONDS ?= 240
TORTURE_TASKS   ?= 4000
torture: deps-test
	@$(MAKE) --no-print-directory O=build/san BINOUT=build/san/bin SAN=1 progs
	@$(MAKE) --no-print-directory $(UNITS:%=build/default/unit/%)
	@for u in $(UNITS); do echo "valgrind: $$u"; \
	    valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite build/default/unit/$$u >/dev/null || exit 1; done
	AGQ_TEST_BIN=$(TOP)/build/san/bin tests/torture/run \
	    --seconds $(TORTURE_SECONDS) --tasks $(TORTURE_TASKS) --drain 300
	AGQ_TEST_BIN=$(TOP)/build/san/bin AGQ_TEST_LEAKS=1 tests/torture/full-disk
	AGQ_TEST_BIN=$(TOP)/build/san/bin AGQ_TEST_LEAKS=1 tests/torture/full-disk-daemons
	AGQ_TEST_BIN=$(TOP)/build/san/bin AGQ_HOSTS_FULL=1 tests/run tests/hosts.bats

lint-man:
	@for m in man/*.[1-8]; do mandoc -Tlint -Wwarning $$m || exit 1; done

# ---- benchmarks (bench/README.md) ------------------------------------------
# Installs the peers from Debian when missing, then runs bench/run; pass
# options with BENCH="--quick" or BENCH="--only latency".
bench: all
	@for t in nq:nq tsp:task-spooler hyperfine:hyperfine python3:python3 \
	    valgrind:valgrind eatmydata:eatmydata; do \
	  command -v $${t%%:*} >/dev/null && continue; \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $${t#*:} >/dev/null || exit 1; \
	  else echo "make: run: sudo apt-get install $${t#*:}"; exit 1; fi; \
	done
	@mkdir -p build/bench
	$(CC) -O2 -o build/bench/stamp bench/stamp.c
	$(CC) -O2 -o build/bench/acked bench/acked.c
	./bench/run $(BENCH)

# ---- install ----------------------------------------------------------------
# Besides the programs, man pages and configuration (agq(7), "Installing"):
# the systemd units of etc/systemd/ (every file there, a template such as
# agq-run@.service too) as system units in UNITDIR and user units in
# USERUNITDIR, their placeholders filled in: @BINDIR@, @SPOOL@ (the
# default spool), @ENVFILE@ (the environment file: PREFIX/etc/agq/
# environment, or the user's %E/agq/environment), @WANTEDBY@
# (multi-user.target, or default.target) and the prefix @SYS@ of the
# lines only a system unit keeps (the sandboxing a user manager may not
# have); the completion, generated again for the installed spool; the
# git hook samples of etc/hooks/ in share/agq/hooks/ (@BINDIR@ and
# @SHARE@, that directory, filled in).
UNITDIR     = $(PREFIX)/lib/systemd/system
USERUNITDIR = $(PREFIX)/lib/systemd/user
UNIT_SED    = -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SPOOL@|$(PREFIX)/var/spool/agq|g' \
              -e 's|@SYSCONFDIR@|$(PREFIX)/etc/agq|g'
SYS_SED     = $(UNIT_SED) -e 's|@ENVFILE@|$(PREFIX)/etc/agq/environment|g' \
              -e 's|@WANTEDBY@|multi-user.target|g' -e 's|^@SYS@||'
USER_SED    = $(UNIT_SED) -e 's|@ENVFILE@|%E/agq/environment|g' \
              -e 's|@WANTEDBY@|default.target|g' -e '/^@SYS@/d'
HOOK_SED    = $(UNIT_SED) -e 's|@SHARE@|$(PREFIX)/share/agq/hooks|g'
install: deps
	@# PREFIX is compiled in: rebuild paths.o and relink every program
	@rm -rf build/install/lib/paths.o build/install/bin build/install/libexec
	@# the objects are those of build/default (same flags) when it has
	@# them: copied with their times, so make rebuilds only stale ones
	@if [ -d build/default/lib ]; then mkdir -p build/install && \
	  cp -Rp build/default/lib build/default/bin build/default/libexec \
	    build/default/*.a build/install/ 2>/dev/null; \
	  rm -f build/install/lib/paths.o; fi
	@$(MAKE) --no-print-directory O=build/install BINOUT=build/install/bin \
	    INSTALL_BUILD=1 PREFIX=$(PREFIX) progs
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/agq \
	    $(DESTDIR)$(PREFIX)/etc/agq $(DESTDIR)$(PREFIX)/var/spool/agq
	for s in 1 5 7 8; do install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; done
	install -m 755 $(PROGS:%=build/install/bin/%) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 libexec/agq/agq-demo $(BACKENDS:%=build/install/libexec/agq/%) \
	    build/install/libexec/agq/agq-attempt \
	    $(DESTDIR)$(PREFIX)/libexec/agq/
	for m in man/*.[1-8]; do \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/; done
	[ -f $(DESTDIR)$(PREFIX)/etc/agq/agq.conf ] || \
	  install -m 644 etc/agq.conf $(DESTDIR)$(PREFIX)/etc/agq/agq.conf
	for f in prices.json cli-lock.json; do \
	  [ -f $(DESTDIR)$(PREFIX)/etc/agq/$$f ] || \
	  install -m 644 etc/$$f $(DESTDIR)$(PREFIX)/etc/agq/$$f; done
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(USERUNITDIR)
	for u in etc/systemd/*; do \
	  sed $(SYS_SED) $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
	  sed $(USER_SED) $$u > $(DESTDIR)$(USERUNITDIR)/$${u##*/} && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$${u##*/} \
	    $(DESTDIR)$(USERUNITDIR)/$${u##*/} || exit 1; done
	etc/completion/mkcompletion build/install/bin '$(PREFIX)/var/spool/agq' \
	    build/install/completion $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/agq/hooks
	install -m 644 build/install/completion/agq.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/agq
	@# bash-completion loads a command's completion from a file of its name
	for p in $(filter-out agq,$(PROGS)); do \
	  ln -sf agq $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$p; done
	install -m 644 build/install/completion/_agq $(DESTDIR)$(PREFIX)/share/zsh/site-functions/
	for h in etc/hooks/*; do \
	  sed $(HOOK_SED) $$h > $(DESTDIR)$(PREFIX)/share/agq/hooks/$${h##*/} && \
	  chmod 755 $(DESTDIR)$(PREFIX)/share/agq/hooks/$${h##*/} || exit 1; done

# `make -s print-VAR` prints a variable (tests/layers.bats reads the archives).
print-%:
	@echo $($*)

clean:
	rm -rf build $(PROGS:%=bin/%) $(BACKENDS:%=libexec/agq/%)
.SECONDARY:
