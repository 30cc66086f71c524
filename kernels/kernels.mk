# kernels.mk -- the CUDA kernels: deepseek_cuda.so and their tests.
#
# Included by the top Makefile after PGXS.  When nvcc is found, `make` builds
# kernels/*.cu into deepseek_cuda.so (the worker dlopen()s it, so a CPU-only
# server never maps libcudart) and `make install` puts it in $(pkglibdir).
# Without nvcc the library is skipped with one line saying so.
#
#   make kernels-test-cpu   CPU references and block decoders (no GPU, CI)
#   make gpu-test           every kernel against its CPU reference (GPU)
#   make gpu-bench          the weight-shape benchmark (GPU); full table in
#                           $(BENCH_OUT), summary on stdout
#   make gpu-trace          the benchmark with the timeline hooks of q8tma
#                           and the wgmma GEMM (kernels/trace.cuh)

NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

KERNEL_CU = $(sort $(wildcard kernels/*.cu))
KERNEL_HDRS = $(wildcard kernels/*.cuh kernels/*.h) src/engine/quant.h
KERNEL_REF_SRCS = $(sort $(wildcard kernels/ref/*.c))
KBUILD = build/kernels

# sm_90 machine code plus compute_90 PTX for other cards.  Objects keep their
# symbols hidden; deepseek_kernels.h marks the exported API.
NVCC_COMMON = -O3 -std=c++17 -lineinfo \
	-Xcompiler -fPIC -Xcompiler -fvisibility=hidden -Xcompiler -Wall \
	-Isrc/engine -Ikernels
NVCC_FLAGS = $(NVCC_COMMON) \
	-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
# the wgmma GEMM (gemm_wgmma.cu) uses Hopper's warpgroup instructions: sm_90a
# code only (its launcher checks for compute capability 9.0)
NVCC_FLAGS_90A = $(NVCC_COMMON) -gencode arch=compute_90a,code=sm_90a
CUDA_LIBS = -L$(CUDA_HOME)/lib64 -lcublas -lcudart -Xlinker -rpath,$(CUDA_HOME)/lib64
KERNEL_OBJS = $(patsubst kernels/%.cu,$(KBUILD)/%.o,$(KERNEL_CU)) $(KBUILD)/quant.o
KERNEL_REF_OBJS = $(patsubst kernels/ref/%.c,$(KBUILD)/ref/%.o,$(KERNEL_REF_SRCS))
EXTRA_CLEAN += deepseek_cuda.so

.PHONY: cuda kernels-test-cpu gpu-test gpu-bench gpu-trace install-cuda

ifneq ($(NVCC),)
$(info deepseek: nvcc found at $(NVCC); building deepseek_cuda.so)

all: deepseek_cuda.so
install: install-cuda
cuda: deepseek_cuda.so

$(KBUILD)/%.o: kernels/%.cu $(KERNEL_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(KBUILD)/gemm_wgmma.o: kernels/gemm_wgmma.cu $(KERNEL_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS_90A) -c $< -o $@

deepseek_cuda.so: $(KERNEL_OBJS)
	$(NVCC) -shared -Xcompiler -fPIC -o $@ $^ $(CUDA_LIBS) -Xlinker --no-undefined

install-cuda: deepseek_cuda.so
	$(INSTALL_SHLIB) deepseek_cuda.so '$(DESTDIR)$(pkglibdir)/deepseek_cuda.so'

$(KBUILD)/test_kernels_gpu: test/gpu/test_kernels_gpu.cu test/gpu/test_common.h \
		deepseek_cuda.so $(KERNEL_REF_OBJS) $(KBUILD)/quant.o
	$(NVCC) $(NVCC_FLAGS) -Ikernels/ref -Itest/gpu -o $@ $< $(KERNEL_REF_OBJS) \
		$(KBUILD)/quant.o deepseek_cuda.so $(CUDA_LIBS) -Xlinker -rpath,'$$ORIGIN/../..'

# the benchmark links the objects, for the launchers' tuning knobs
$(KBUILD)/bench_kernels: test/gpu/bench_kernels.cu test/gpu/bench_summary.h test/gpu/test_common.h $(KERNEL_OBJS)
	$(NVCC) $(NVCC_FLAGS) -Itest/gpu -o $@ $< $(KERNEL_OBJS) $(CUDA_LIBS)

gpu-test: $(KBUILD)/test_kernels_gpu
	$(KBUILD)/test_kernels_gpu

# the benchmark with the bulk-copy kernel's timeline hooks (kernels/trace.cuh;
# DS_BENCH_TRACE=file, test/gpu/trace_q8tma.py reads it)
gpu-trace:
	$(MAKE) NVCC="$(NVCC) -DDS_TRACE" CUDA_HOME=$(CUDA_HOME) KBUILD=build/ktrace build/ktrace/bench_kernels

BENCH_OUT ?= $(KBUILD)/bench_full.txt
gpu-bench: $(KBUILD)/bench_kernels
	$(KBUILD)/bench_kernels $(BENCH_OUT)

else
$(info deepseek: nvcc not found; skipping the CUDA library deepseek_cuda.so)

cuda gpu-test gpu-bench gpu-trace:
	@echo "deepseek: $@ needs nvcc (CUDA toolkit)"; exit 1
endif

# quant.c's type tables and conversions (private to the library), and the
# CPU references: plain C, built with or without CUDA.
KREF_CFLAGS = -std=gnu11 -O2 -fPIC -Wall -Wextra -Werror -Isrc/engine -Ikernels/ref

$(KBUILD)/quant.o: src/engine/quant.c src/engine/quant.h
	@mkdir -p $(dir $@)
	$(CC) $(KREF_CFLAGS) -fvisibility=hidden -c $< -o $@

$(KBUILD)/ref/%.o: kernels/ref/%.c kernels/ref/kernels_ref.h src/engine/quant.h
	@mkdir -p $(dir $@)
	$(CC) $(KREF_CFLAGS) -c $< -o $@

# CPU half of the kernel tests: builds and runs without CUDA.
KTEST_CXX ?= g++
$(KBUILD)/test_kernels_cpu: test/gpu/test_kernels_cpu.cpp test/gpu/test_common.h test/gpu/bench_summary.h \
		kernels/qblock.cuh kernels/q8dot.cuh kernels/split.cuh $(KERNEL_REF_OBJS) $(KBUILD)/quant.o
	$(KTEST_CXX) -std=c++17 -O2 -Wall -Wextra -Werror -Isrc/engine -Ikernels -Ikernels/ref \
		-Itest/gpu -o $@ $< $(KERNEL_REF_OBJS) $(KBUILD)/quant.o -lm

kernels-test-cpu: $(KBUILD)/test_kernels_cpu
	$(KBUILD)/test_kernels_cpu
