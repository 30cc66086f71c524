# deepseek -- PostgreSQL extension that runs DeepSeek-family models in a
# background worker.  PGXS build; the CUDA library is built when nvcc exists.
#
#   make && make install        extension (CPU engine always; CUDA lib if nvcc)
#   make cli                    ./deepseek-cli, the engine without PostgreSQL
#   make test                   every test suite (installs what it needs)
#   make demo                   throwaway cluster + a short tour
#   make demo-stop              stop the demo cluster and remove it
#   make bench                  CPU benchmark of the default model

EXTENSION = deepseek
EXTVERSION = 0.1.0

MODULE_big = deepseek
ENGINE_SRCS = $(sort $(wildcard src/engine/*.c))
PG_SRCS = $(sort $(wildcard src/*.c))
OBJS = $(PG_SRCS:.c=.o) $(ENGINE_SRCS:.c=.o)

DATA = $(wildcard sql/deepseek--*.sql)
REGRESS = $(sort $(filter-out deepseek--%,$(notdir $(basename $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --outputdir=build/regress

ENGINE_LIBS = -lpcre2-8 -lpthread -lm -ldl
SHLIB_LINK += $(ENGINE_LIBS)
PG_CPPFLAGS += -Isrc -Isrc/engine -DDS_EXTVERSION='"$(EXTVERSION)"'
PG_CFLAGS += -std=gnu11 -Wall -Wno-declaration-after-statement

EXTRA_CLEAN = build deepseek-cli

# Plain `make` builds everything (the rule below would otherwise be the default).
.DEFAULT_GOAL := all

# PGXS tracks no header dependencies: rebuild every object when one changes.
$(OBJS): $(wildcard src/*.h src/engine/*.h)

# PGXS wants LLVM bitcode for every object when the server was built with
# LLVM; our objects include code it has no rule for.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

# ---------------------------------------------------------------------------
# Engine without PostgreSQL: command-line driver and engine tests.
ENGINE_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -Isrc/engine
CLI_OBJS = $(patsubst src/%.c,build/cli/%.o,$(ENGINE_SRCS) $(wildcard src/cli/*.c))

build/cli/%.o: src/%.c $(wildcard src/engine/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c $< -o $@

deepseek-cli: $(CLI_OBJS)
	$(CC) $(ENGINE_CFLAGS) -o $@ $^ $(ENGINE_LIBS)

.PHONY: cli engine-test test demo demo-stop bench cuda
cli: deepseek-cli

ENGINE_TESTS = $(patsubst test/engine/%.c,build/test/%,$(wildcard test/engine/test_*.c))
ENGINE_LIB_OBJS = $(patsubst src/%.c,build/cli/%.o,$(ENGINE_SRCS))

build/test/%: test/engine/%.c $(ENGINE_LIB_OBJS) $(wildcard test/engine/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -Itest/engine -o $@ $< $(ENGINE_LIB_OBJS) $(ENGINE_LIBS)

engine-test: deepseek-cli $(ENGINE_TESTS)
	bash test/engine/run.sh

# ---------------------------------------------------------------------------
# CUDA: kernels/ into a separate shared library the worker loads at run time.
include kernels/kernels.mk

# ---------------------------------------------------------------------------
# The two commands of README.md.
test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo.sh stop

bench: deepseek-cli
	bash scripts/bench.sh
