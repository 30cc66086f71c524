/*
 * gemm_bf16.cuh -- what the two bf16 GEMM kernels (gemm_fused.cu,
 * gemm_wgmma.cu) share:
 *  - k_xperm: x (f32 or bf16, [n][ldx]) to bf16 [n][K] with each 32-element
 *    group in the order of the decoders' fragments (qblock.cuh kmap):
 *    position 8 t + 2 r + h of a group holds element kmap(t, r, h), so
 *    weights decoded with frag() and this x meet position for position;
 *  - ds_scaled_bf16: register r of a decoded fragment as two bf16 weights.
 */
#ifndef DS_KERNELS_GEMM_BF16_CUH
#define DS_KERNELS_GEMM_BF16_CUH

#include "common.cuh"
#include "qblock.cuh"

namespace
{

/* one thread per (vector, group, t): 16 bytes of xp.  MMA: the order of
 * the instruction's k instead, for B read from shared memory by wgmma
 * (gemm_wgmma.cu): register r of lane t feeds k16 step r / 2 at k 2 t (r
 * even) or 2 t + 8 (r odd), so element kmap(t, r, h) goes to position
 * 16 (r / 2) + 8 (r % 2) + 2 t + h. */
template <int T, bool MMA = false>
__global__ void
k_xperm(const void *x, int ldx, int x_bf16, int n, int K, uint16_t *xp)
{
	using QT = dsq::Q<T>;
	const int	ng = K / 32;
	size_t		i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	/* as a programmatic dependent (gemm_wgmma.cu): x and xp are the kernel
	 * before's until it has finished; the GEMM may launch at once */
	grid_dependents_launch();
	grid_dependency_wait();
	if (i >= (size_t) n * ng * 4)
		return;

	int			t = (int) (i & 3);
	size_t		q = i >> 2;
	int			grp = (int) (q % ng),
				b = (int) (q / ng);
	uint32_t	r4[4];

#pragma unroll
	for (int r = 0; r < 4; r++)
	{
		size_t		base = (size_t) b * ldx + grp * 32;

		r4[r] = dsq::pack_bf16x2(ds_load_act(x, base + QT::kmap(t, r, 0), x_bf16),
								 ds_load_act(x, base + QT::kmap(t, r, 1), x_bf16));
	}
	if constexpr (MMA)
	{
#pragma unroll
		for (int r = 0; r < 4; r++)
			*(uint32_t *) (xp + (size_t) b * K + grp * 32 + 16 * (r >> 1) + 8 * (r & 1) + 2 * t) = r4[r];
	}
	else
		*(uint4 *) (xp + (size_t) b * K + grp * 32 + 8 * t) = make_uint4(r4[0], r4[1], r4[2], r4[3]);
}

/* Register r of a decoded fragment as bf16 weights: s * A + c, or the
 * weight itself for F16 (hi + lo parts) and BF16. */
template <int T>
__device__ __forceinline__ uint32_t
ds_scaled_bf16(const uint32_t (&a)[dsq::Q<T>::NPL][4], int r, float2 sc)
{
	using QT = dsq::Q<T>;

	if constexpr (QT::SG == 0 && QT::NPL == 1)
		return a[0][r];
	else if constexpr (QT::SG == 0)
		return dsq::pack_bf16x2(dsq::bf16_lo(a[0][r]) + dsq::bf16_lo(a[1][r]),
								dsq::bf16_hi(a[0][r]) + dsq::bf16_hi(a[1][r]));
	else
		return dsq::pack_bf16x2(fmaf(sc.x, dsq::bf16_lo(a[0][r]), sc.y),
								fmaf(sc.x, dsq::bf16_hi(a[0][r]), sc.y));
}

}								/* namespace */

#endif							/* DS_KERNELS_GEMM_BF16_CUH */
