/*
 * matmul.cu -- ds_cuda_matmul(): the product for any batch, by the path
 * measured fastest on an H200 (docs/kernels.md, `make gpu-bench`):
 *
 *   n <= 8     a small-batch kernel (matvec_q8tma.cu, matvec_q8mma.cu,
 *              matvec_dp4a.cu, matvec_bulk.cu or matvec.cu, by
 *              ds_cuda_matvec_path()), one pass over the weights
 *   n > 8      quantized weights of 2^25 elements or more on an H100/H200,
 *              and some smaller shapes up to a measured batch (use_wgmma):
 *              the wgmma GEMM (gemm_wgmma.cu); elsewhere the fused GEMM
 *              (gemm_fused.cu) where the weights are large and the batch
 *              moderate, else dequantize + cuBLAS (gemm_cublas.cu); F16
 *              and BF16 weights always go to cuBLAS directly (F16 as an
 *              f16 GEMM with x scaled to f16, no copy of the weights).
 *
 * Passes of the small-batch kernel never won beyond 8 vectors: at n = 16 the
 * fused GEMM beat two passes on every large shape, and dequantize + cuBLAS
 * beat them on the small ones.
 */
#include "common.cuh"
#include "gemm_cublas.cuh"
#include "gemm_fused.cuh"
#include "gemm_wgmma.cuh"
#include "matvec.cuh"

/* the 4- and 5-bit types, which most crossovers below treat alike */
static bool
q45_type(int wtype)
{
	return wtype == DS_TYPE_Q4_0 || wtype == DS_TYPE_Q4_1 || wtype == DS_TYPE_Q5_0 || wtype == DS_TYPE_Q4_K ||
		wtype == DS_TYPE_Q5_K;
}

/*
 * Where the wgmma GEMM beat the others (H200, 16 to 256 vectors): the
 * quantized types on 3584x18944, 18944x3584 and 152064x3584 (0.5-0.9 of
 * cuBLAS on bf16 weights, against 0.33-0.47 for the best of the others),
 * and since its aligned grid (split.cuh ds_split_wgmma_grid; 2026-11-29, one run
 * at 16, 64, 128 and 256 vectors against dequantize + cuBLAS):
 *  - 8960x1536-like products (M 4096-16383, K <= 2048, 2^23 weights or
 *    more) up to 256 vectors, Q8_0 up to 128 and Q6_K up to 64: Q4_0
 *    16.0 / 16.8 / 19.2 / 25.2 us against 21.6 / 21.7 / 22.4 / 28.2, the
 *    other 4- and 5-bit types alike; Q8_0 21.7 against 22.1 at 128, even
 *    at 256; Q6_K 21.6 against 23.6 at 64, 6% behind at 128;
 *  - 3584x3584-like ones (M >= 2048, K >= 2048, from 2^23 weights) up to
 *    64 vectors for the 4- and 5-bit types (Q4_0 18.1 / 20.3 against
 *    21.1 / 21.3; even at 128, 15-25% behind at 256), up to 16 for Q6_K
 *    and Q8_0 (20.4 and 19.7 against 22.4 and 20.5; 5-15% behind at 64);
 *  - 1536x8960-like ones (M < 4096, K >= 8192, 2^23 weights or more) up
 *    to 64 vectors for Q5_0 and Q5_K (23.5-26.0 against 25.0-27.0; Q4_1
 *    and Q4_K 1-2% ahead, Q4_0 1% behind, Q6_K and Q8_0 6-18% behind,
 *    all behind from 128).
 * F16 lost everywhere (its two-part decoding); 1536x1536 stays with
 * dequantize + cuBLAS (8.9 against 11.3 us at 16 vectors).
 */
static bool
use_wgmma(const ds_cuda_context *ctx, int wtype, int M, int K, int n)
{
	const long	mk = (long) M * K;
	const bool	q45 = q45_type(wtype);
	const bool	tall = M >= 4096 && M < 16384 && K <= 2048 && mk >= (1L << 23) &&
		(q45 ? n <= 256 : wtype == DS_TYPE_Q8_0 ? n <= 128 : n <= 64);
	const bool	mid = mk >= (1L << 23) && M >= 2048 && K >= 2048 && (q45 ? n <= 64 : n <= 16);
	const bool	wide = mk >= (1L << 23) && M < 4096 && K >= 8192 && n <= 64 &&
		(wtype == DS_TYPE_Q5_0 || wtype == DS_TYPE_Q5_K);

	if (wtype == DS_TYPE_F16 || wtype == DS_TYPE_BF16 || (mk < (1L << 25) && !tall && !mid && !wide))
		return false;
	return ds_gemm_wgmma_usable(ctx, n, K);
}

/*
 * Where the fused GEMM beat dequantize + cuBLAS (it reads the quantized
 * bytes once, cuBLAS first writes and reads a bf16 copy, but its own
 * tensor-core loop is slower): M >= 65536 up to 64 vectors, M >= 16384 up
 * to 16.  On the H200 the only type it still won was F16 on the output
 * projections (the quantized types there go to the wgmma GEMM).  The f16
 * GEMM of gemm_cublas.cu has replaced it for F16: it skips the
 * dequantization the fused GEMM won by, and keeps cuBLAS's own loop, so
 * F16 never comes here, like BF16 (H200, 2026-11-29: 152064x3584 at 16 /
 * 64 vectors 0.97 / 0.98 of cuBLAS bf16, where the fused GEMM gave 0.35 /
 * 0.37).
 */
static bool
use_fused(int wtype, int M, int n)
{
	if (wtype == DS_TYPE_F16 || wtype == DS_TYPE_BF16)
		return false;
	return (M >= 65536 && n <= 64) || (M >= 16384 && n <= 16);
}

/*
 * Which small-batch kernel, from the H200 measurements (docs/kernels.md,
 * `bash test/gpu/run_device.sh small`, 2026-11):
 *  - K % 256 != 0: the bf16 tensor-core kernel (matvec.cu), the only one
 *    that takes it; with K % 256 == 0 it no longer wins anywhere.
 *  - Output projections (M >= 65536) in Q4_0, Q4_1, Q5_0, Q8_0, Q4_K,
 *    Q5_K, 1 to 8 vectors: the copy-engine kernel (matvec_q8tma.cu, x
 *    staged for Q4_1, Q5_0, Q4_K, Q5_K), at 152064x3584 4-14 points of
 *    copy bandwidth above the best of the others at one vector (85-86%,
 *    Q4_K 83%, Q8_0 96%) and 8-19 at eight.  On the
 *    smaller products its fixed cost per call (~7 us more than the read
 *    alone) loses to q8mma and dp4a.
 *  - Q6_K (M % 8 == 0) on products of 2^25 weights or more, 1 to 8
 *    vectors: the copy-engine kernel in residue boxes, x staged
 *    (2026-11-29: 152064x3584 84% of copy at n = 1 against q8mma's 64,
 *    152064x1536 76 against 60, the 7B FFN shapes 45-50 against 43-45;
 *    at n = 8 the 7B FFN shapes 44-48 against q8mma's 30-38).  On the
 *    smaller ones dp4a (n = 1) and q8mma stay ahead.
 *  - 2 to 8 vectors on products of 2^25 weights or more (the 7B FFN
 *    shapes), the other quantized types but Q8_0 (Q6_K with M % 8 ==
 *    0): q8tma with x staged, 5-12% faster than q8mma on 18944x3584
 *    (2026-11-29, chained launches: Q4_K 19.4-19.6 us against 21.1-21.3,
 *    Q5_0 21.7-21.9 against 24.2-24.6, Q4_0 18.6-18.9 against 19.5-20.0);
 *    Q8_0 within 1-4% the other way.  On 3584x18944 (few rows, a long K)
 *    the two were within 1-6% until q8tma limited the steps on their way
 *    to 2 per block, which made it 1-7% faster there at 2-8 vectors in
 *    one run (Q4_K n = 8 21.3 us against q8mma's 22.6, Q5_K 24.1 against
 *    25.9).
 *  - The 4- and 5-bit types at 2-8 vectors on 1536x8960-like products (M
 *    K >= 2^23, K >= 8192): q8tma (H200, three runs of 2026-11-29 at 2,
 *    3, 4 and 8 vectors: Q4_K 10.4-10.6 us against q8mma's 10.8-10.9,
 *    Q5_K 11.0-11.1 against 11.9-12.1; Q5_0 since q8tma's aligned grid,
 *    10.5-10.6 against 11.0-11.1; Q4_0 and Q4_1 since its 4-tile steps
 *    there, 8.6 and 9.6-9.9 against 10.0 and 10.2-10.5).
 *  - Since q8tma's aligned grid (split.cuh ds_split_q8tma_grid: few row
 *    blocks, each whole to a block or shared by 2-4 in aligned parts;
 *    H200, 2026-11-29, one run at 1, 2, 4 and 8 vectors):
 *    8960x1536-like products (M 4096-16383, 1024 <= K <= 2048) go to q8tma
 *    at 2-8 vectors for the quantized types but Q8_0 (Q4_0 5.8-6.0 us
 *    against dp4a's 6.0-7.0 and the old q8tma's 7.2-7.5; Q4_K 6.6-6.7
 *    against 7.0-7.9; Q6_K 9.1 against 9.2-9.7), Q5_0 and Q4_1 from 4
 *    (Q5_0 6.7 against dp4a's 6.7 at 2; Q4_1 at 2 dp4a 5.6-5.7 against
 *    6.1 in two later runs), and at one vector Q4_0, Q4_K and Q6_K (5.4, 5.7, 7.7
 *    us against dp4a's 6.0, 6.0, 8.4); 3584x3584-like ones (M < 4096, K
 *    <= 4096, 2^23-2^25 weights) at 2-8 vectors for Q4_0, Q5_0, Q4_K and
 *    Q5_K, Q4_1 from 3 (Q4_0 6.4 since its 4-tile steps there, against
 *    q8mma's 7.4-7.5; Q4_1 at 2 dp4a 6.7 against 7.3); 1536x1536-like ones (2^21-2^23 weights) at
 *    3-8 vectors for the same types, Q5_0 and Q5_K from 2 (with 4-tile
 *    steps: 3.8-4.1 us at 2-8 vectors against q8mma's 4.8-5.3; dp4a at
 *    2 3.4-4.0 for the others, 4.2-4.5 for those two); 3584x18944 at one vector
 *    also Q4_1 (17.9 against dp4a's 19.5) and at 2-8 Q8_0 (26.3-27.4
 *    against q8mma's 27.7-28.1).
 *  - Q8_0 since q8tma's 4-tile steps took it (2026-11-29, two runs at 1,
 *    2, 3, 4 and 8 vectors): 1536x8960-like products (K >= 8192, under
 *    2^25 weights) at every n (8.2-9.2 us against dp4a's 9.2 at one
 *    vector and q8mma's 10.7-11.1 at 2-8); 3584x3584-like ones (2^23-2^25
 *    weights, K <= 4096) at every n (6.5-6.7 against dp4a's 7.8 at one,
 *    7.4-7.5 against q8mma's 8.5-8.9 at 3-8, dp4a's 7.45 at 2, which
 *    q8tma matched once 4-tile steps kept 1 step on their way);
 *    1536x1536-like ones at 3-8 (4.0-4.1 against q8mma's 4.7-4.8; dp4a
 *    2.9 and 3.7-3.8 against 3.4-3.5 and 4.0 at 1 and 2).
 *  - Whole rows per block by 1-D bulk copies (matvec_bulk.cu; H200,
 *    2026-11-29, two repeats in one run against the best of q8tma, dp4a
 *    and q8mma): 1536x1536-like products (M, K <= 2048, 2^21 weights or
 *    more) at 2 vectors for Q4_0, Q4_1, Q5_0, Q4_K, Q5_K and Q6_K (3.30-
 *    3.75 us against 3.45-4.25: Q4_0 3.36 / 3.57, Q4_1 3.30 / 3.45, Q4_K
 *    3.36 / 3.93, Q5_0 3.49 / 4.10, Q5_K 3.54 / 4.01, Q6_K 3.75 / 4.25),
 *    Q4_K also at one (3.14 against dp4a's 3.50); Q6_K at 2 on
 *    3584x3584-like ones (2^23-2^25 weights: 9.4 against q8mma's 10.0).
 *    Q8_0 there within 2% (not taken); on the larger products it is
 *    8-80% behind (the int8-x arithmetic per 32 weights, not its memory
 *    side, holds it: docs/kernels.md).
 *  - 5 to 8 vectors: the tensor-core kernel on the weights' integers
 *    (matvec_q8mma.cu) on every other shape: 1.3-4x faster than dp4a at
 *    8.  On 8960x1536-like shapes (M 4096-16383, K <= 2048) q8tma for
 *    the quantized types but Q8_0 (Q6_K with M % 8 == 0; above).
 *  - 3-4 vectors: q8mma, except where q8tma takes them (above); Q5_0 and
 *    Q4_1 at 3 on 8960x1536-like shapes go to dp4a, and Q6_K on
 *    1536x1536-like ones (under 2^23 weights; two runs of 2026-11-29:
 *    4.8 us at 3 and 4 against q8mma's 5.2-5.4).  Q8_0 there goes to q8mma
 *    at 3-8 vectors, whose in-block hand-over it then takes (2026-11-29,
 *    two runs: 8.9 us at 3, 4 and 8 vectors, against dp4a's 11.7 at 3 and
 *    q8tma's 9.5-9.6 at 4-8).
 *  - 2 vectors: dp4a on the small products (M K <= 2^24 with K <= 4096:
 *    8960x1536, 3584x3584, 1536x1536), q8mma elsewhere and for Q6_K from
 *    2^23 weights (3584x3584: 9.9-10.0 against 10.2-10.4 in two runs of
 *    2026-11-29); BF16 and F16
 *    q8mma except on the smallest (M K < 2^22).
 *  - 1 vector: dp4a (matvec_dp4a.cu) by default; q8mma on the output
 *    projections (M >= 65536: 15-43% faster for Q4_0, Q5_0, Q4_K, Q5_K,
 *    Q6_K; not Q8_0, Q4_1, where dp4a won by 2-8%), and BF16 on all but
 *    the smallest.  On few rows with a long K (M K >= 2^25, K >= 8192:
 *    3584x18944) q8tma since the one-vector tile
 *    (q8mma.cuh q8_tile1; 2026-11-29, same run: Q4_0 18.5 us against
 *    q8mma's 19.9, Q8_0 25.1 / 26.9, Q5_0 21.5 against dp4a's 22.6; Q4_1
 *    since the aligned grid, above); Q4_K and Q5_K there since its split-K sums
 *    stopped writing the last sharer's slot.  On 1536x8960-like products
 *    (M K >= 2^23, K >= 8192) Q4_0 goes to q8tma (4-tile steps: 8.1
 *    against q8mma's 8.5), and Q4_K and Q5_K since q8tma's one-vector
 *    tile runs 8 independent mma chains for them (2026-11-29, one run:
 *    7.4 and 7.7 us against q8mma's 8.7 and dp4a's 9.8; q8mma had Q4_K
 *    before); the other types 0.5-12% behind dp4a there.  Q4_0, Q4_K and Q5_K on
 *    the other products of 2^25 weights or more (18944x3584): q8tma since
 *    later sharers hand their split-K sums over in word slots (2026-11-29,
 *    one run: 57, 55, 59% of copy against dp4a's 51, 50, 53; Q4_1, Q5_0
 *    and Q8_0 stay with dp4a: 66, 59, 76 against 59, 58, 71).  F16
 *    since its f16 products (k_prep_f16, 2026-11-29): q8mma but on the
 *    smallest and on M > K
 *    below 65536 rows (18944x3584: dp4a 38.7 us against 42.9; 8960x1536
 *    11.3 against 11.6); q8mma 1-3% faster on the output projections,
 *    14-15% on 1536x8960 and 3584x3584, at 2 vectors 15-36% everywhere but
 *    1536x1536.
 */
extern "C" int
ds_cuda_matvec_path(int wtype, int M, int K, int n)
{
	const bool	fl = wtype == DS_TYPE_F16 || wtype == DS_TYPE_BF16;
	const long	mk = (long) M * K;

	if (K % 256 != 0)
		return DS_CUDA_MATVEC_MMA;
	if (!fl && wtype != DS_TYPE_Q8_0 && M <= 2048 && K <= 2048 && mk >= (1L << 21) &&
		(n == 2 || (n == 1 && wtype == DS_TYPE_Q4_K)))
		return DS_CUDA_MATVEC_BULK;
	if (wtype == DS_TYPE_Q6_K && n == 2 && M < 4096 && K <= 4096 && mk >= (1L << 23) && mk < (1L << 25))
		return DS_CUDA_MATVEC_BULK;
	if (M >= 65536 && (wtype == DS_TYPE_Q4_0 || wtype == DS_TYPE_Q4_1 || wtype == DS_TYPE_Q5_0 ||
					   wtype == DS_TYPE_Q8_0 || wtype == DS_TYPE_Q4_K || wtype == DS_TYPE_Q5_K))
		return DS_CUDA_MATVEC_Q8TMA;
	if (wtype == DS_TYPE_Q6_K && M % 8 == 0 && mk >= (1L << 25))
		return DS_CUDA_MATVEC_Q8TMA;
	if (n >= 2 && !fl && (wtype != DS_TYPE_Q8_0 || K >= 8192) && (wtype != DS_TYPE_Q6_K || M % 8 == 0) &&
		mk >= (1L << 25))
		return DS_CUDA_MATVEC_Q8TMA;
	if (n >= 2 && q45_type(wtype) && mk >= (1L << 23) && K >= 8192)
		return DS_CUDA_MATVEC_Q8TMA;
	/* 8960x1536-like */
	if (!fl && wtype != DS_TYPE_Q8_0 && (wtype != DS_TYPE_Q6_K || M % 8 == 0) && M >= 4096 && M < 16384 &&
		K <= 2048 && (n >= 5 || (K >= 1024 && (n >= 4 || (n >= 2 && wtype != DS_TYPE_Q5_0 && wtype != DS_TYPE_Q4_1) ||
											  wtype == DS_TYPE_Q4_0 || wtype == DS_TYPE_Q4_K ||
											  wtype == DS_TYPE_Q6_K))))
		return DS_CUDA_MATVEC_Q8TMA;
	/* 3584x3584-like and 1536x1536-like, the 4- and 5-bit types */
	if (q45_type(wtype) && M < 4096 && K <= 4096 && mk >= (1L << 21) && mk < (1L << 25) &&
		(mk >= (1L << 23) ? n >= 3 || (n == 2 && wtype != DS_TYPE_Q4_1) :
		 n >= 3 || (n == 2 && (wtype == DS_TYPE_Q5_0 || wtype == DS_TYPE_Q5_K))))
		return DS_CUDA_MATVEC_Q8TMA;
	/* Q8_0 under 4096 rows, 2^21-2^25 weights (q8tma's 4-tile steps) */
	if (wtype == DS_TYPE_Q8_0 && M < 4096 && mk >= (1L << 21) && mk < (1L << 25) &&
		(K >= 8192 || n >= 3 || (mk >= (1L << 23) && K <= 4096)))
		return DS_CUDA_MATVEC_Q8TMA;
	if (n >= 5)
		return DS_CUDA_MATVEC_Q8MMA;
	if (n >= 3)
		return (!fl && wtype != DS_TYPE_Q8_0 && M >= 4096 && M < 16384 && K <= 2048) ||
			(wtype == DS_TYPE_Q6_K && mk < (1L << 23)) ? DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8MMA;
	if (wtype == DS_TYPE_BF16 || (wtype == DS_TYPE_F16 && n == 2))
		return mk < (1L << 22) ? DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8MMA;
	if (wtype == DS_TYPE_F16)
		return mk < (1L << 22) || (M < 65536 && M > K) ? DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8MMA;
	if (n == 2)
		return mk <= (1L << 24) && K <= 4096 && (wtype != DS_TYPE_Q6_K || mk < (1L << 23)) ?
			DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8MMA;
	if (M >= 65536)
		return wtype == DS_TYPE_Q8_0 || wtype == DS_TYPE_Q4_1 ? DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8MMA;
	if (mk >= (1L << 25) && K >= 8192)
		return wtype == DS_TYPE_Q6_K && M % 8 != 0 ? DS_CUDA_MATVEC_DP4A : DS_CUDA_MATVEC_Q8TMA;
	if (mk >= (1L << 25) && (wtype == DS_TYPE_Q4_0 || wtype == DS_TYPE_Q4_K || wtype == DS_TYPE_Q5_K))
		return DS_CUDA_MATVEC_Q8TMA;
	if (mk >= (1L << 23) && K >= 8192 &&
		(wtype == DS_TYPE_Q4_0 || wtype == DS_TYPE_Q4_K || wtype == DS_TYPE_Q5_K))
		return DS_CUDA_MATVEC_Q8TMA;
	return DS_CUDA_MATVEC_DP4A;
}

extern "C" int
ds_cuda_matvec(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	switch (ds_cuda_matvec_path(wtype, M, K, n))
	{
		case DS_CUDA_MATVEC_Q8TMA:
			return ds_cuda_matvec_q8tma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		case DS_CUDA_MATVEC_BULK:
			return ds_cuda_matvec_bulk(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		case DS_CUDA_MATVEC_Q8MMA:
			return ds_cuda_matvec_q8mma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		case DS_CUDA_MATVEC_DP4A:
			return ds_cuda_matvec_dp4a(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
		default:
			return ds_cuda_matvec_mma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	}
}

extern "C" int
ds_cuda_matmul(ds_cuda_context *ctx, ds_cuda_stream stream, const void *w, int wtype,
			   int M, int K, const void *x, ds_cuda_dtype xtype, int ldx, int n,
			   void *y, ds_cuda_dtype ytype, int ldy)
{
	DS_TRY(ds_matmul_check(ctx, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy, 1 << 20));
	if (n <= 8)
		return ds_cuda_matvec(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	if (use_wgmma(ctx, wtype, M, K, n))
		return ds_cuda_gemm_wgmma(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	if (use_fused(wtype, M, n))
		return ds_cuda_gemm_fused(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
	return ds_cuda_gemm_cublas(ctx, stream, w, wtype, M, K, x, xtype, ldx, n, y, ytype, ldy);
}
