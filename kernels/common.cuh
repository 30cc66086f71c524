/*
 * common.cuh -- what every kernel file shares: the error-returning check
 * macros, the context, and a few device helpers (cp.async, mma, bf16).
 *
 * Library code never exits, aborts or prints: a failed check records
 * "file:line: statement: reason" for ds_cuda_last_error() and returns a
 * ds_cuda_status from the enclosing launcher.
 */
#ifndef DS_KERNELS_COMMON_CUH
#define DS_KERNELS_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>

#include <utility>

#include "deepseek_kernels.h"
#include "quant.h"

/* Record a failure for ds_cuda_last_error() and return status. */
int			ds_cuda_fail(int status, const char *file, int line, const char *what,
						 const char *why);

/* Return DS_CUDA_ERR_CUDA from the caller when a CUDA call fails. */
#define DS_CUDA_CHECK(stmt) \
	do { \
		cudaError_t ds_e_ = (stmt); \
		if (ds_e_ != cudaSuccess) \
			return ds_cuda_fail(DS_CUDA_ERR_CUDA, __FILE__, __LINE__, #stmt, \
								cudaGetErrorString(ds_e_)); \
	} while (0)

/* Check the launch just queued (bad configuration, missing kernel image). */
#define DS_CUDA_CHECK_LAUNCH() DS_CUDA_CHECK(cudaGetLastError())

/* Return DS_CUDA_ERR_CUBLAS from the caller when a cuBLAS call fails. */
#define DS_CUBLAS_CHECK(stmt) \
	do { \
		cublasStatus_t ds_s_ = (stmt); \
		if (ds_s_ != CUBLAS_STATUS_SUCCESS) \
			return ds_cuda_fail(DS_CUDA_ERR_CUBLAS, __FILE__, __LINE__, #stmt, \
								cublasGetStatusString(ds_s_)); \
	} while (0)

/* Return status with a message when cond does not hold. */
#define DS_REQUIRE(cond, status, msg) \
	do { \
		if (!(cond)) \
			return ds_cuda_fail((status), __FILE__, __LINE__, #cond, (msg)); \
	} while (0)

/* Propagate a failure of a call that already recorded its message. */
#define DS_TRY(call) \
	do { \
		int ds_r_ = (call); \
		if (ds_r_ != DS_CUDA_OK) \
			return ds_r_; \
	} while (0)

/*
 * The context.  The workspace is carved per call; the counters are zeroed
 * at creation and every kernel that uses counters leaves them at zero
 * again; likewise the word slots are DS_WSLOT_EMPTY (ds_wslot_put below).
 */
#define DS_COUNTERS 65536			/* split-K arrival counters */
#define DS_WSLOT_BYTES (8u << 20)	/* split-K word slots */
#define DS_WSLOT_EMPTY 0xffffffffu	/* a word slot not written (a NaN that no
									 * arithmetic makes: NaN results are
									 * 0x7fffffff) */
#define DS_CUBLAS_WS (32u << 20)	/* cuBLAS workspace (graph capture needs one) */

struct ds_cuda_context
{
	int			device;
	int			sm_count;
	char		name[256];
	cublasHandle_t cublas;
	void	   *cublas_ws;
	uint8_t    *ws;				/* general workspace */
	size_t		ws_bytes;
	unsigned   *counters;		/* DS_COUNTERS zeroed counters */
	float	   *wslots;			/* DS_WSLOT_BYTES of DS_WSLOT_EMPTY words */
};

/* Size of an allocation in the workspace, rounded to 256 bytes. */
static inline size_t
ds_ws_round(size_t n)
{
	return (n + 255) & ~(size_t) 255;
}

/*
 * Launch a kernel as the programmatic dependent of the one before it on
 * the stream (PDL): it may start while that one runs, and waits for it
 * with griddepcontrol.wait where it needs its results.
 */
template <typename... KArgs, typename... Args>
static inline cudaError_t
ds_launch_pdl(void (*kernel) (KArgs...), int grid, int block, int smem, cudaStream_t stream,
			  Args &&...args)
{
	cudaLaunchConfig_t cfg = {};
	cudaLaunchAttribute attr[1];

	attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
	attr[0].val.programmaticStreamSerializationAllowed = 1;
	cfg.gridDim = dim3(grid);
	cfg.blockDim = dim3(block);
	cfg.dynamicSmemBytes = smem;
	cfg.stream = stream;
	cfg.attrs = attr;
	cfg.numAttrs = 1;
	return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

/* Raise a kernel's dynamic shared memory limit (once per instantiation). */
template <typename K>
static inline cudaError_t
ds_set_smem(K kernel, int bytes, int *done_bytes)
{
	if (*done_bytes >= bytes)
		return cudaSuccess;
	cudaError_t e = cudaFuncSetAttribute(kernel,
										 cudaFuncAttributeMaxDynamicSharedMemorySize,
										 bytes);
	if (e == cudaSuccess)
		*done_bytes = bytes;
	return e;
}

/* ------------------------------------------------------------------------
 * Device helpers
 * ------------------------------------------------------------------------ */

/*
 * Programmatic dependent launch, device side.  grid_dependency_wait: wait
 * until the grid this one depends on has completed and its memory is
 * visible (every thread that reads what that grid wrote, or writes what it
 * may still read, calls it first).  grid_dependents_launch: let the next
 * grid on the stream launch now (it waits for this one where it needs
 * to).  Both are no-ops for a grid not launched with ds_launch_pdl.
 */
__device__ __forceinline__ void
grid_dependency_wait(void)
{
	asm volatile("griddepcontrol.wait;\n" ::: "memory");
}

__device__ __forceinline__ void
grid_dependents_launch(void)
{
	asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

/* 16-byte asynchronous copy global -> shared; bytes past src_bytes are zero. */
__device__ __forceinline__ void
ds_cp_async16(void *smem, const void *gmem, int src_bytes)
{
	unsigned	s = (unsigned) __cvta_generic_to_shared(smem);

	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
				 :: "r"(s), "l"(gmem), "r"(src_bytes));
}

__device__ __forceinline__ void
ds_cp_async_commit(void)
{
	asm volatile("cp.async.commit_group;\n" ::);
}

/* Wait until at most n of this thread's copy groups are still in flight. */
template <int n>
__device__ __forceinline__ void
ds_cp_async_wait(void)
{
	asm volatile("cp.async.wait_group %0;\n" :: "n"(n));
}

/*
 * D += A * B on the tensor cores, m16n8k16, bf16 inputs, f32 accumulators.
 * Lane l = 4g + t holds a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 =
 * A[g][2t+8..], a3 = A[g+8][2t+8..], b0 = B[2t..2t+1][g], b1 = B[2t+8..][g],
 * d = {D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]}.
 */
__device__ __forceinline__ void
ds_mma_bf16(float d[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
			uint32_t b0, uint32_t b1)
{
	asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		"{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		: "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		: "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* The same with f16 inputs. */
__device__ __forceinline__ void
ds_mma_f16(float d[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
		   uint32_t b0, uint32_t b1)
{
	asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
		"{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		: "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		: "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* Release/acquire fence at device scope (cheaper than __threadfence's
 * sequentially consistent one); pairs with a relaxed atomic counter. */
__device__ __forceinline__ void
ds_fence_acq_rel(void)
{
	asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
}

__device__ __forceinline__ float
ds_bf16_bits_to_f32(uint32_t h)
{
	return __uint_as_float(h << 16);
}

/* Round to nearest even bf16, as raw bits. */
__device__ __forceinline__ uint32_t
ds_f32_to_bf16_bits(float f)
{
	return (uint32_t) __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

/* Load element i of an f32 or bf16 array. */
__device__ __forceinline__ float
ds_load_act(const void *p, size_t i, int is_bf16)
{
	return is_bf16 ? ds_bf16_bits_to_f32(((const uint16_t *) p)[i])
		: ((const float *) p)[i];
}

/* Store element i of an f32 or bf16 array. */
__device__ __forceinline__ void
ds_store_act(void *p, size_t i, float v, int is_bf16)
{
	if (is_bf16)
		((uint16_t *) p)[i] = (uint16_t) ds_f32_to_bf16_bits(v);
	else
		((float *) p)[i] = v;
}

/*
 * A thread's partial sums in a split-K slot, 4 at a time: v[4 i .. 4 i + 3]
 * at p + 4 L i, where p is the slot + 4 lane and L the lanes sharing the
 * slot (16-byte stores and loads, a warp's 512 bytes contiguous); cached in
 * L2 only (another multiprocessor reads them).
 */
template <int N, int L>
__device__ __forceinline__ void
ds_slot_store(float *p, const float (&v)[N])
{
	static_assert(N % 4 == 0, "slot values: a multiple of 4");
#pragma unroll
	for (int i = 0; i < N / 4; i++)
		__stcg((float4 *) (p + 4 * L * i), make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]));
}

/* v[k] += the slot's value k (k = 0 .. N - 1), as ds_slot_store wrote it */
template <int N, int L>
__device__ __forceinline__ void
ds_slot_add(float (&v)[N], const float *p)
{
	static_assert(N % 4 == 0, "slot values: a multiple of 4");
#pragma unroll
	for (int i = 0; i < N / 4; i++)
	{
		const float4 s = __ldcg((const float4 *) (p + 4 * L * i));

		v[4 * i] += s.x;
		v[4 * i + 1] += s.y;
		v[4 * i + 2] += s.z;
		v[4 * i + 3] += s.w;
	}
}

/*
 * A warp's arrival at counters[i], of count arrivals: lane 0 adds 1 (after
 * the warp's earlier work, __syncwarp), and every lane learns whether it
 * was the last.
 */
__device__ __forceinline__ bool
ds_warp_arrive_last(unsigned *counters, int i, unsigned count, int lane)
{
	unsigned	last = 0;

	__syncwarp();
	if (lane == 0)
		last = atomicAdd(counters + i, 1u) == count - 1;
	return __shfl_sync(0xffffffffu, last, 0) != 0;
}

/* 4 words of a slot, read relaxed (device scope) */
__device__ __forceinline__ void
ds_wslot_load4(uint32_t *w, const float *p)
{
	asm volatile("ld.relaxed.gpu.global.v4.u32 {%0, %1, %2, %3}, [%4];\n"
				 : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3]) : "l"(p) : "memory");
}

/* 4 words of a slot emptied (relaxed, device scope) */
__device__ __forceinline__ void
ds_wslot_empty4(float *p)
{
	asm volatile("st.relaxed.gpu.global.v4.u32 [%0], {%1, %1, %1, %1};\n"
				 :: "l"(p), "r"(DS_WSLOT_EMPTY) : "memory");
}

/*
 * Word slots: split-K sums handed from one block to another without a
 * counter or a fence.  Every word is DS_WSLOT_EMPTY between calls; the
 * writer stores its values (relaxed, device scope: each 32-bit word is
 * single-copy atomic), the reader waits until no word of a group of 4 is
 * empty, adds them and empties them again.  A value is never
 * DS_WSLOT_EMPTY (arithmetic NaNs are 0x7fffffff).  Layout as
 * ds_slot_store.
 */
template <int N, int L>
__device__ __forceinline__ void
ds_wslot_put(float *p, const float (&v)[N])
{
	static_assert(N % 4 == 0, "slot values: a multiple of 4");
#pragma unroll
	for (int i = 0; i < N / 4; i++)
		asm volatile("st.relaxed.gpu.global.v4.f32 [%0], {%1, %2, %3, %4};\n"
					 :: "l"(p + 4 * L * i), "f"(v[4 * i]), "f"(v[4 * i + 1]), "f"(v[4 * i + 2]),
					 "f"(v[4 * i + 3]) : "memory");
}

template <int N, int L>
__device__ __forceinline__ void
ds_wslot_take(float (&v)[N], float *p)
{
	static_assert(N % 4 == 0, "slot values: a multiple of 4");
#pragma unroll
	for (int i = 0; i < N / 4; i++)
	{
		uint32_t	w[4];

		for (;;)
		{
			ds_wslot_load4(w, p + 4 * L * i);
			if (w[0] != DS_WSLOT_EMPTY && w[1] != DS_WSLOT_EMPTY && w[2] != DS_WSLOT_EMPTY &&
				w[3] != DS_WSLOT_EMPTY)
				break;
			__nanosleep(32);
		}
#pragma unroll
		for (int k = 0; k < 4; k++)
			v[4 * i + k] += __uint_as_float(w[k]);
		ds_wslot_empty4(p + 4 * L * i);
	}
}

/* A slot put by this thread emptied again without a read. */
template <int N, int L>
__device__ __forceinline__ void
ds_wslot_clear(float *p)
{
#pragma unroll
	for (int i = 0; i < N / 4; i++)
		ds_wslot_empty4(p + 4 * L * i);
}

/*
 * Slots k0 <= k < k1 at p + k * stride (N values each, laid out as
 * ds_wslot_put) added into v in that order, with the loads of KB slots in
 * flight together: one round trip for them where their values have
 * landed.  Each word is emptied after its read.
 */
template <int N, int L, int KB>
__device__ __forceinline__ void
ds_wslot_take_range(float (&v)[N], float *p, size_t stride, int k0, int k1)
{
	static_assert(N % 4 == 0, "slot values: a multiple of 4");
	for (int kb = k0; kb < k1; kb += KB)
	{
		uint32_t	w[KB][N];

#pragma unroll
		for (int kk = 0; kk < KB; kk++)
			if (kb + kk < k1)
#pragma unroll
				for (int i = 0; i < N / 4; i++)
					ds_wslot_load4(&w[kk][4 * i], p + (kb + kk) * stride + 4 * L * i);
#pragma unroll
		for (int kk = 0; kk < KB; kk++)
			if (kb + kk < k1)
#pragma unroll
				for (int i = 0; i < N / 4; i++)
				{
					float	   *q = p + (kb + kk) * stride + 4 * L * i;

					while (w[kk][4 * i] == DS_WSLOT_EMPTY || w[kk][4 * i + 1] == DS_WSLOT_EMPTY ||
						   w[kk][4 * i + 2] == DS_WSLOT_EMPTY || w[kk][4 * i + 3] == DS_WSLOT_EMPTY)
					{
						__nanosleep(32);
						ds_wslot_load4(&w[kk][4 * i], q);
					}
#pragma unroll
					for (int j = 0; j < 4; j++)
						v[4 * i + j] += __uint_as_float(w[kk][4 * i + j]);
					ds_wslot_empty4(q);
				}
	}
}



#endif							/* DS_KERNELS_COMMON_CUH */
