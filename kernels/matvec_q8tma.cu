/*
 * matvec_q8tma.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, on
 * the int8 tensor cores like matvec_q8mma.cu, with the weights streamed by
 * the copy engine: one warp of each block only issues bulk copies
 * (cp.async.bulk, completing on an mbarrier) of whole row-block tiles into
 * a ring of 2-4 shared-memory stages; the other TW warps only read shared
 * memory and compute.  The bytes in flight no longer cost registers or
 * issue slots of the compute warps.
 *
 *  - A step is one 256-element tile of a block of RB = 16 MT TW rows: one
 *    bulk copy per row (TB bytes; Q6_K, whose rows are only 2-byte
 *    aligned, the covering 16-byte span, and the tensor's last bytes by
 *    plain loads so nothing is read past its end), padded row pitches so
 *    the compute warps' loads hit distinct banks.  Compute warp w takes
 *    rows 16 MT w .. of every step (dsq8mma::q8_tile, the q8mma kernel's
 *    tile product).
 *  - Work is split stream-K style: the steps (row block, tile) in order
 *    are cut into gridDim.x equal ranges, one per block, so every block
 *    streams the same number of bytes whatever the shape.  A row block
 *    that one block covers whole is stored straight to y; one shared by
 *    several blocks has each block's partial sums written to the workspace
 *    and the last to arrive (a counter per row block and warp) adds them in
 *    block order: results do not depend on timing.
 *  - x is quantized into the B fragments and records of k_prep_mma first;
 *    this kernel is its programmatic dependent, and its producer warp
 *    starts the weight copies before waiting for x.
 *
 * Weight types Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K; K % 256 == 0.
 * Numerics are the q8mma kernel's: the product with the int8-quantized x,
 * ds_ref_matmul_q8 to ~3e-7 relative.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "q8mma.cuh"

namespace
{

using namespace dsq8mma;

constexpr int QS_MAX = 4;		/* ring stages, where they fit */
constexpr int BAR_BYTES = 128;	/* the mbarriers, before the ring */

template <int T>
constexpr bool TMA_OK = T == DS_TYPE_Q4_0 || T == DS_TYPE_Q4_1 || T == DS_TYPE_Q5_0 ||
	T == DS_TYPE_Q8_0 || T == DS_TYPE_Q4_K || T == DS_TYPE_Q5_K || T == DS_TYPE_Q6_K;

/* types whose warps can take two m16 tiles (32 rows) */
template <int T>
constexpr bool TMT2_OK = !(T == DS_TYPE_Q8_0 || T == DS_TYPE_Q6_K);

template <int T, int MTP, int TWP>
struct TCfg
{
	static constexpr int MT = MTP;
	static constexpr int TW = TWP;	/* compute warps per block */
	static constexpr int TT = 32 * (TW + 1);	/* and the copy warp */
	static constexpr int RB = 16 * MT * TW;	/* rows per step */
	static constexpr int TB = dsq8::Tile<T>::B;
	static constexpr bool SHIFT = T == DS_TYPE_Q6_K;
	/* row pitch: 16 mod 32 bytes, so rows g = 0..7 of a warp's loads fall
	 * on distinct banks (Q6_K: a covering span of <= 240 bytes) */
	static constexpr int PITCH = SHIFT ? 240 : TB % 32 == 0 ? TB + 16 : TB;
	static constexpr int STAGE = RB * PITCH;
	static constexpr int QS = (227 * 1024 - BAR_BYTES) / STAGE < QS_MAX ?
		(227 * 1024 - BAR_BYTES) / STAGE : QS_MAX;
	static constexpr int SMEM = BAR_BYTES + QS * STAGE;
	static constexpr int NV = 4 * MT;	/* output values per lane */
};

struct TArgs
{
	const uint8_t *w;
	uint32_t	rb;				/* bytes per row */
	size_t		wbytes;
	int			M,
				nt,				/* tiles per row */
				nb;				/* vectors */
	long		steps;			/* row blocks x tiles */
	const uint4 *xb;			/* B fragments: [K / 64][32 lanes] */
	const uint4 *xr;			/* records: [K / 32][4][REC4] */
	float	   *part;			/* [gridDim.x][2][TW][NV][32] partial sums */
	unsigned   *counters;		/* [row blocks][TW] */
	void	   *y;
	int			ldy,
				y_bf16;
};

__device__ __forceinline__ uint32_t
smem_u32(const void *p)
{
	return (uint32_t) __cvta_generic_to_shared(p);
}

__device__ __forceinline__ void
mbar_init(uint32_t bar, uint32_t count)
{
	asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void
mbar_arrive(uint32_t bar)
{
	asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" :: "r"(bar) : "memory");
}

__device__ __forceinline__ void
mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes)
{
	asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
				 :: "r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void
mbar_wait(uint32_t bar, uint32_t parity)
{
	uint32_t	done;

	do
	{
		asm volatile("{\n\t.reg .pred p;\n\t"
					 "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
					 "selp.u32 %0, 1, 0, p;\n}\n"
					 : "=r"(done) : "r"(bar), "r"(parity) : "memory");
	} while (!done);
}

/* bytes (a multiple of 16) from global src to shared dst, both 16-byte
 * aligned, completing on the mbarrier bar */
__device__ __forceinline__ void
bulk_copy(uint32_t dst, const void *src, uint32_t bytes, uint32_t bar)
{
	asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes "
				 "[%0], [%1], %2, [%3];\n"
				 :: "r"(dst), "l"(src), "r"(bytes), "r"(bar) : "memory");
}

/* the block whose range of steps holds step s: b_c = c steps / G */
__device__ __forceinline__ int
step_owner(long s, long steps, int G)
{
	return (int) (((s + 1) * G - 1) / steps);
}

template <int T, bool ONE, int MTP, int TWP>
__global__ void __launch_bounds__(TCfg<T, MTP, TWP>::TT, 1)
k_q8tma(TArgs a)
{
	using C = TCfg<T, MTP, TWP>;
	constexpr int TW = C::TW,
				QS = C::QS,
				MT = C::MT;
	static_assert(C::SMEM <= 227 * 1024 && QS >= 2 && 16 * QS <= BAR_BYTES, "shared memory");
	extern __shared__ __align__(128) uint8_t smem[];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	const int	G = gridDim.x;
	const long	b0 = (long) blockIdx.x * a.steps / G,
				b1 = (long) (blockIdx.x + 1) * a.steps / G;
	const uint32_t full0 = smem_u32(smem),
				empty0 = full0 + 8 * QS;
	uint8_t    *ring = smem + BAR_BYTES;

	if (threadIdx.x == 0)
	{
		for (int s = 0; s < QS; s++)
		{
			mbar_init(full0 + 8 * s, 1);
			mbar_init(empty0 + 8 * s, TW);
		}
		asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
	}
	__syncthreads();

	if (warp == TW)
	{
		/* ---- the copy warp: step i into stage i % QS once its last use
		 * is over */
		const uint32_t ring_s = smem_u32(ring);
		long		i = 0;

		for (long s = b0; s < b1; s++, i++)
		{
			const int	slot = (int) (i % QS);
			const int	j = (int) (s / a.nt),
						t = (int) (s - (long) j * a.nt);
			const int	rv = min(C::RB, a.M - j * C::RB);
			const uint32_t dst = ring_s + slot * C::STAGE;
			const size_t off0 = (size_t) j * C::RB * a.rb + (size_t) t * C::TB;

			if (i >= QS)
				mbar_wait(empty0 + 8 * slot, (uint32_t) ((i / QS - 1) & 1));
			if constexpr (!C::SHIFT)
			{
				if (lane == 0)
					mbar_arrive_expect_tx(full0 + 8 * slot, (uint32_t) rv * C::TB);
				__syncwarp();
				for (int r = lane; r < rv; r += 32)
					bulk_copy(dst + r * C::PITCH, a.w + off0 + (size_t) r * a.rb, C::TB,
							  full0 + 8 * slot);
			}
			else
			{
				uint32_t	bytes = 0;

				for (int r = lane; r < rv; r += 32)
				{
					const size_t off = off0 + (size_t) r * a.rb;
					const size_t lo = off & ~(size_t) 15,
								hi = (off + C::TB + 15) & ~(size_t) 15;

					if (hi <= a.wbytes)
						bytes += (uint32_t) (hi - lo);
					else		/* the tensor's last bytes: nothing read past its end */
						for (size_t b = lo; b < a.wbytes; b++)
							asm volatile("st.shared.u8 [%0], %1;\n"
										 :: "r"(dst + r * C::PITCH + (uint32_t) (b - lo)),
										 "r"((uint32_t) a.w[b]) : "memory");
				}
				bytes = __reduce_add_sync(0xffffffffu, bytes);
				__syncwarp();
				if (lane == 0)
					mbar_arrive_expect_tx(full0 + 8 * slot, bytes);
				__syncwarp();
				for (int r = lane; r < rv; r += 32)
				{
					const size_t off = off0 + (size_t) r * a.rb;
					const size_t lo = off & ~(size_t) 15,
								hi = (off + C::TB + 15) & ~(size_t) 15;

					if (hi <= a.wbytes)
						bulk_copy(dst + r * C::PITCH, a.w + lo, (uint32_t) (hi - lo), full0 + 8 * slot);
				}
			}
		}
		return;
	}

	/* ---- the compute warps */
	grid_dependency_wait();

	const int	wr = warp * 16 * MT;	/* this warp's first row in a step */
	const int	g = lane >> 2,
				t = lane & 3;
	long		i = 0;

	for (long s = b0; s < b1;)
	{
		const int	j = (int) (s / a.nt),
					t0 = (int) (s - (long) j * a.nt);
		const int	t1 = (int) min((long) a.nt, t0 + (b1 - s));
		const int	r0 = j * C::RB + wr;
		const int	rv = max(1, a.M - r0);
		float		acc[MT][4],
					macc[MT][4];

#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int q = 0; q < 4; q++)
				acc[m][q] = macc[m][q] = 0.0f;

		for (int tile = t0; tile < t1; tile++, i++)
		{
			const int	slot = (int) (i % QS);

			mbar_wait(full0 + 8 * slot, (uint32_t) ((i / QS) & 1));
			q8_tile<T, ONE, MT, C::PITCH>(a.xb, a.xr, a.nb, ring + slot * C::STAGE + wr * C::PITCH,
										  (uint32_t) r0 * a.rb, a.rb, rv, tile, lane, acc, macc);
			__syncwarp();
			if (lane == 0)
				mbar_arrive(empty0 + 8 * slot);
		}
		s += t1 - t0;

		float		v[C::NV];

#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int q = 0; q < 4; q++)
				v[4 * m + q] = acc[m][q] + macc[m][q];

		if (t0 != 0 || t1 != a.nt)
		{
			/* a row block shared with other blocks: partial sums, and the
			 * last to arrive adds them in block order */
			const long	first = (long) j * a.nt;
			const int	cf = step_owner(first, a.steps, G),
						cl = step_owner(first + a.nt - 1, a.steps, G);
			auto		pslot = [&] (int c) {
				const long	bc = (long) c * a.steps / G;

				return a.part + ((size_t) (2 * c + (bc / a.nt == j ? 0 : 1)) * TW + warp) * C::NV * 32 + lane;
			};
			float	   *pp = pslot(blockIdx.x);
			unsigned	last = 0;

#pragma unroll
			for (int q = 0; q < C::NV; q++)
				__stcg(pp + 32 * q, v[q]);
			__threadfence();
			__syncwarp();
			if (lane == 0)
				last = atomicAdd(a.counters + (size_t) j * TW + warp, 1u) == (unsigned) (cl - cf);
			last = __shfl_sync(0xffffffffu, last, 0);
			if (!last)
				continue;
			__threadfence();
#pragma unroll
			for (int q = 0; q < C::NV; q++)
				v[q] = 0.0f;
			for (int c = cf; c <= cl; c++)
			{
				const float *p = pslot(c);

#pragma unroll
				for (int q = 0; q < C::NV; q++)
					v[q] += __ldcg(p + 32 * q);
			}
			if (lane == 0)
				a.counters[(size_t) j * TW + warp] = 0;
		}
#pragma unroll
		for (int m = 0; m < MT; m++)
#pragma unroll
			for (int q = 0; q < 4; q++)
			{
				const int	row = r0 + 16 * m + 8 * (q >> 1) + g,
							col = 2 * t + (q & 1);

				if (row < a.M && col < a.nb && (!ONE || col == 0))
					ds_store_act(a.y, (size_t) col * a.ldy + row, v[4 * m + q], a.y_bf16);
			}
	}
}

template <int T, int MTP, int TWP>
int
q8tma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
			 const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy)
{
	using C = TCfg<T, MTP, TWP>;
	constexpr int TW = C::TW,
				TT = C::TT;
	static int	smem_set = 0,
				smem_set1 = 0,
				per_sm = 0;
	const int	nt = K / 256;
	const long	nrb = (M + C::RB - 1) / C::RB;
	const long	steps = nrb * nt;
	const size_t xb_bytes = ds_ws_round((size_t) K * 8);
	const size_t xr_bytes = ds_ws_round((size_t) (K / 32) * 4 * dsq8::MREC<T> * 4);
	const auto	kern = n == 1 ? k_q8tma<T, true, MTP, TWP> : k_q8tma<T, false, MTP, TWP>;

	DS_CUDA_CHECK(ds_set_smem(k_q8tma<T, true, MTP, TWP>, C::SMEM, &smem_set1));
	DS_CUDA_CHECK(ds_set_smem(k_q8tma<T, false, MTP, TWP>, C::SMEM, &smem_set));
	if (per_sm == 0)
	{
		int			p1 = 0,
					p2 = 0;

		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p1, k_q8tma<T, true, MTP, TWP>, TT, C::SMEM));
		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p2, k_q8tma<T, false, MTP, TWP>, TT, C::SMEM));
		per_sm = min(p1, p2);
	}
	DS_REQUIRE(per_sm > 0, DS_CUDA_ERR_CUDA, "the bulk-copy int8 kernel does not fit on a multiprocessor");
	DS_REQUIRE(nrb * TW <= DS_COUNTERS, DS_CUDA_ERR_UNSUPPORTED, "too many rows for the split counters");

	const int	G = (int) min(steps, (long) per_sm * ctx->sm_count);
	const size_t part_bytes = ds_ws_round((size_t) G * 2 * TW * C::NV * 32 * 4);

	DS_REQUIRE(xb_bytes + xr_bytes + part_bytes <= ctx->ws_bytes, DS_CUDA_ERR_WORKSPACE,
			   "workspace too small for the int8 x fragments");

	TArgs		a;
	uint8_t    *xb = ctx->ws;
	uint32_t   *xr = (uint32_t *) (ctx->ws + xb_bytes);

	k_prep_mma<T><<<K / 32, 256, 0, stream>>>(x, x_bf16, ldx, n, xb, xr);
	DS_CUDA_CHECK_LAUNCH();

	a.w = (const uint8_t *) w;
	a.rb = (uint32_t) ds_row_size(T, K);
	a.wbytes = (size_t) M * a.rb;
	a.M = M;
	a.nt = nt;
	a.nb = n;
	a.steps = steps;
	a.xb = (const uint4 *) xb;
	a.xr = (const uint4 *) xr;
	a.part = (float *) (ctx->ws + xb_bytes + xr_bytes);
	a.counters = ctx->counters;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = y_bf16;

	cudaLaunchConfig_t cfg = {};
	cudaLaunchAttribute attr[1];

	attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
	attr[0].val.programmaticStreamSerializationAllowed = 1;
	cfg.gridDim = dim3(G);
	cfg.blockDim = dim3(TT);
	cfg.dynamicSmemBytes = C::SMEM;
	cfg.stream = stream;
	cfg.attrs = attr;
	cfg.numAttrs = 1;
	DS_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kern, a));
	return DS_CUDA_OK;
}

template <int T, int TWP>
static int
q8tma_tw(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
		 const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int mt)
{
	if constexpr (TMT2_OK<T>)
	{
		/* 32 rows per warp where each block still gets a few steps */
		const long	steps2 = (long) ((M + 32 * TWP - 1) / (32 * TWP)) * (K / 256);

		if (mt == 2 || (mt == 0 && steps2 >= 4L * ctx->sm_count))
			return q8tma_launch<T, 2, TWP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy);
	}
	return q8tma_launch<T, 1, TWP>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy);
}

template <int T>
static int
q8tma_type(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int M, int K,
		   const void *x, int x_bf16, int ldx, int n, void *y, int y_bf16, int ldy, int mt, int tw)
{
	if (tw == 12)
		return q8tma_tw<T, 12>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt);
	return q8tma_tw<T, 8>(ctx, stream, w, M, K, x, x_bf16, ldx, n, y, y_bf16, ldy, mt);
}

}								/* namespace */

int
ds_matvec_q8tma_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					   void *y, ds_cuda_dtype ytype, int ldy, int mt, int tw)
{
	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 8));
	DS_REQUIRE(K % 256 == 0, DS_CUDA_ERR_UNSUPPORTED, "the bulk-copy int8 product needs K % 256 == 0");
	switch (wtype)
	{
#define Q8T_CASE(T) \
		case T: \
			return q8tma_type<T>(ctx, stream, w, M, K, x, xtype == DS_CUDA_BF16, ldx, n, y, \
								 ytype == DS_CUDA_BF16, ldy, mt, tw);
		Q8T_CASE(DS_TYPE_Q4_0)
		Q8T_CASE(DS_TYPE_Q4_1)
		Q8T_CASE(DS_TYPE_Q5_0)
		Q8T_CASE(DS_TYPE_Q8_0)
		Q8T_CASE(DS_TYPE_Q4_K)
		Q8T_CASE(DS_TYPE_Q5_K)
		Q8T_CASE(DS_TYPE_Q6_K)
#undef Q8T_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_q8tma(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					 void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_q8tma_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 0, 0);
}
