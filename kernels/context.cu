/*
 * context.cu -- the library's frame: status names, the per-thread error
 * message, device discovery and the context (cuBLAS handle, workspace).
 */
#include <stdio.h>
#include <string.h>

#include <new>

#include <vector>

#include "common.cuh"

static __thread char last_error[256];

/* Remember "file:line: what: why" for ds_cuda_last_error(); give back status. */
int
ds_cuda_fail(int status, const char *file, int line, const char *what, const char *why)
{
	const char *base = strrchr(file, '/');

	snprintf(last_error, sizeof(last_error), "%s:%d: %s: %s",
			 base ? base + 1 : file, line, what, why ? why : "");
	return status;
}

extern "C" int
ds_cuda_abi_version(void)
{
	return DS_CUDA_ABI_VERSION;
}

extern "C" const char *
ds_cuda_status_name(int status)
{
	switch (status)
	{
		case DS_CUDA_OK:
			return "ok";
		case DS_CUDA_ERR_ARG:
			return "invalid argument";
		case DS_CUDA_ERR_UNSUPPORTED:
			return "unsupported";
		case DS_CUDA_ERR_WORKSPACE:
			return "workspace too small";
		case DS_CUDA_ERR_CUDA:
			return "cuda error";
		case DS_CUDA_ERR_CUBLAS:
			return "cublas error";
		case DS_CUDA_ERR_NOMEM:
			return "out of memory";
	}
	return "unknown status";
}

extern "C" const char *
ds_cuda_last_error(void)
{
	return last_error;
}

/* Any failure (no driver, no device) counts as no device. */
extern "C" int
ds_cuda_device_count(void)
{
	int			n = 0;

	if (cudaGetDeviceCount(&n) != cudaSuccess)
	{
		cudaGetLastError();
		return 0;
	}
	return n;
}

/* Free what a partly built context holds. */
extern "C" void
ds_cuda_context_destroy(ds_cuda_context *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->cublas)
		cublasDestroy(ctx->cublas);
	cudaFree(ctx->cublas_ws);
	cudaFree(ctx->ws);
	cudaFree(ctx->counters);
	cudaFree(ctx->wslots);
	delete ctx;
}

static int
context_init(ds_cuda_context *ctx, int device, size_t workspace_bytes)
{
	cudaDeviceProp prop;

	DS_CUDA_CHECK(cudaSetDevice(device));
	DS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
	DS_REQUIRE(prop.major >= 8, DS_CUDA_ERR_UNSUPPORTED,
			   "the kernels need compute capability 8.0 or newer");
	ctx->device = device;
	ctx->sm_count = prop.multiProcessorCount;
	snprintf(ctx->name, sizeof(ctx->name), "%s", prop.name);
	ctx->ws_bytes = workspace_bytes ? workspace_bytes : (size_t) 256 << 20;
	DS_CUDA_CHECK(cudaMalloc(&ctx->ws, ctx->ws_bytes));
	DS_CUDA_CHECK(cudaMalloc(&ctx->counters, DS_COUNTERS * sizeof(unsigned)));
	DS_CUDA_CHECK(cudaMemset(ctx->counters, 0, DS_COUNTERS * sizeof(unsigned)));
	DS_CUDA_CHECK(cudaMalloc(&ctx->wslots, DS_WSLOT_BYTES));
	DS_CUDA_CHECK(cudaMemset(ctx->wslots, 0xff, DS_WSLOT_BYTES));	/* DS_WSLOT_EMPTY */
	DS_CUDA_CHECK(cudaMalloc(&ctx->cublas_ws, DS_CUBLAS_WS));
	DS_CUBLAS_CHECK(cublasCreate(&ctx->cublas));
	DS_CUBLAS_CHECK(cublasSetWorkspace(ctx->cublas, ctx->cublas_ws, DS_CUBLAS_WS));
	DS_CUDA_CHECK(cudaDeviceSynchronize());
	return DS_CUDA_OK;
}

extern "C" int
ds_cuda_context_create(int device, size_t workspace_bytes, ds_cuda_context **out)
{
	ds_cuda_context *ctx;
	int			rc;

	DS_REQUIRE(out != NULL, DS_CUDA_ERR_ARG, "out is NULL");
	*out = NULL;
	ctx = new (std::nothrow) ds_cuda_context();
	DS_REQUIRE(ctx != NULL, DS_CUDA_ERR_NOMEM, "cannot allocate the context");
	rc = context_init(ctx, device, workspace_bytes);
	if (rc != DS_CUDA_OK)
	{
		ds_cuda_context_destroy(ctx);
		return rc;
	}
	*out = ctx;
	return DS_CUDA_OK;
}

extern "C" const char *
ds_cuda_context_device_name(const ds_cuda_context *ctx)
{
	return ctx ? ctx->name : "";
}

extern "C" int
ds_cuda_context_check(const ds_cuda_context *ctx)
{
	DS_REQUIRE(ctx != NULL, DS_CUDA_ERR_ARG, "no context");
	DS_CUDA_CHECK(cudaSetDevice(ctx->device));
	DS_CUDA_CHECK(cudaDeviceSynchronize());

	std::vector<unsigned> c(DS_COUNTERS),
				w(DS_WSLOT_BYTES / 4);
	long		nc = 0,
				nw = 0;

	DS_CUDA_CHECK(cudaMemcpy(c.data(), ctx->counters, DS_COUNTERS * sizeof(unsigned), cudaMemcpyDeviceToHost));
	DS_CUDA_CHECK(cudaMemcpy(w.data(), ctx->wslots, DS_WSLOT_BYTES, cudaMemcpyDeviceToHost));
	for (unsigned v : c)
		nc += v != 0;
	for (unsigned v : w)
		nw += v != DS_WSLOT_EMPTY;
	if (nc || nw)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "%ld split-K counters not 0, %ld word slots not empty", nc, nw);
		return ds_cuda_fail(DS_CUDA_ERR_CUDA, __FILE__, __LINE__, "context state:", msg);
	}
	return DS_CUDA_OK;
}

extern "C" int
ds_cuda_context_sm_count(const ds_cuda_context *ctx)
{
	return ctx ? ctx->sm_count : 0;
}
