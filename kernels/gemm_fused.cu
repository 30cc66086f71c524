/*
 * gemm_fused.cu -- larger batches (16..256 vectors, prefill): y = W x with
 * the weights dequantized tile by tile in registers and multiplied on the
 * tensor cores, so W is read once in its quantized size.
 *
 * A block of 8 warps computes 128 rows x BN vectors (BN = 64 or 256) over a
 * range of K; warp (wm, wn) owns rows 32 wm .. +31 and vectors BN/2 wn ..
 * Per step of 64 k (two 32-element groups):
 *  - the block streams W one tile (256 or 128 k) ahead into shared memory
 *    with 16-byte cp.async copies (tile_copy.cuh), and x two steps ahead;
 *  - x comes from a permuted bf16 copy made by k_xperm: each group's 32
 *    values in the order the decoders produce (qblock.cuh kmap), so one
 *    16-byte shared load gives a lane its B fragment;
 *  - each warp decodes its rows' groups to exact integers (qblock.cuh
 *    frag), scales them in f32 with the group's (s, c) from a per-tile
 *    table and rounds to bf16, then runs mma.m16n8k16 against every
 *    8-vector tile of its columns.
 * When K is split over several blocks (few row tiles), partial sums go to
 * the workspace and the last block of a tile adds them in a fixed order.
 *
 * Accuracy: weights and x rounded to bf16, f32 accumulation.
 */
#include "common.cuh"
#include "gemm_fused.cuh"
#include "matvec.cuh"
#include "qblock.cuh"
#include "tile_copy.cuh"
#include "gemm_bf16.cuh"

namespace
{

constexpr int GF_THREADS = 256;
constexpr int GF_ROWS = 128;	/* rows per block */
constexpr int NSW = 2;			/* W tiles in shared memory */
constexpr int NSX = 3;			/* x steps in shared memory */

struct GfArgs
{
	const uint8_t *w;
	size_t		row_bytes;
	int			M,
				K;
	const uint16_t *xp;			/* permuted bf16 x, [n][K] */
	void	   *y;
	int			ldy,
				y_bf16;
	int			n;
	int			kt;				/* tiles of K per block */
	int			nsplit;
	float	   *part;			/* [nsplit][n][M] */
	unsigned   *count;
};

template <int T, int NT>
struct Gf
{
	using QT = dsq::Q<T>;
	static constexpr int BN = 16 * NT;	/* vectors per block */
	static constexpr int NGT = QT::TILE_K / 32;
	static constexpr int NSGT = QT::SG ? QT::TILE_K / QT::SG : 0;
	static constexpr int TP = NSGT ? 2 * NSGT + 2 : 0;
	static constexpr int W_STAGE = GF_ROWS * QT::PITCH;
	static constexpr int X_STAGE = 2 * BN * 4 * 16;	/* 2 groups x BN x 4 lanes x 16 B */
	static constexpr int TAB_BYTES = GF_ROWS * TP * 4;
	static constexpr int SMEM = NSW * W_STAGE + NSX * X_STAGE + TAB_BYTES;
};

template <int T, int NT>
__global__ void __launch_bounds__(GF_THREADS, NT == 4 ? 2 : 1)
k_gemm_fused(GfArgs a)
{
	using QT = dsq::Q<T>;
	using C = Gf<T, NT>;
	extern __shared__ __align__(16) uint8_t smem[];
	__shared__ int s_last;
	uint8_t    *wst = smem;
	uint4	   *xst = (uint4 *) (smem + NSW * C::W_STAGE);
	float	   *tab = (float *) (smem + NSW * C::W_STAGE + NSX * C::X_STAGE);
	const int	tid = threadIdx.x,
				warp = tid >> 5,
				lane = tid & 31,
				g = lane >> 2,
				t = lane & 3;
	const int	wm = warp >> 1,
				wn = warp & 1;
	const int	row_blk = blockIdx.x * GF_ROWS,
				col_blk = blockIdx.y * C::BN;
	const int	ntiles_all = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	const int	tile0 = blockIdx.z * a.kt;
	const int	ntile = min(a.kt, ntiles_all - tile0);
	const int	kbeg = tile0 * QT::TILE_K;
	const int	ngroups = min(ntile * QT::TILE_K, a.K - kbeg) / 32;
	const int	nsteps = (ngroups + 1) / 2;
	float		acc[2][NT][4];

#pragma unroll
	for (int mt = 0; mt < 2; mt++)
#pragma unroll
		for (int nt = 0; nt < NT; nt++)
#pragma unroll
			for (int i = 0; i < 4; i++)
				acc[mt][nt][i] = 0.0f;

	/* step s: x groups 2s, 2s+1 and, on a tile's first step, the W tile */
	auto		issue = [&] (int s)
	{
		if (s < nsteps)
		{
			uint4	   *dst = xst + (s % NSX) * (C::X_STAGE / 16);

			for (int i = tid; i < 2 * C::BN * 4; i += GF_THREADS)
			{
				int			tt = i & 3,
							col = (i >> 2) % C::BN,
							gi = (i >> 2) / C::BN;
				int			grp = 2 * s + gi,
							colg = col_blk + col;
				bool		ok = grp < ngroups && colg < a.n;
				const uint16_t *src = ok ? a.xp + (size_t) colg * a.K + kbeg + grp * 32 + 8 * tt : a.xp;

				ds_cp_async16(dst + i, src, ok ? 16 : 0);
			}
			if ((2 * s) % C::NGT == 0)
			{
				int			lt = (2 * s) / C::NGT;

				ds_issue_tile_rows<T>(a.w, a.row_bytes, a.M, a.K, wst + (lt % NSW) * C::W_STAGE,
									  row_blk, GF_ROWS, tile0 + lt, tid, GF_THREADS);
			}
		}
		ds_cp_async_commit();
	};

	issue(0);
	issue(1);
	for (int s = 0; s < nsteps; s++)
	{
		ds_cp_async_wait<1>();
		__syncthreads();
		issue(s + 2);

		const int	lt = (2 * s) / C::NGT,
					gi0 = (2 * s) % C::NGT;
		const int	tile = tile0 + lt;
		const uint8_t *ws = wst + (lt % NSW) * C::W_STAGE;
		const uint4 *xs = xst + (s % NSX) * (C::X_STAGE / 16);

		if constexpr (QT::SG > 0)
		{
			if (gi0 == 0)
			{
				/* thread 2r + h fills the scale pairs of half h of row r */
				const int	rr = tid >> 1,
							hh = tid & 1;
				const uint8_t *pr = ws + rr * QT::PITCH +
					ds_tile_offset(a.row_bytes, row_blk + rr, tile, QT::TILE_B);
				float		sv[C::NSGT / 2],
							cv[C::NSGT / 2];
				float2	   *trow = (float2 *) (tab + rr * C::TP) + hh * (C::NSGT / 2);

				QT::scales_half(pr, hh, sv, cv);
#pragma unroll
				for (int i = 0; i < C::NSGT / 2; i++)
					trow[i] = make_float2(sv[i], cv[i]);
				__syncthreads();
			}
		}

#pragma unroll
		for (int gi = 0; gi < 2; gi++)
		{
			if (2 * s + gi >= ngroups)
				break;

			const int	grp = gi0 + gi;
			uint32_t	A[2][2][4];	/* [m tile][k16 step][mma A registers] */

#pragma unroll
			for (int mt = 0; mt < 2; mt++)
			{
				const int	rl = wm * 32 + mt * 16 + g;
				const uint8_t *pg = ws + rl * QT::PITCH +
					ds_tile_offset(a.row_bytes, row_blk + rl, tile, QT::TILE_B);
				const uint8_t *p8 = ws + (rl + 8) * QT::PITCH +
					ds_tile_offset(a.row_bytes, row_blk + rl + 8, tile, QT::TILE_B);
				uint32_t	ag[QT::NPL][4],
							a8[QT::NPL][4];

				QT::frag(pg, grp, t, ag);
				QT::frag(p8, grp, t, a8);
#pragma unroll
				for (int m = 0; m < 2; m++)
				{
					float2		sg = make_float2(1.0f, 0.0f),
								s8 = make_float2(1.0f, 0.0f);

					if constexpr (QT::SG > 0)
					{
						const int	sgi = QT::SG == 16 ? 2 * grp + m : grp;

						sg = ((const float2 *) (tab + rl * C::TP))[sgi];
						s8 = ((const float2 *) (tab + (rl + 8) * C::TP))[sgi];
					}
					A[mt][m][0] = ds_scaled_bf16<T>(ag, 2 * m, sg);
					A[mt][m][1] = ds_scaled_bf16<T>(a8, 2 * m, s8);
					A[mt][m][2] = ds_scaled_bf16<T>(ag, 2 * m + 1, sg);
					A[mt][m][3] = ds_scaled_bf16<T>(a8, 2 * m + 1, s8);
				}
			}
#pragma unroll
			for (int nt = 0; nt < NT; nt++)
			{
				const uint4 b = xs[(gi * C::BN + wn * 8 * NT + nt * 8 + g) * 4 + t];

#pragma unroll
				for (int mt = 0; mt < 2; mt++)
				{
					ds_mma_bf16(acc[mt][nt], A[mt][0][0], A[mt][0][1], A[mt][0][2], A[mt][0][3],
								b.x, b.y);
					ds_mma_bf16(acc[mt][nt], A[mt][1][0], A[mt][1][1], A[mt][1][2], A[mt][1][3],
								b.z, b.w);
				}
			}
		}
	}

	/* results: to y, or as partial sums when K is split */
	float	   *part = a.part + (size_t) blockIdx.z * a.n * a.M;

#pragma unroll
	for (int mt = 0; mt < 2; mt++)
#pragma unroll
		for (int nt = 0; nt < NT; nt++)
#pragma unroll
			for (int i = 0; i < 4; i++)
			{
				int			row = row_blk + wm * 32 + mt * 16 + g + 8 * (i >> 1);
				int			col = col_blk + wn * 8 * NT + nt * 8 + 2 * t + (i & 1);

				if (row >= a.M || col >= a.n)
					continue;
				if (a.nsplit == 1)
					ds_store_act(a.y, (size_t) col * a.ldy + row, acc[mt][nt][i], a.y_bf16);
				else
					part[(size_t) col * a.M + row] = acc[mt][nt][i];
			}
	if (a.nsplit == 1)
		return;
	ds_fence_acq_rel();
	__syncthreads();

	const unsigned cidx = blockIdx.x * gridDim.y + blockIdx.y;

	if (tid == 0)
		s_last = atomicAdd(&a.count[cidx], 1u) == (unsigned) a.nsplit - 1;
	__syncthreads();
	if (!s_last)
		return;
	ds_fence_acq_rel();
	for (int i = tid; i < GF_ROWS * C::BN; i += GF_THREADS)
	{
		int			row = row_blk + i % GF_ROWS,
					col = col_blk + i / GF_ROWS;
		float		sum = 0.0f;

		if (row >= a.M || col >= a.n)
			continue;
		for (int s = 0; s < a.nsplit; s++)
			sum += __ldcg(a.part + ((size_t) s * a.n + col) * a.M + row);
		ds_store_act(a.y, (size_t) col * a.ldy + row, sum, a.y_bf16);
	}
	if (tid == 0)
		a.count[cidx] = 0;
}

/*
 * Split of K by a rough cost model: the block count rounded up to whole
 * waves times the work of one block (at an assumed 3.4 TFLOP/s per
 * multiprocessor), plus the traffic of the partial sums.
 */
static int
pick_split(int sm_count, int nrb, int ncb, int ntiles, int tile_k, int bn, int n, int M)
{
	double		best = 1e30;
	int			best_s = 1;

	for (int s = 1; s <= 16 && s <= ntiles; s++)
	{
		int			kt = (ntiles + s - 1) / s;
		double		waves,
					tm;

		if ((ntiles + kt - 1) / kt != s)
			continue;
		waves = (double) ((nrb * ncb * s + sm_count - 1) / sm_count);
		tm = waves * 2.0 * GF_ROWS * bn * kt * tile_k / 3.4e12 +
			(s > 1 ? 2.0 * s * n * (double) M * 4 / 3.0e12 : 0.0);
		if (tm < 0.97 * best)
		{
			best = tm;
			best_s = s;
		}
	}
	return best_s;
}

template <int T, int NT>
int
launch(ds_cuda_context *ctx, cudaStream_t stream, GfArgs a, const void *x, int ldx,
	   int x_bf16, int nsplit)
{
	using QT = dsq::Q<T>;
	using C = Gf<T, NT>;
	static int	smem_set = 0;
	const int	nrb = (a.M + GF_ROWS - 1) / GF_ROWS;
	const int	ncb = (a.n + C::BN - 1) / C::BN;
	const int	ntiles = (a.K + QT::TILE_K - 1) / QT::TILE_K;
	size_t		xp_bytes = ds_ws_round((size_t) a.n * a.K * 2);
	size_t		nthreads = (size_t) a.n * (a.K / 32) * 4;

	if (nsplit <= 0)
		nsplit = pick_split(ctx->sm_count, nrb, ncb, ntiles, QT::TILE_K, C::BN, a.n, a.M);
	a.kt = (ntiles + nsplit - 1) / nsplit;
	a.nsplit = (ntiles + a.kt - 1) / a.kt;
	DS_REQUIRE(xp_bytes + (a.nsplit > 1 ? (size_t) a.nsplit * a.n * a.M * 4 : 0) <= ctx->ws_bytes,
			   DS_CUDA_ERR_WORKSPACE, "workspace too small for x and the partial sums");
	DS_REQUIRE(nrb * ncb <= DS_COUNTERS, DS_CUDA_ERR_ARG, "too many tiles");
	a.xp = (const uint16_t *) ctx->ws;
	a.part = (float *) (ctx->ws + xp_bytes);
	a.count = ctx->counters;

	k_xperm<T><<<(unsigned) ((nthreads + 255) / 256), 256, 0, stream>>>(
		x, ldx, x_bf16, a.n, a.K, (uint16_t *) ctx->ws);
	DS_CUDA_CHECK_LAUNCH();
	DS_CUDA_CHECK(ds_set_smem(k_gemm_fused<T, NT>, C::SMEM, &smem_set));
	k_gemm_fused<T, NT><<<dim3(nrb, ncb, a.nsplit), GF_THREADS, C::SMEM, stream>>>(a);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

}								/* namespace */

int
ds_gemm_fused_launch(ds_cuda_context *ctx, cudaStream_t stream, const void *w, int wtype,
					 int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
					 void *y, ds_cuda_dtype ytype, int ldy, int bn, int nsplit)
{
	GfArgs		a;
	const int	xb = xtype == DS_CUDA_BF16;

	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	if (bn <= 0)
		bn = n <= 64 ? 64 : 256;
	DS_REQUIRE(bn == 64 || bn == 256, DS_CUDA_ERR_ARG, "block width must be 64 or 256");
	a.w = (const uint8_t *) w;
	a.row_bytes = ds_row_size(wtype, K);
	a.M = M;
	a.K = K;
	a.y = y;
	a.ldy = ldy;
	a.y_bf16 = ytype == DS_CUDA_BF16;
	a.n = n;
	switch (wtype)
	{
#define GF_CASE(T) \
		case T: \
			return bn == 64 ? launch<T, 4>(ctx, stream, a, x, ldx, xb, nsplit) \
				: launch<T, 16>(ctx, stream, a, x, ldx, xb, nsplit);
		DSQ_FOR_EACH_TYPE(GF_CASE)
#undef GF_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(wtype));
}

extern "C" int
ds_cuda_gemm_fused(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
				   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
				   void *y, ds_cuda_dtype ytype, int ldy)
{
	return ds_gemm_fused_launch(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy,
								0, 0);
}
