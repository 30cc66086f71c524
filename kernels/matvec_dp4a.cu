/*
 * matvec_dp4a.cu -- small-batch products y[b] = W x[b], 1 <= b <= 8, with
 * int8 activations and __dp4a: the cheaper-per-weight alternative to the
 * tensor-core kernel of matvec.cu (ds_cuda_matvec picks by measurement,
 * matmul.cu).
 *
 *  - A first tiny kernel quantizes x once per call into the workspace:
 *    int8 per element and, per 32 elements, the f32 scale and the integer
 *    sums of the two halves (q8dot.cuh).  F16/BF16 weights keep f32 x: the
 *    kernel only copies x to a dense f32 array.
 *  - The product is launched as a programmatic dependent of that kernel:
 *    its warps queue their first weight copies before waiting for x
 *    (griddepcontrol.wait), so the extra launch costs little.  The x
 *    kernel is itself the programmatic dependent of the kernel before it,
 *    which the product lets launch once its copies are queued: in a run of
 *    products the next x kernel is resident and waiting when this one
 *    ends.
 *  - A warp owns R whole rows at a time (a "job": R = 2 for one vector
 *    where M >= 16384, else 1; 2 for two vectors; 4 for 3-8), so the x
 *    loads are shared by R rows, and walks along K in steps of 4 P tiles.
 *    Each step's bytes of the R rows are copied with 16-byte cp.async into
 *    a per-warp ring of S stages in shared memory (consecutive lanes copy
 *    consecutive chunks: fully coalesced, any block size and row
 *    alignment, each byte read once; Q4_0 tiles get a 16-byte pad so the
 *    lanes' loads hit distinct banks).  Eight lanes share a tile; lane j
 *    unpacks its 32-element piece of each of the R rows to int8
 *    (q8dot.cuh) and multiplies it with the matching x-block of each
 *    vector: 8 dp4a and one f32 scale step per row and vector.
 *  - Partial sums stay in registers for the whole job; at its end one
 *    multi-value warp reduction (halving the values at each shuffle level)
 *    gives every (row, vector) sum, in a fixed order: results do not depend
 *    on timing.  Jobs are dealt out evenly: every warp gets the same number
 *    of consecutive jobs (the last one fewer), so all finish together.
 *
 * Requires K % 256 == 0 (every row a whole number of tiles); the caller
 * falls back to matvec.cu otherwise.
 */
#include "common.cuh"
#include "matvec.cuh"
#include "prep_x.cuh"
#include "q8dot.cuh"

namespace
{

constexpr int DW = 4;			/* warps per block */
constexpr int DP_MANY_ROWS = 16384;	/* rows from which one vector takes 2 rows per job */
constexpr int DT = 32 * DW;

/* passes of 4 tiles per step, ring stages, for NB vectors and R rows per job */
template <int NB, int R_>
struct DCfg
{
	static constexpr int R = R_;
	static constexpr int P = NB == 1 ? 2 : 1;
	static constexpr int S = (NB == 1 && R == 1) || NB == 2 ? 4 : 3;
};

/*
 * Bytes of padding after each tile in shared memory: Q4_0's 18-byte blocks
 * would put the lanes of neighbouring tiles on the same banks; one 16-byte
 * pad per 144-byte tile makes the 32 lanes' word loads conflict-free.
 * Only for types whose rows are 16-byte aligned (so tiles are whole chunks).
 */
template <int T>
constexpr int TPAD = T == DS_TYPE_Q4_0 ? 16 : 0;

template <int T, int NB, int R>
struct DSz
{
	using TT = dsq8::Tile<T>;
	using C = DCfg<NB, R>;
	static constexpr int SPAN = 4 * C::P * TT::B;	/* bytes of one row's step */
	static constexpr int CH = (SPAN + 30) / 16;	/* chunks that cover it at any offset */
	static constexpr int CPT = TT::B / 16;	/* chunks per tile, when TPAD > 0 */
	static constexpr int TSTRIDE = TT::B + TPAD<T>;	/* tile to tile in shared memory */
	static constexpr int PITCH = 16 * CH + 16 + 4 * C::P * TPAD<T>;	/* + ld_span slack */
	static constexpr int STAGE = C::R * PITCH;
	static constexpr int WARP = C::S * STAGE;
	static constexpr int SMEM = DW * WARP;
};

struct DArgs : Q8XArgs
{
	int			njobs,			/* ceil(M / R) */
				jpw;			/* consecutive jobs per warp */
};

/* Queue the copies of step `step` of job `job`'s rows into stage. */
template <int T, int NB, int R>
__device__ __forceinline__ void
copy_step(const DArgs &a, uint8_t *stage, int job, int step, int lane)
{
	using Z = DSz<T, NB, R>;
	using C = DCfg<NB, R>;
	using TT = dsq8::Tile<T>;
	const int	t0 = step * 4 * C::P;
	const int	nts = min(4 * C::P, a.nt - t0);

#pragma unroll
	for (int r = 0; r < C::R; r++)
	{
		const int	row = job * C::R + r;

		if (row >= a.M)
			break;

		const size_t gs = (size_t) row * a.rb + (size_t) t0 * TT::B;
		const size_t c0 = gs & ~(size_t) 15;
		const int	nch = (int) ((gs + (size_t) nts * TT::B - c0 + 15) >> 4);

#pragma unroll
		for (int k = 0; k < (Z::CH + 31) / 32; k++)
		{
			const int	c = lane + 32 * k;

			if (c < nch)
			{
				const size_t off = c0 + 16 * (size_t) c;
				const size_t left = a.wbytes - off;
				uint8_t    *dst = stage + r * Z::PITCH + 16 * c +
					(TPAD<T> ? TPAD<T> * (c / Z::CPT) : 0);

				if (left >= 16)
					ds_cp_async16(dst, a.w + off, 16);
				else			/* the tensor's last bytes: nothing past its end */
					for (int i = 0; i < (int) left; i++)
						dst[i] = a.w[off + i];
			}
		}
	}
}

/* One step: every piece of this lane in the stage, times every vector. */
template <int T, int NB, int R>
__device__ __forceinline__ void
compute_step(const DArgs &a, const uint8_t *stage, int job, int step, int lane,
			 float (&acc)[R][NB])
{
	using Z = DSz<T, NB, R>;
	using C = DCfg<NB, R>;
	using TT = dsq8::Tile<T>;
	const int	q = lane >> 3,
				j = lane & 7;
	const int	t0 = step * 4 * C::P;

#pragma unroll
	for (int p = 0; p < C::P; p++)
	{
		const int	t = t0 + 4 * p + q;

		if (t >= a.nt)
			break;

		const uint8_t *tp[C::R];

#pragma unroll
		for (int r = 0; r < C::R; r++)
		{
			const size_t gs = (size_t) (job * C::R + r) * a.rb + (size_t) t0 * TT::B;

			tp[r] = stage + r * Z::PITCH + (int) (gs & 15) + (4 * p + q) * Z::TSTRIDE;
		}

		if constexpr (TT::FLOAT)
		{
			float		v[C::R][16];

#pragma unroll
			for (int r = 0; r < C::R; r++)
				dsq8::piece_f<T>(tp[r], j, v[r]);
#pragma unroll
			for (int b = 0; b < NB; b++)
			{
				if (b >= a.nb)
					break;

				float		xs[16];

				xf_piece((const float4 *) ((const float *) a.xq + (size_t) b * a.K + (size_t) t * TT::K + 8 * j),
						 xs);

#pragma unroll
				for (int r = 0; r < C::R; r++)
				{
					float		s = acc[r][b];

#pragma unroll
					for (int i = 0; i < 16; i++)
						s = fmaf(v[r][i], xs[i], s);
					acc[r][b] = s;
				}
			}
		}
		else
		{
			dsq8::Piece pc[C::R];

#pragma unroll
			for (int r = 0; r < C::R; r++)
				dsq8::piece<T>(tp[r], j, pc[r]);
#pragma unroll
			for (int b = 0; b < NB; b++)
			{
				if (b >= a.nb)
					break;

				uint32_t	xw[8];
				dsq8::XMeta xm;

				xblock_of<true>(a.xq, a.xm, (size_t) b * a.K + (size_t) t * 256 + 32 * j, xw, xm);

#pragma unroll
				for (int r = 0; r < C::R; r++)
					acc[r][b] += dsq8::dot<T>(pc[r], xw, xm);
			}
		}
	}
}

/* c ? a : b on values, never on addresses (keeps v[] in registers) */
__device__ __forceinline__ float
sel(bool c, float a, float b)
{
	float		r;

	asm("{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %3, 0;\n\tselp.f32 %0, %1, %2, p;\n\t}"
		: "=f"(r) : "f"(a), "f"(b), "r"((int) c));
	return r;
}

/*
 * Sum N values (a power of two <= 32) over the warp: at each shuffle level
 * (LV = 0..4, lane distance 16 >> LV) a lane keeps half of its values and
 * adds its partner's copy of that half, so the N sums cost N - 1
 * shuffles, then plain butterflies.  Lane gets the total of value *idx;
 * lanes with (lane & (32 / N - 1)) == 0 hold distinct values.  Written as
 * a recursion so that every index is a compile-time constant (v[] stays in
 * registers).
 */
template <int N, int LV>
__device__ __forceinline__ void
warp_sum_level(float (&v)[N], int lane, int *idx)
{
	if constexpr (LV < 5)
	{
		constexpr int s = 16 >> LV;
		constexpr int n = N >> LV;	/* values still held before this level */

		if constexpr (n > 1)
		{
			constexpr int h = n / 2;
			const bool	up = (lane & s) != 0;

#pragma unroll
			for (int i = 0; i < h; i++)
			{
				const float send = sel(up, v[i], v[i + h]);
				const float keep = sel(up, v[i + h], v[i]);

				v[i] = keep + __shfl_xor_sync(0xffffffffu, send, s);
			}
			if (up)
				*idx += h;
		}
		else
			v[0] += __shfl_xor_sync(0xffffffffu, v[0], s);
		warp_sum_level<N, LV + 1>(v, lane, idx);
	}
}

template <int N>
__device__ __forceinline__ float
warp_sum_multi(float (&v)[N], int lane, int *idx)
{
	*idx = 0;
	warp_sum_level<N, 0>(v, lane, idx);
	return v[0];
}

template <int T, int NB, int R>
__device__ __forceinline__ void
job_epilogue(const DArgs &a, float (&acc)[R][NB], int job, int lane)
{
	using C = DCfg<NB, R>;
	constexpr int N = C::R * NB;
	float		v[N];
	int			idx;

#pragma unroll
	for (int r = 0; r < C::R; r++)
#pragma unroll
		for (int b = 0; b < NB; b++)
		{
			v[r * NB + b] = acc[r][b];
			acc[r][b] = 0.0f;
		}

	const float s = warp_sum_multi<N>(v, lane, &idx);
	const int	r = idx / NB,
				b = idx % NB,
				row = job * C::R + r;

	if ((lane & (32 / N - 1)) == 0 && row < a.M && b < a.nb)
		ds_store_act(a.y, (size_t) b * a.ldy + row, s, a.y_bf16);
}

template <int T, int NB, int R>
__global__ void __launch_bounds__(DT)
k_matvec_dp4a(DArgs a)
{
	using Z = DSz<T, NB, R>;
	using C = DCfg<NB, R>;
	extern __shared__ __align__(16) uint8_t smem[];
	const int	lane = threadIdx.x & 31,
				warp = threadIdx.x >> 5;
	uint8_t    *ring = smem + warp * Z::WARP;
	const int	gw = blockIdx.x * DW + warp;
	const int	jb = gw * a.jpw,
				je = min(jb + a.jpw, a.njobs);
	const int	nsteps = (a.nt + 4 * C::P - 1) / (4 * C::P);
	int			ij = jb,		/* next step to copy: job, step */
				is = 0;
	float		acc[C::R][NB];

	/* the first S - 1 steps' weights go in flight before x is ready */
#pragma unroll
	for (int s = 0; s < C::S - 1; s++)
	{
		if (ij < je)
		{
			copy_step<T, NB, R>(a, ring + s * Z::STAGE, ij, is, lane);
			if (++is == nsteps)
			{
				is = 0;
				ij++;
			}
		}
		ds_cp_async_commit();
	}
	/* the next call's x preparation may launch (it waits for this kernel) */
	grid_dependents_launch();
	grid_dependency_wait();

#pragma unroll
	for (int r = 0; r < C::R; r++)
#pragma unroll
		for (int b = 0; b < NB; b++)
			acc[r][b] = 0.0f;

	int			slot = 0,		/* ring slot of the step computed next */
				fill = C::S - 1;	/* ring slot of the step copied next */

	for (int cj = jb; cj < je; cj++)
	{
		for (int cs = 0; cs < nsteps; cs++)
		{
			if (ij < je)
			{
				copy_step<T, NB, R>(a, ring + fill * Z::STAGE, ij, is, lane);
				if (++is == nsteps)
				{
					is = 0;
					ij++;
				}
			}
			ds_cp_async_commit();
			fill = fill + 1 == C::S ? 0 : fill + 1;
			ds_cp_async_wait<C::S - 1>();
			__syncwarp();
			compute_step<T, NB, R>(a, ring + slot * Z::STAGE, cj, cs, lane, acc);
			slot = slot + 1 == C::S ? 0 : slot + 1;
			__syncwarp();
		}
		job_epilogue<T, NB, R>(a, acc, cj, lane);
	}
	ds_cp_async_wait<0>();
}

/* Quantize x, then the product as its programmatic dependent. */
template <int T, int NB, int R>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, DArgs a, const void *x, int x_bf16, int ldx)
{
	using Z = DSz<T, NB, R>;
	using C = DCfg<NB, R>;
	using TT = dsq8::Tile<T>;
	static int	smem_set = 0,
				per_sm = 0;

	DS_CUDA_CHECK(ds_set_smem(k_matvec_dp4a<T, NB, R>, Z::SMEM, &smem_set));
	if (per_sm == 0)
		DS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k_matvec_dp4a<T, NB, R>,
																	DT, Z::SMEM));
	DS_REQUIRE(per_sm > 0, DS_CUDA_ERR_CUDA, "the dp4a kernel does not fit on a multiprocessor");
	DS_TRY(prep_x_launch<TT::FLOAT>(ctx, stream, x, x_bf16, ldx, a.K, a.nb, &a.xq, &a.xm));

	const long	wmax = (long) per_sm * ctx->sm_count * DW;

	a.njobs = (a.M + C::R - 1) / C::R;
	a.jpw = (int) ((a.njobs + wmax - 1) / wmax);

	const int	warps = (a.njobs + a.jpw - 1) / a.jpw;
	DS_CUDA_CHECK(ds_launch_pdl(k_matvec_dp4a<T, NB, R>, (warps + DW - 1) / DW, DT, Z::SMEM, stream, a));
	return DS_CUDA_OK;
}

}								/* namespace */

int
ds_matvec_dp4a_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					  int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					  void *y, ds_cuda_dtype ytype, int ldy)
{
	DArgs		a;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 8));
	DS_REQUIRE(K % 256 == 0, DS_CUDA_ERR_UNSUPPORTED, "the dp4a product needs K % 256 == 0");
	q8x_args_set(a, w, wtype, M, K, n, y, ytype, ldy);

	/* one vector: two rows per job (x loads shared) where rows are many */
	const bool	many = M >= DP_MANY_ROWS;
	const int	xb = xtype == DS_CUDA_BF16;

	switch (wtype)
	{
#define DP_CASE(T) \
		case T: \
			a.nt = K / dsq8::Tile<T>::K; \
			return n == 1 && many ? launch<T, 1, 2>(ctx, stream, a, x, xb, ldx) : \
				n == 1 ? launch<T, 1, 1>(ctx, stream, a, x, xb, ldx) : \
				n == 2 ? launch<T, 2, 2>(ctx, stream, a, x, xb, ldx) : \
				n <= 4 ? launch<T, 4, 4>(ctx, stream, a, x, xb, ldx) : \
				launch<T, 8, 4>(ctx, stream, a, x, xb, ldx);
		DSQ_FOR_EACH_TYPE(DP_CASE)
#undef DP_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_matvec_dp4a(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
					int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_matvec_dp4a_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
}
