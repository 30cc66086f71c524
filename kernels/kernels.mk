# kernels.mk -- build kernels/*.cu into deepseek_cuda.so when nvcc is found.
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
ifneq ($(NVCC),)
CUDA_SRCS = $(sort $(wildcard kernels/*.cu))
ifneq ($(CUDA_SRCS),)
$(info deepseek: nvcc found at $(NVCC); building deepseek_cuda.so)
endif
endif
