/*
 * trace.cuh -- a timeline of a kernel's blocks, for a build with -DDS_TRACE
 * only (bench_kernels' DS_BENCH_TRACE; without DS_TRACE every hook is
 * empty).  Per call (the block's launch count, mod DS_TRACE_CALLS), block
 * and role (0 the block, 1 the copy lane, 2 compute warp 0, 3 the x
 * kernel), up to DS_TRACE_EVENTS entries of event << 56 | the low 56 bits
 * of %globaltimer (ns).  Each recording thread keeps its own count, so the hooks cost a
 * timer read and a store, no atomics but one per block.
 */
#ifndef DS_TRACE_CUH
#define DS_TRACE_CUH

#ifdef DS_TRACE
#define DS_TRACE_CALLS 64
#define DS_TRACE_BLOCKS 160
#define DS_TRACE_ROLES 4
#define DS_TRACE_EVENTS 64

static __device__ unsigned long long ds_trace_buf[DS_TRACE_CALLS][DS_TRACE_BLOCKS][DS_TRACE_ROLES][DS_TRACE_EVENTS];
static __device__ unsigned ds_trace_seq[2][DS_TRACE_BLOCKS];

struct DsTrace
{
	unsigned long long *p;
	int			n;

	__device__ __forceinline__ void ev(int e)
	{
		if (p && n < DS_TRACE_EVENTS)
		{
			unsigned long long t;

			asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t) :: "memory");
			p[n++] = ((unsigned long long) e << 56) | (t & ((1ULL << 56) - 1));
		}
	}
};

/* this block's launch count of kernel kind k (one thread calls it) */
__device__ __forceinline__ unsigned
ds_trace_seq_next(int k)
{
	return blockIdx.x < DS_TRACE_BLOCKS ? atomicAdd(&ds_trace_seq[k][blockIdx.x], 1u) : 0u;
}

__device__ __forceinline__ DsTrace
ds_trace_at(unsigned seq, int role)
{
	DsTrace		t = {blockIdx.x < DS_TRACE_BLOCKS ? ds_trace_buf[seq % DS_TRACE_CALLS][blockIdx.x][role] : nullptr, 0};

	return t;
}

/* the host side: copy the timeline out (out may be NULL), then clear it */
static inline cudaError_t
ds_trace_take(unsigned long long *out)
{
	void	   *b,
			   *s;
	cudaError_t e;

	if ((e = cudaGetSymbolAddress(&b, ds_trace_buf)) != cudaSuccess ||
		(e = cudaGetSymbolAddress(&s, ds_trace_seq)) != cudaSuccess)
		return e;
	if (out && (e = cudaMemcpy(out, b, sizeof(ds_trace_buf), cudaMemcpyDeviceToHost)) != cudaSuccess)
		return e;
	if ((e = cudaMemset(b, 0, sizeof(ds_trace_buf))) != cudaSuccess)
		return e;
	return cudaMemset(s, 0, sizeof(ds_trace_seq));
}
#endif

#endif
