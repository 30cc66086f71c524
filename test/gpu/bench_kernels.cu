/*
 * bench_kernels.cu -- the matrix products on the weight shapes of
 * DeepSeek-R1-Distill-Qwen-1.5B and -7B, in every weight type, at batch 1,
 * 2, 4, 8, 16, 64 and 256, against the two ceilings measured in the same
 * run: a device-to-device copy (bytes read + written) and cuBLAS bf16 GEMM
 * of the same shape (weights already bf16).
 *
 * Method (.library METHOD.md): each configuration is captured in a CUDA
 * graph of R launches that walk through enough copies of the weights to
 * exceed the 60 MB L2 several times over, so every launch reads its weights
 * from memory; the graph is replayed 9 times with events and the median
 * replay time / R is reported.  Inputs are random (never zeros); weights
 * are random blocks with valid scales, made on the device.
 *
 * Columns: time per product (us); weight GB/s = quantized weight bytes / time;
 * %copy = that over the copy bandwidth; TFLOP/s = 2 M K n / time; vs cuBLAS =
 * cuBLAS bf16 time / this time (1.00 = as fast as cuBLAS on bf16 weights).
 *
 * Usage: bench_kernels [full-table-file]  (default: only the summary)
 * Environment: DS_BENCH_TYPES=Q4_K,Q8_0  DS_BENCH_SHAPES=0,3  DS_BENCH_BATCHES=1,8
 * DS_BENCH_PATHS=dp4a,q8tma narrow the run (the cuBLAS reference too;
 * batches outside 1, 2, 4, 8, 16, 64, 256 go to the full table only);
 * DS_BENCH_MLIST=2368,18944 (with DS_BENCH_K, default 3584) replaces the
 * shapes by those rows, to read off the fixed cost per call.
 *
 * Paths at n <= 8 (the int8 ones need K % 256 == 0, their times include
 * quantizing x): "mma" (matvec.cu), "dp4a" (matvec_dp4a.cu), "q8mma" and
 * "q8m16" (matvec_q8mma.cu, 16-row units forced; "q8mws" / "q8mfe" /
 * "q8mib" its split-K sums through word slots / partials behind a fence /
 * within the block), "q8tma"
 * (matvec_q8tma.cu) and its variants "q8ts4" / "q8ts1" (4 or 1 tiles per
 * step), "q8t1" (16 rows per warp), "q8tg66" (the default on 66 blocks,
 * or DS_BENCH_GRID (0: the default grid), with DS_BENCH_MT m16 tiles per
 * warp, DS_BENCH_SC tiles per step and DS_BENCH_LAG steps on their way,
 * 0 for the whole ring), "q8txs" (x
 * copied into each stage by the copy engine), "q8tl1".."q8tl3" (the
 * default with at most 1-3 steps on their way per block), "q8tl0" (the
 * default with the whole ring on its way), "bulk" (n <= 2:
 * matvec_bulk.cu on DS_BENCH_BGRID blocks, DS_BENCH_BSTAGE bytes per
 * stage, DS_BENCH_BRING bytes of ring, DS_BENCH_BLAG stages on their way,
 * -1 the whole ring; 0 or unset: the defaults; DS_BENCH_BPROBE=1: its
 * weight stream alone, no arithmetic).  At n = 1 the
 * physical references for the same bytes: "read" (a kernel that only
 * reads them, 4 loads in flight per thread) and "tmaRxB" (the copy engine
 * alone, boxes of R rows x B bytes, as the q8tma kernel streams them).
 * "auto" (any n): ds_cuda_matmul, the product a caller gets (the summary's
 * default column).
 * At n >= 16: "mma" passes, "fused", "wgmma" (gemm_wgmma.cu), "wgmcp" (the
 * same with W by 16-byte copies where the copy engine would take it),
 * "wgm128" (the same with blocks of 128 vectors), "wgmnh" (the default
 * without L2 cache hints) and "cublas"; DS_BENCH_WGRID=G runs the wgmma
 * paths on G blocks (default: its aligned grid, split.cuh ds_split_wgmma_grid).
 */
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include <algorithm>
#include <string>
#include <vector>

#include "deepseek_kernels.h"
#include "gemm_cublas.cuh"
#include "gemm_fused.cuh"
#include "gemm_wgmma.cuh"
#include "matvec.cuh"
#include "bench_summary.h"
#include "test_common.h"
#include "trace.cuh"

#ifdef DS_TRACE
/* a build with -DDS_TRACE: DS_BENCH_TRACE=file writes the timeline of one
 * graph replay of every q8tma and wgmma cell (kernels/trace.cuh) */
extern "C" int ds_trace_q8tma_take(unsigned long long *out);
extern "C" int ds_trace_wgmma_take(unsigned long long *out);
static FILE *trace_fp;
static std::string trace_label;
static int	(*trace_take) (unsigned long long *out);
#endif

static const size_t ROTATE_BYTES = (size_t) 320 << 20;	/* > 5 x L2 */

struct Shape
{
	int			M,
				K;
	const char *what;
};

static const Shape model_shapes[] = {
	{1536, 8960, "1.5B ffn_down"}, {8960, 1536, "1.5B ffn_up/gate"}, {1536, 1536, "1.5B attn_q/o"},
	{3584, 18944, "7B ffn_down"}, {18944, 3584, "7B ffn_up/gate"}, {3584, 3584, "7B attn_q/o"},
	{152064, 1536, "1.5B output"}, {152064, 3584, "7B output"},
};
/* the batches of the table; DS_BENCH_BATCHES may add others (3, 5, ...)
 * to the full table */
static std::vector<int> batches = {1, 2, 4, 8, 16, 64, 256};

/* the shapes of this run: the models' shapes, or DS_BENCH_MLIST=m1,m2,...
 * rows with DS_BENCH_K (default 3584) columns, for the fixed cost per call */
static std::vector<Shape> shapes;

static void
set_shapes(void)
{
	const char *ml = getenv("DS_BENCH_MLIST");

	if (!ml)
	{
		shapes.assign(std::begin(model_shapes), std::end(model_shapes));
		return;
	}
	const int	K = getenv("DS_BENCH_K") ? atoi(getenv("DS_BENCH_K")) : 3584;

	for (const char *p = ml; *p;)
	{
		const int	M = atoi(p);

		if (M > 0)
			shapes.push_back({M, K, "rows sweep"});
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
}

/* random bytes, then valid f16 scales in every block (or f16/bf16 values) */
__global__ void
k_fill(uint8_t *w, size_t bytes, uint64_t seed)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < bytes / 4;
		 i += (size_t) gridDim.x * blockDim.x)
	{
		uint64_t	h = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;

		h ^= h >> 31;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
		((uint32_t *) w)[i] = (uint32_t) h;
	}
}

/* a small f16/bf16 bit pattern from a hash: |v| in [2^-12, 2^-4) */
__device__ uint16_t
small_half(uint32_t h, bool bf16)
{
	uint32_t	mant = h & 0x3ff,
				e = 3 + (h >> 10) % 8;	/* f16 exponent 3..10: 2^-12 .. 2^-5 */

	if (bf16)
		return (uint16_t) (((h >> 20) & 1) << 15 | (e + 112) << 7 | (mant >> 3));
	return (uint16_t) (((h >> 20) & 1) << 15 | e << 10 | mant);
}

__global__ void
k_fix_scales(uint8_t *w, size_t nblocks, int type, int block_bytes)
{
	for (size_t b = (size_t) blockIdx.x * blockDim.x + threadIdx.x; b < nblocks;
		 b += (size_t) gridDim.x * blockDim.x)
	{
		uint8_t    *p = w + b * block_bytes;
		uint32_t	h = (uint32_t) (b * 2654435761u) ^ 0x5bd1e995u;

		switch (type)
		{
			case DS_TYPE_F16:
			case DS_TYPE_BF16:
				*(uint16_t *) p = small_half(h, type == DS_TYPE_BF16);
				break;
			case DS_TYPE_Q6_K:
				*(uint16_t *) (p + 208) = small_half(h, false);
				break;
			default:
				*(uint16_t *) p = small_half(h, false);
				if (type == DS_TYPE_Q4_1 || type == DS_TYPE_Q4_K || type == DS_TYPE_Q5_K)
					*(uint16_t *) (p + 2) = small_half(h * 7919u, false);
				break;
		}
	}
}

static void
fill_weights(uint8_t *w, size_t bytes, int type, uint64_t seed)
{
	const ds_type_traits *tt = ds_type_info(type);

	k_fill<<<1024, 256>>>(w, bytes, seed);
	k_fix_scales<<<1024, 256>>>(w, bytes / tt->block_bytes, type, tt->block_bytes);
	CK(cudaGetLastError());
}

/* is batch n in the comma-separated list (all when unset)? */
static bool
batch_selected(const char *list, int n)
{
	return !list || strstr(("," + std::string(list) + ",").c_str(),
						   ("," + std::to_string(n) + ",").c_str()) != NULL;
}

static double
median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

/*
 * Median time of one call (seconds): R calls, call(i) for i = 0..R-1, in a
 * graph replayed 9 times.  Returns -1 if a call fails.
 */
template <typename F>
static double
time_graph(cudaStream_t s, int R, F call)
{
	cudaGraph_t g;
	cudaGraphExec_t ge;
	cudaEvent_t e0,
				e1;
	std::vector<double> t;
	int			bad = 0;

	for (int i = 0; i < 2; i++)	/* warm-up outside the graph */
		bad |= call(i);
	CK(cudaStreamSynchronize(s));
	if (bad)
		return -1;
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
	for (int i = 0; i < R; i++)
		bad |= call(i);
	CK(cudaStreamEndCapture(s, &g));
	if (bad)
	{
		cudaGraphDestroy(g);
		return -1;
	}
	CK(cudaGraphInstantiate(&ge, g, 0));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	CK(cudaGraphLaunch(ge, s));
	for (int rep = 0; rep < 9; rep++)
	{
		float		ms;

		CK(cudaEventRecord(e0, s));
		CK(cudaGraphLaunch(ge, s));
		CK(cudaEventRecord(e1, s));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&ms, e0, e1));
		t.push_back(ms * 1e-3 / R);
	}
#ifdef DS_TRACE
	if (trace_fp && !trace_label.empty())
	{
		std::vector<unsigned long long> b((size_t) DS_TRACE_CALLS * DS_TRACE_BLOCKS * DS_TRACE_ROLES *
										  DS_TRACE_EVENTS);

		CK(cudaStreamSynchronize(s));
		CK((cudaError_t) trace_take(NULL));
		CK(cudaGraphLaunch(ge, s));
		CK(cudaStreamSynchronize(s));
		CK((cudaError_t) trace_take(b.data()));
		for (size_t i = 0; i < b.size(); i++)
			if (b[i])
				fprintf(trace_fp, "%s %d %d %d %d %llu\n", trace_label.c_str(),
						(int) (i / ((size_t) DS_TRACE_BLOCKS * DS_TRACE_ROLES * DS_TRACE_EVENTS)),
						(int) (i / (DS_TRACE_ROLES * DS_TRACE_EVENTS) % DS_TRACE_BLOCKS),
						(int) (i / DS_TRACE_EVENTS % DS_TRACE_ROLES), (int) (b[i] >> 56),
						b[i] & ((1ULL << 56) - 1));
	}
#endif
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaGraphExecDestroy(ge);
	cudaGraphDestroy(g);
	return median(t);
}

/* read n 16-byte words, 4 loads in flight per thread: what a kernel that
 * only streams the weights once reaches at this size */
__global__ void
k_read(const uint4 *a, size_t n, unsigned *out)
{
	const size_t st = (size_t) gridDim.x * blockDim.x;
	size_t		i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;
	unsigned	acc = 0;

	for (; i + 3 * st < n; i += 4 * st)
	{
		const uint4 v0 = __ldcs(a + i),
					v1 = __ldcs(a + i + st),
					v2 = __ldcs(a + i + 2 * st),
					v3 = __ldcs(a + i + 3 * st);

		acc ^= v0.x ^ v1.y ^ v2.z ^ v3.w ^ v0.w ^ v1.z ^ v2.y ^ v3.x;
	}
	for (; i < n; i += st)
		acc ^= __ldcs(a + i).x;
	if (acc == 0x9e3779b9u)
		out[0] = acc;
}

/*
 * The weight stream alone, through the copy engine: blocks of ROWS rows x
 * BW bytes of the weight matrix (a 2-D tensor of 8-byte words) copied by
 * one lane into a 4-stage ring, eight warps that only take each stage and
 * give it back.  What the bulk-copy kernel's memory side reaches with its
 * box shape (256 rows x 144 bytes) and with wider, shorter boxes.
 */
#include "tma.cuh"

template <int ROWS, int BW>
__global__ void __launch_bounds__(288, 1)
k_tma_probe(const __grid_constant__ CUtensorMap tm, long steps, int chunks, unsigned *out)
{
	extern __shared__ __align__(128) uint8_t smem[];
	constexpr int QS = 4,
				STAGE = ROWS * BW;
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	const long	b0 = (long) blockIdx.x * steps / gridDim.x,
				b1 = (long) (blockIdx.x + 1) * steps / gridDim.x;
	const uint32_t full0 = smem_u32(smem),
				empty0 = full0 + 8 * QS,
				ring = full0 + 128;

	if (threadIdx.x == 0)
	{
		for (int q = 0; q < QS; q++)
		{
			mbar_init(full0 + 8 * q, 1);
			mbar_init(empty0 + 8 * q, 8);
		}
		asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
	}
	__syncthreads();

	if (warp == 8)
	{
		if (lane)
			return;
		long		i = 0;

		for (long s = b0; s < b1; s++, i++)
		{
			const int	q = (int) (i % QS);
			const int	rbk = (int) (s / chunks),
						c = (int) (s - (long) rbk * chunks);

			if (i >= QS)
				mbar_wait(empty0 + 8 * q, (uint32_t) ((i / QS - 1) & 1));
			mbar_arrive_expect_tx(full0 + 8 * q, STAGE);
			tma_load_2d(ring + q * STAGE, &tm, c * (BW / 8), rbk * ROWS, full0 + 8 * q);
		}
		return;
	}

	unsigned	acc = 0;
	long		i = 0;

	for (long s = b0; s < b1; s++, i++)
	{
		const int	q = (int) (i % QS);
		uint32_t	v;

		mbar_wait(full0 + 8 * q, (uint32_t) ((i / QS) & 1));
		asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(ring + q * STAGE + 16 * (warp * 32 + lane)));
		acc ^= v;
		__syncwarp();
		if (lane == 0)
			mbar_arrive(empty0 + 8 * q);
	}
	if (acc == 0x9e3779b9u)
		out[0] = acc;
}

/* one stream of the weights (rb bytes per row, M rows) by the probe */
template <int ROWS, int BW>
static int
tma_probe(cudaStream_t s, const void *w, size_t rb, int M, int sms, unsigned *out)
{
	static bool set = false;
	CUtensorMap tm;
	const int	chunks = (int) ((rb + BW - 1) / BW);
	const long	steps = (long) ((M + ROWS - 1) / ROWS) * chunks;

	if (rb % 16 || ds_weight_tensor_map(&tm, w, rb, (uint64_t) M, BW, ROWS) != CUDA_SUCCESS)
		return 1;
	if (!set)
	{
		CK(cudaFuncSetAttribute(k_tma_probe<ROWS, BW>, cudaFuncAttributeMaxDynamicSharedMemorySize,
								128 + 4 * ROWS * BW));
		set = true;
	}
	k_tma_probe<ROWS, BW><<<(int) std::min<long>(steps, sms), 288, 128 + 4 * ROWS * BW, s>>>(tm, steps, chunks, out);
	return (int) cudaGetLastError();
}

__global__ void
k_copy(const uint4 *a, uint4 *b, size_t n)
{
	for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
		 i += (size_t) gridDim.x * blockDim.x)
		b[i] = a[i];
}

/*
 * Device-to-device copy bandwidth, bytes read + written per second: the
 * better of cudaMemcpyAsync (outside a graph, where the runtime copies with
 * a kernel) and a plain 16-byte copy kernel, median of 10 copies of 1 GiB.
 */
static double
copy_bandwidth(cudaStream_t s, double *memcpy_bw, double *kernel_bw)
{
	size_t		n = (size_t) 1 << 30;
	void	   *a,
			   *b;
	cudaEvent_t e0,
				e1;
	std::vector<double> tm,
				tk;

	CK(cudaMalloc(&a, n));
	CK(cudaMalloc(&b, n));
	CK(cudaMemset(a, 1, n));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	for (int rep = 0; rep < 12; rep++)
	{
		float		ms;

		CK(cudaEventRecord(e0, s));
		if (rep & 1)
			k_copy<<<4 * 132 * 4, 256, 0, s>>>((const uint4 *) a, (uint4 *) b, n / 16);
		else
			CK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice, s));
		CK(cudaEventRecord(e1, s));
		CK(cudaEventSynchronize(e1));
		CK(cudaEventElapsedTime(&ms, e0, e1));
		if (rep >= 2)
			(rep & 1 ? tk : tm).push_back(ms * 1e-3);
	}
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	CK(cudaFree(a));
	CK(cudaFree(b));
	*memcpy_bw = 2.0 * n / median(tm);
	*kernel_bw = 2.0 * n / median(tk);
	return std::max(*memcpy_bw, *kernel_bw);
}

typedef BenchRow Row;

int
main(int argc, char **argv)
{
	FILE	   *full = argc > 1 ? fopen(argv[1], "w") : NULL;
	const char *types_env = getenv("DS_BENCH_TYPES");
	const char *shapes_env = getenv("DS_BENCH_SHAPES");
	const char *batches_env = getenv("DS_BENCH_BATCHES");

	if (batches_env)
	{
		std::string list(batches_env);

		for (size_t p = 0; p < list.size();)
		{
			size_t		e = list.find(',', p);
			int			n = atoi(list.substr(p, e == std::string::npos ? std::string::npos : e - p).c_str());

			if (n >= 1 && n <= 256 && std::find(batches.begin(), batches.end(), n) == batches.end())
				batches.push_back(n);
			p = e == std::string::npos ? list.size() : e + 1;
		}
		std::sort(batches.begin(), batches.end());
	}
	const char *paths_env = getenv("DS_BENCH_PATHS");
	const int	tg_grid = getenv("DS_BENCH_GRID") ? atoi(getenv("DS_BENCH_GRID")) : 66,
				tg_mt = getenv("DS_BENCH_MT") ? atoi(getenv("DS_BENCH_MT")) : 0,
				tg_sc = getenv("DS_BENCH_SC") ? atoi(getenv("DS_BENCH_SC")) : 0,
				wg_grid = getenv("DS_BENCH_WGRID") ? atoi(getenv("DS_BENCH_WGRID")) : 0,
				tg_lag = getenv("DS_BENCH_LAG") ? atoi(getenv("DS_BENCH_LAG")) : -1,
				bk_grid = getenv("DS_BENCH_BGRID") ? atoi(getenv("DS_BENCH_BGRID")) : 0,
				bk_stage = getenv("DS_BENCH_BSTAGE") ? atoi(getenv("DS_BENCH_BSTAGE")) : 0,
				bk_ring = getenv("DS_BENCH_BRING") ? atoi(getenv("DS_BENCH_BRING")) : 0,
				bk_lag = getenv("DS_BENCH_BLAG") ? atoi(getenv("DS_BENCH_BLAG")) : 0,
				bk_probe = getenv("DS_BENCH_BPROBE") ? atoi(getenv("DS_BENCH_BPROBE")) : 0;
	ds_cuda_context *ctx;
	cudaStream_t s;
	cublasHandle_t cb;
	std::vector<Row> rows;
	double		copy_bw;
	int			rc;

	set_shapes();
#ifdef DS_TRACE
	if (getenv("DS_BENCH_TRACE"))
		trace_fp = fopen(getenv("DS_BENCH_TRACE"), "w");
#endif
	rc = ds_cuda_context_create(0, (size_t) 3 << 30, &ctx);
	if (rc != DS_CUDA_OK)
	{
		printf("bench: context: %s: %s\n", ds_cuda_status_name(rc), ds_cuda_last_error());
		return 1;
	}
	CK(cudaStreamCreate(&s));
	cublasCreate(&cb);
	cublasSetStream(cb, s);
	{
		void	   *cws;

		CK(cudaMalloc(&cws, 32 << 20));
		cublasSetWorkspace(cb, cws, 32 << 20);
	}
	{
		double		bm,
					bk;

		copy_bw = copy_bandwidth(s, &bm, &bk);
		printf("bench: %s, %d SMs; device-to-device copy %.0f GB/s (read + write; "
			   "cudaMemcpyAsync %.0f, copy kernel %.0f)\n", ds_cuda_context_device_name(ctx),
			   ds_cuda_context_sm_count(ctx), copy_bw / 1e9, bm / 1e9, bk / 1e9);
	}
	if (full)
		fprintf(full, "# %s; copy %.1f GB/s\n%-5s %-17s %6s %6s %4s %-7s %10s %8s %6s %8s %7s\n",
				ds_cuda_context_device_name(ctx), copy_bw / 1e9, "type", "shape", "M", "K", "n",
				"path", "time_us", "GB/s", "%copy", "TFLOP/s", "vs_cublas");

	for (int si = 0; si < (int) shapes.size(); si++)
	{
		const Shape &sh = shapes[si];

		if (shapes_env && !strstr(shapes_env, std::to_string(si).c_str()))
			continue;

		/* cuBLAS bf16 reference for every batch of this shape */
		std::vector<double> ref_t(batches.size(), 0.0);
		size_t		bf_bytes = (size_t) sh.M * sh.K * 2;
		int			bf_copies = (int) std::max<size_t>(1, (ROTATE_BYTES + bf_bytes - 1) / bf_bytes);
		uint8_t    *bfw;
		float	   *x,
				   *y;
		uint16_t   *xb;

		CK(cudaMalloc(&bfw, bf_bytes * bf_copies));
		fill_weights(bfw, bf_bytes * bf_copies, DS_TYPE_BF16, 11 + si);
		CK(cudaMalloc(&x, (size_t) 256 * sh.K * 4));
		CK(cudaMalloc(&xb, (size_t) 256 * sh.K * 2));
		CK(cudaMalloc(&y, (size_t) 256 * sh.M * 4));
		/* x: random f32 of moderate size (bf16 copy for cuBLAS) */
		{
			std::vector<float> hx((size_t) 256 * sh.K);
			std::vector<uint16_t> hb(hx.size());
			Rng			r(7 + si);

			for (size_t i = 0; i < hx.size(); i++)
			{
				hx[i] = r.normal();
				hb[i] = ds_f32_to_bf16(hx[i]);
			}
			CK(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
			CK(cudaMemcpy(xb, hb.data(), hb.size() * 2, cudaMemcpyHostToDevice));
		}
		for (int bi = 0; bi < (int) batches.size(); bi++)
		{
			int			n = batches[bi];
			const float one = 1.0f,
						zero = 0.0f;

			if (!batch_selected(batches_env, n))
				continue;
			ref_t[bi] = time_graph(s, std::max(bf_copies, 8), [&] (int i) {
				return (int) cublasGemmEx(cb, CUBLAS_OP_T, CUBLAS_OP_N, sh.M, n, sh.K, &one,
										  bfw + (size_t) (i % bf_copies) * bf_bytes, CUDA_R_16BF, sh.K,
										  xb, CUDA_R_16BF, sh.K, &zero, y, CUDA_R_32F, sh.M,
										  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
			});
			rows.push_back({"bf16", sh.what, "cuBLAS", sh.M, sh.K, n, ref_t[bi], bf_bytes / ref_t[bi] / 1e9,
							100.0 * bf_bytes / ref_t[bi] / copy_bw, 2.0 * sh.M * sh.K * n / ref_t[bi] / 1e12, 1.0});
		}
		CK(cudaFree(bfw));

		for (int type : all_types)
		{
			if (types_env && !strstr(types_env, ds_type_name(type)))
				continue;

			size_t		wb = ds_row_size(type, sh.K) * sh.M;
			int			copies = (int) std::max<size_t>(1, (ROTATE_BYTES + wb - 1) / wb);
			size_t		stride = (wb + 255) & ~(size_t) 255;
			uint8_t    *w;

			CK(cudaMalloc(&w, stride * copies));
			fill_weights(w, stride * copies, type, 1000 + type * 31 + si);
			for (int bi = 0; bi < (int) batches.size(); bi++)
			{
				int			n = batches[bi];
				int			R = std::max(copies, 8);

				if (!batch_selected(batches_env, n))
					continue;
				struct
				{
					const char *name;
					int			kind;
				}			paths[] = {{"mma", 0}, {"dp4a", 3}, {"q8mma", 4}, {"q8m16", 5}, {"fused", 1},
							   {"cublas", 2}, {"q8tma", 6}, {"q8ts4", 7}, {"q8t1", 8}, {"read", 9},
							   {"tma256x144", 10}, {"tma64x576", 11}, {"tma32x1152", 12},
							   {"tma16x2048", 13}, {"q8ts1", 14},
							   {"tma128x304", 15}, {"q8tg66", 16}, {"q8txs", 18}, {"wgmma", 19},
							   {"wgmcp", 20}, {"q8tl1", 21}, {"q8tl2", 22}, {"q8tl3", 23},
							   {"q8tl0", 24}, {"wgm128", 25}, {"wgmnh", 26}, {"q8mws", 27}, {"q8mfe", 28},
							   {"q8mib", 29}, {"bulk", 30}, {"auto", 31}};
				const bool	tma_type = type != DS_TYPE_F16 && type != DS_TYPE_BF16 &&
					(type != DS_TYPE_Q6_K || sh.M % 8 == 0);

				for (auto &p : paths)
				{
					if (paths_env && !strstr(("," + std::string(paths_env) + ",").c_str(),
											 ("," + std::string(p.name) + ",").c_str()))
						continue;
					if (p.kind == 0 && n > 16)
						continue;
					if (p.kind == 30 && (n > 2 || sh.K % 256 != 0))
						continue;
					if (p.kind == 3 && (n > 8 || sh.K % 256 != 0))
						continue;
					if ((p.kind == 4 || (p.kind >= 27 && p.kind <= 29)) && (n > 8 || sh.K % 256 != 0))
						continue;
					/* q8mma with 16-row units forced, where it could take 32 */
					if (p.kind == 5 && (n > 8 || sh.K % 256 != 0 || type == DS_TYPE_Q8_0 ||
										type == DS_TYPE_Q6_K || type == DS_TYPE_F16 ||
										type == DS_TYPE_BF16))
						continue;
					if ((p.kind == 1 || p.kind == 2 || p.kind == 19 || p.kind == 20 || p.kind == 25 || p.kind == 26) && n < 16)
						continue;
					/* the bulk-copy kernel: default, 4 tiles per step, 16 rows per warp, 1 tile per step */
					if (((p.kind >= 6 && p.kind <= 8) || p.kind == 14 || p.kind == 16 || p.kind == 18 ||
						 (p.kind >= 21 && p.kind <= 24)) &&
						(n > 8 || sh.K % 256 != 0 || !tma_type))
						continue;
					if (p.kind == 8 && type == DS_TYPE_Q8_0)
						continue;
					/* Q6_K's residue boxes: 128-row steps of 1 or 2 tiles only */
					if ((p.kind == 7 || p.kind == 8) && type == DS_TYPE_Q6_K)
						continue;
					if (((p.kind >= 9 && p.kind <= 13) || p.kind == 15) && n != 1)
						continue;

#ifdef DS_TRACE
					trace_label = p.kind == 6 || p.kind == 19 ?
						std::string(ds_type_name(type)) + " " + std::to_string(sh.M) + "x" + std::to_string(sh.K) +
						" " + std::to_string(n) + " " + p.name : std::string();
					trace_take = p.kind == 6 ? ds_trace_q8tma_take : ds_trace_wgmma_take;
#endif
					double		t = time_graph(s, R, [&] (int i) {
						const uint8_t *wi = w + (size_t) (i % copies) * stride;

						if (p.kind == 0)
						{
							/* passes of at most 8 vectors */
							int			rc2 = 0;

							for (int b = 0; b < n && !rc2; b += 8)
								rc2 = ds_matvec_launch(ctx, s, wi, type, sh.M, sh.K, x + (size_t) b * sh.K,
													   DS_CUDA_F32, sh.K, std::min(8, n - b),
													   y + (size_t) b * sh.M, DS_CUDA_F32, sh.M, 0);
							return rc2;
						}
						if (p.kind == 31)	/* what a caller gets: ds_cuda_matmul's choice */
							return ds_cuda_matmul(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32, sh.K, n, y,
												  DS_CUDA_F32, sh.M);
						if (p.kind == 30)
							return ds_matvec_bulk_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														 sh.K, n, y, DS_CUDA_F32, sh.M, bk_grid, bk_stage,
														 bk_ring, bk_lag, bk_probe);
						if (p.kind == 3)
							return ds_matvec_dp4a_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														 sh.K, n, y, DS_CUDA_F32, sh.M);
						if (p.kind == 4 || p.kind == 5)
							return ds_matvec_q8mma_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														  sh.K, n, y, DS_CUDA_F32, sh.M, 0,
														  p.kind == 5 ? 1 : 0, 0);
						if (p.kind == 27 || p.kind == 28 || p.kind == 29)
							return ds_matvec_q8mma_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														  sh.K, n, y, DS_CUDA_F32, sh.M, 0, 0,
														  p.kind == 27 ? 1 : p.kind == 28 ? 2 : 3);
						if ((p.kind >= 6 && p.kind <= 8) || p.kind == 14 || p.kind == 16 || p.kind == 18 ||
							(p.kind >= 21 && p.kind <= 24))
							return ds_matvec_q8tma_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														  sh.K, n, y, DS_CUDA_F32, sh.M,
														  p.kind == 8 ? 1 : p.kind == 16 ? tg_mt : 0,
														  p.kind == 7 ? 4 : p.kind == 14 ? 1 : p.kind == 16 ? tg_sc : 0,
														  p.kind == 16 ? tg_grid : 0,
														  p.kind == 18 ? 1 : p.kind == 6 || p.kind == 16 || p.kind >= 21 ? -1 : 0,
														  p.kind >= 21 ? (p.kind - 20) % 4 : p.kind == 16 ? tg_lag :
														  p.kind == 6 ? -1 : 0);
						if (p.kind == 9)
						{
							k_read<<<ds_cuda_context_sm_count(ctx) * 8, 256, 0, s>>>((const uint4 *) wi, wb / 16,
																				(unsigned *) y);
							return (int) cudaGetLastError();
						}
						if (p.kind >= 10 && p.kind <= 13 || p.kind == 15)
						{
							const size_t rb = ds_row_size(type, sh.K);
							const int	sms = ds_cuda_context_sm_count(ctx);

							return p.kind == 10 ? tma_probe<256, 144>(s, wi, rb, sh.M, sms, (unsigned *) y) :
								p.kind == 11 ? tma_probe<64, 576>(s, wi, rb, sh.M, sms, (unsigned *) y) :
								p.kind == 12 ? tma_probe<32, 1152>(s, wi, rb, sh.M, sms, (unsigned *) y) :
								p.kind == 15 ? tma_probe<128, 304>(s, wi, rb, sh.M, sms, (unsigned *) y) :
								tma_probe<16, 2048>(s, wi, rb, sh.M, sms, (unsigned *) y);
						}
						if (p.kind == 19 || p.kind == 20 || p.kind == 25 || p.kind == 26)
							return ds_gemm_wgmma_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														sh.K, n, y, DS_CUDA_F32, sh.M, p.kind == 25 ? 128 : 0, wg_grid,
														p.kind == 20, p.kind != 26);
						if (p.kind == 1)
							return ds_gemm_fused_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
														sh.K, n, y, DS_CUDA_F32, sh.M, 0, 0);
						return ds_gemm_cublas_launch(ctx, s, wi, type, sh.M, sh.K, x, DS_CUDA_F32,
													 sh.K, n, y, DS_CUDA_F32, sh.M, 0);
					});

					if (t < 0)
					{
						printf("bench: %s %s n=%d %s failed: %s\n", ds_type_name(type), sh.what, n,
							   p.name, ds_cuda_last_error());
						continue;
					}
					rows.push_back({ds_type_name(type), sh.what, p.name, sh.M, sh.K, n, t, wb / t / 1e9,
									100.0 * wb / t / copy_bw, 2.0 * sh.M * sh.K * n / t / 1e12,
									ref_t[bi] / t});
				}
			}
			CK(cudaFree(w));
		}
		CK(cudaFree(x));
		CK(cudaFree(xb));
		CK(cudaFree(y));
	}

	if (full)
	{
		for (auto &r : rows)
			fprintf(full, "%-5s %-17s %6d %6d %4d %-7s %10.2f %8.0f %6.1f %8.1f %7.2f\n",
					r.type.c_str(), r.shape.c_str(), r.M, r.K, r.n, r.path.c_str(), r.t * 1e6,
					r.gbs, r.pct, r.tflops, r.vs_cublas);
		fclose(full);
	}

	/* summary: the two small-batch kernels per type and shape, % of copy
	 * bandwidth at batch 1, 2, 4, 8 and the time of batch 8 over batch 1 */
	auto		find = [&] (int type, const Shape &sh, const char *path, int n) -> const Row * {
		for (auto &r : rows)
			if (r.type == ds_type_name(type) && r.M == sh.M && r.K == sh.K && r.path == path &&
				r.n == n)
				return &r;
		return NULL;
	};

	{
		std::vector<std::string> tn;
		std::vector<std::pair<int, int>> sm;

		for (int type : all_types)
			tn.push_back(ds_type_name(type));
		for (auto &sh : shapes)
			sm.push_back({sh.M, sh.K});
		bench_small_summary(stdout, rows, tn, sm, copy_bw);
	}
	if (getenv("DS_BENCH_MLIST"))
	{
		printf("\nrows sweep: type M K n path time_us %%copy\n");
		for (auto &r : rows)
			if (r.type != "bf16")
				printf("sweep %-5s %7d %6d %d %-10s %9.2f %5.1f\n", r.type.c_str(), r.M, r.K, r.n,
					   r.path.c_str(), r.t * 1e6, r.pct);
	}

	/* the bulk-copy kernel against the best of the others, and against a
	 * kernel that only reads the same bytes */
	printf("\nbulk-copy int8 kernel (matvec_q8tma.cu), %% of copy at n = 1 / 2 / 4 / 8 and t(8) / t(1); "
		   "n = 1: best of dp4a/q8mma, 4 tiles per step, 16 rows per warp, 1 tile per step, x staged, read-only\n");
	for (int type : all_types)
		for (auto &sh : shapes)
		{
			const Row  *r[4];
			const Row  *o1 = NULL;
			char		cell[64];
			int			len = 0;

			for (int k = 0; k < 4; k++)
				r[k] = find(type, sh, "q8tma", 1 << k);
			if (!r[0])
				continue;
			for (const char *pn : {"dp4a", "q8mma", "q8m16"})
			{
				const Row  *o = find(type, sh, pn, 1);

				if (o && (!o1 || o->t < o1->t))
					o1 = o;
			}
			for (int k = 0; k < 4; k++)
				len += snprintf(cell + len, sizeof(cell) - len, "%3.0f%s", r[k] ? r[k]->pct : 0.0,
								k < 3 ? "/" : "");
			const Row  *t12 = find(type, sh, "q8ts4", 1),
					   *t1 = find(type, sh, "q8t1", 1),
					   *rd = find(type, sh, "read", 1);
			const Row  *pr[4] = {find(type, sh, "tma256x144", 1), find(type, sh, "tma64x576", 1),
								 find(type, sh, "tma32x1152", 1), find(type, sh, "tma16x2048", 1)};

			if (pr[0] || pr[1] || pr[2] || pr[3])
				printf("%-5s %6dx%-6d | copy engine alone, boxes 256x144 %3.0f, 64x576 %3.0f, 32x1152 %3.0f, "
					   "16x2048 %3.0f\n", ds_type_name(type), sh.M, sh.K, pr[0] ? pr[0]->pct : 0.0,
					   pr[1] ? pr[1]->pct : 0.0, pr[2] ? pr[2]->pct : 0.0, pr[3] ? pr[3]->pct : 0.0);

			const Row  *t7 = find(type, sh, "q8ts1", 1),
					   *txs = find(type, sh, "q8txs", 1);

			printf("%-5s %6dx%-6d | %-16s %5.2f | was %3.0f | sc4 %3.0f | 16r %3.0f | sc1 %3.0f | xs %3.0f | read %3.0f | %7.1f us\n",
				   ds_type_name(type), sh.M, sh.K, cell, r[3] ? r[3]->t / r[0]->t : 0.0,
				   o1 ? o1->pct : 0.0, t12 ? t12->pct : 0.0, t1 ? t1->pct : 0.0, t7 ? t7->pct : 0.0,
				   txs ? txs->pct : 0.0, rd ? rd->pct : 0.0, r[0]->t * 1e6);
		}

	bool		large = false;

	for (auto &r : rows)
		large |= r.n > 8;
	if (!large)
	{
		ds_cuda_context_destroy(ctx);
		return 0;
	}
	printf("\nlarger batches: best path, time vs cuBLAS bf16 (1.00 = equal), n = 16 / 64 / 256\n");
	printf("%-5s", "type");
	for (auto &sh : shapes)
		printf(" %13dx%-6d", sh.M, sh.K);
	printf("\n");
	for (int type : all_types)
	{
		bool		any = false;

		for (auto &r : rows)
			any |= r.type == ds_type_name(type);
		if (!any)
			continue;
		printf("%-5s", ds_type_name(type));
		for (auto &sh : shapes)
		{
			char		cell[64] = "";

			for (int n : {16, 64, 256})
			{
				const Row  *best = NULL;

				for (auto &r : rows)
					if (r.type == ds_type_name(type) && r.M == sh.M && r.K == sh.K && r.n == n &&
						r.path != "auto" && (!best || r.t < best->t))
						best = &r;
				snprintf(cell + strlen(cell), sizeof(cell) - strlen(cell), "%s%4.2f%c",
						 n == 16 ? "" : "/", best ? best->vs_cublas : 0.0,
						 best ? best->path[0] : '-');
			}
			printf(" %20s", cell);
		}
		printf("\n");
	}
	printf("(path letters: m = small-batch passes, f = fused GEMM, w = wgmma GEMM, c = cuBLAS: dequantized, F16/BF16 in place)\n");
	ds_cuda_context_destroy(ctx);
	return 0;
}
