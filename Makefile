# fedsim build. `make run` and `make test` are the whole set-up on a fresh Debian machine:
# both first run `deps`, which installs the missing Debian packages.
#
# Switches:
#   SANITIZER=address|undefined|none   (make asan sets address+undefined on a separate build dir)
#   OPENMP=1|0                         thread pool for client training (default 1)
#   NATIVE=1|0                         -march=native (default 0: results must not depend on it)
#   MPI=1|0                            Open MPI: `mpirun -n R fedsim run|sweep` (docs/cluster.md);
#                                      default 1 when mpicc is found, else the single-process binary

SHELL       := /bin/bash
CC          ?= cc
BUILD       ?= build
OPENMP      ?= 1
NATIVE      ?= 0
SANITIZER   ?= none
MPI         ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)

DEB_PKGS := build-essential pkg-config libopenblas-dev libopenblas-openmp-dev libsqlite3-dev libgsl-dev libhdf5-dev \
            libcmocka-dev libfyaml-dev zlib1g-dev libsodium-dev libgmp-dev dataset-fashion-mnist sqlite3 bible-kjv \
            python3 python3-matplotlib python3-numpy python3-sklearn libopenmpi-dev openmpi-bin

PKGS     := sqlite3 gsl hdf5-serial cmocka libfyaml zlib libsodium
# OpenBLAS: Debian's OpenMP build. fedsim parallelises across clients and calls BLAS from each
# OpenMP worker with one BLAS thread. The default pthread build keeps a pool of BLAS threads
# that spin in sched_yield and take CPU from the workers; the serial build is not safe to call
# from several threads at once. The OpenMP build shares our OpenMP runtime and runs
# single-threaded inside a parallel region. Debian installs it beside the default build, so
# pkg-config is pointed at it and an rpath finds it at run time.
MULTIARCH  := $(shell gcc -print-multiarch 2>/dev/null)
OPENBLAS_DIR := /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_CFLAGS = $(shell PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   = $(shell PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig pkg-config --libs openblas 2>/dev/null) \
              -Wl,-rpath,$(OPENBLAS_DIR)
PKG_CFLAGS = $(BLAS_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# gsl.pc also names -lgslcblas; OpenBLAS provides the CBLAS that GSL needs, so drop it.
PKG_LIBS   = $(BLAS_LIBS) $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null))

CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Werror \
           -Wshadow -Wno-unused-parameter -MMD -MP -Isim
# GMP (Paillier, sim/crypto) ships no .pc file on Debian: linked by name.
LDLIBS   = $(PKG_LIBS) -lgmp -lm

ifeq ($(OPENMP),1)
CFLAGS  += -fopenmp
LDFLAGS += -fopenmp
else ifeq ($(OPENMP),0)
CFLAGS  += -Wno-unknown-pragmas
else
$(error OPENMP must be 0 or 1, not '$(OPENMP)')
endif
ifeq ($(NATIVE),1)
CFLAGS  += -march=native
else ifneq ($(NATIVE),0)
$(error NATIVE must be 0 or 1, not '$(NATIVE)')
endif
# Open MPI's C bindings (Debian's libopenmpi-dev: pkg-config ompi-c), the same compiler and flags
# as the rest: only sim/engine/mpi_dist.c and the sweep's MPI mode include mpi.h.
ifeq ($(MPI),1)
PKG_CFLAGS += $(shell pkg-config --cflags ompi-c 2>/dev/null) -DFEDSIM_MPI=1
PKG_LIBS   += $(shell pkg-config --libs ompi-c 2>/dev/null)
else ifneq ($(MPI),0)
$(error MPI must be 0 or 1, not '$(MPI)')
endif
ifeq ($(SANITIZER),address)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -O1
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(SANITIZER),undefined)
CFLAGS  += -fsanitize=undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=undefined
else ifneq ($(SANITIZER),none)
$(error SANITIZER must be address, undefined or none, not '$(SANITIZER)')
endif

# The commit every run records (runs.git_rev, `fedsim --version`), "-dirty" when tracked files
# differ from it. Only the two files that print it get the define, and they are rebuilt when
# it changes (the stamp), so a binary never records a stale commit.
GIT_REV := $(shell r=$$(git rev-parse --short=12 HEAD 2>/dev/null) || r=unknown; \
	   git diff --quiet HEAD -- 2>/dev/null || r="$$r-dirty"; echo "$$r")
REV_OBJS := $(BUILD)/obj/sim/main.o $(BUILD)/obj/sim/store/store.o

LIB_SRCS  := $(filter-out sim/main.c,$(shell find sim -name '*.c' | sort))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/sim/main.o
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: FORCE all deps run test unit e2e bench bench-fl bench-libs asan clean format format-check valgrind docs-check fuzz fuzz-cov

all: $(BUILD)/fedsim $(BUILD)/libfedsim.a

$(REV_OBJS): CFLAGS += -DFEDSIM_GIT_REV=\"$(GIT_REV)\"
$(REV_OBJS): $(BUILD)/git_rev.stamp
$(BUILD)/git_rev.stamp: FORCE
	@mkdir -p $(BUILD); echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@
FORCE:

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libfedsim.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fedsim: $(MAIN_OBJ) $(BUILD)/libfedsim.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libfedsim.a
	@mkdir -p $(dir $@)
	@echo "CC $@"; $(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libfedsim.a $(LDLIBS)

# Install the Debian packages that are missing (dpkg -s first; sudo when not root).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

datasets/fashion-mnist.h5: | $(BUILD)/fedsim
	@mkdir -p $(dir $@)
	$(BUILD)/fedsim data import fashion-mnist --out $@

# Wisconsin breast cancer (vertical learning, docs/vertical.md) from Debian's python3-sklearn.
datasets/breast_cancer.h5: | $(BUILD)/fedsim
	@mkdir -p $(dir $@)
	$(BUILD)/fedsim data import breast-cancer --out $@

datasets/kjv.h5: | $(BUILD)/fedsim
	@mkdir -p $(dir $@)
	$(BUILD)/fedsim data import kjv --out $@

run: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory datasets/fashion-mnist.h5
	$(BUILD)/fedsim run scenarios/quickstart.yaml
	/usr/bin/python3 analysis/quickstart_figure.py results/quickstart.db -o results/quickstart.png

unit: all $(TEST_BINS)
	@set -e; fail=0; for t in $(TEST_BINS); do \
	  echo "== $$t"; $$t || fail=1; done; exit $$fail

e2e: all
	@fail=0; for t in tests/e2e/run.sh tests/e2e/systems.sh tests/e2e/sweep.sh tests/e2e/privacy.sh \
	          tests/e2e/robust.sh tests/e2e/stops.sh tests/e2e/hostile.sh tests/e2e/vertical.sh \
	          tests/e2e/mpi.sh tests/e2e/efficiency.sh tests/e2e/personal.sh; do \
	  bash $$t $(BUILD)/fedsim || fail=1; done; exit $$fail

# The end-to-end suites run last, so the output ends with their "N passed, M failed" lines.
test: deps
	@$(MAKE) --no-print-directory docs-check
	@$(MAKE) --no-print-directory layers-check
	@if command -v clang-format >/dev/null 2>&1; then $(MAKE) --no-print-directory format-check \
	  && echo "format-check: clean"; else echo "format-check: skipped (no clang-format)"; fi
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e

# docs/scenario.md is generated from the key table in sim/config; it must stay in sync.
docs-check: $(BUILD)/fedsim
	@$(BUILD)/fedsim keys --markdown | diff -u docs/scenario.md - \
	  || { echo "docs/scenario.md is stale: run '$(BUILD)/fedsim keys --markdown > docs/scenario.md'"; exit 1; }

# store/ owns the database and every SQL statement (docs/ARCHITECTURE.md): no other module
# includes sqlite3.h.
.PHONY: layers-check
layers-check:
	@bad=$$(grep -rl --include='*.[ch]' --include='*.inc' 'include <sqlite3.h>' sim | grep -v '^sim/store/'); \
	if [ -n "$$bad" ]; then echo "layers-check: only sim/store/ may include sqlite3.h:" $$bad; exit 1; fi

bench: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/fedsim bench all

# Issue 17's table: `fedsim bench fl` beside the same loop in PyTorch (python3-torch, optional),
# per model and batch (analysis/bench_fl.sh; SECONDS_PER_RUN, THREADS, ROWS). Minutes; quiet machine.
bench-fl: all
	bash analysis/bench_fl.sh $(BUILD)/fedsim

# Issue 17: oneDNN and LIBXSMM against fedsim's kernels on the FedAvg shapes
# (analysis/kernel_libs/bench_libs.c; docs/performance.md). Neither library is a fedsim
# dependency: this target installs nothing and stops when their -dev packages are missing.
# One thread; under a minute; quiet machine.
BENCH_LIBS := $(BUILD)/bench_libs
$(BENCH_LIBS): analysis/kernel_libs/bench_libs.c $(BUILD)/libfedsim.a
	@for p in libdnnl-dev libxsmm-dev; do dpkg -s $$p >/dev/null 2>&1 || { \
	  echo "bench-libs: needs libdnnl-dev and libxsmm-dev (not fedsim dependencies):" \
	       "apt-get install libdnnl-dev libxsmm-dev"; exit 1; }; done
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $$(pkg-config --cflags libxsmm) $(LDFLAGS) -o $@ $< \
	  $(BUILD)/libfedsim.a -ldnnl $$(pkg-config --libs libxsmm) $(LDLIBS)

bench-libs: all
	@$(MAKE) --no-print-directory $(BENCH_LIBS)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BENCH_LIBS)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SANITIZER=address unit

valgrind: all
	valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BUILD)/fedsim run tests/e2e/tiny.yaml --quiet --db $(BUILD)/valgrind.db

# libFuzzer harnesses of the scenario and sweep parsers (tests/fuzz/, docs/fuzzing.md), built with
# clang under ASan + UBSan when clang is there; not part of `make test` (which replays the
# regression corpus tests/fuzz/regress/ through the fedsim command, tests/e2e/hostile.sh).
# `make fuzz` builds both and runs each FUZZ_SECONDS (default 60) from the shipped scenarios.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_SRCS    := $(filter-out sim/config/model.c,$(wildcard sim/config/*.c)) sim/util/err.c
FUZZ_FLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Wall -Wextra -Werror \
                -Wno-unused-parameter -Isim -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all
FUZZ_BINS    := $(FUZZ_BUILD)/fuzz_scenario $(FUZZ_BUILD)/fuzz_sweep

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRCS) $(wildcard sim/config/*.h sim/util/err.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell pkg-config --cflags libfyaml) $< $(FUZZ_SRCS) -o $@ \
	  $(shell pkg-config --libs libfyaml) -lm

fuzz:
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1; then echo "fuzz: skipped (no $(FUZZ_CC))"; exit 0; fi; \
	$(MAKE) --no-print-directory $(FUZZ_BINS) && \
	for h in scenario sweep; do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$h $(FUZZ_BUILD)/seeds; \
	  cp $$(find scenarios tests/e2e -name '*.yaml') $(FUZZ_BUILD)/seeds/; \
	  $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=8192 -dict=tests/fuzz/yaml.dict -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus-$$h $(FUZZ_BUILD)/seeds tests/fuzz/regress || exit 1; \
	done

# Line coverage of the parsers by the corpora `make fuzz` grew (llvm-cov; docs/fuzzing.md).
fuzz-cov:
	@mkdir -p $(FUZZ_BUILD)/cov
	@for h in scenario sweep; do \
	  $(FUZZ_CC) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O0 -Isim \
	    -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
	    $$(pkg-config --cflags libfyaml) tests/fuzz/fuzz_$$h.c $(FUZZ_SRCS) \
	    -o $(FUZZ_BUILD)/cov/fuzz_$$h $$(pkg-config --libs libfyaml) -lm || exit 1; \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$h $(FUZZ_BUILD)/camp-$$h; \
	  LLVM_PROFILE_FILE=$(FUZZ_BUILD)/cov/$$h.profraw $(FUZZ_BUILD)/cov/fuzz_$$h -runs=0 \
	    $(FUZZ_BUILD)/corpus-$$h $$(ls -d $(FUZZ_BUILD)/camp*-$$h) tests/fuzz/regress >/dev/null 2>&1; \
	done; \
	llvm-profdata merge -o $(FUZZ_BUILD)/cov/all.profdata $(FUZZ_BUILD)/cov/*.profraw && \
	llvm-cov report $(FUZZ_BUILD)/cov/fuzz_sweep -instr-profile=$(FUZZ_BUILD)/cov/all.profdata \
	  -object $(FUZZ_BUILD)/cov/fuzz_scenario $(FUZZ_SRCS)

format:
	clang-format -i $$(find sim tests -name '*.[ch]')

format-check:
	clang-format --dry-run --Werror $$(find sim tests -name '*.[ch]')

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
