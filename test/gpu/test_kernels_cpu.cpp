/*
 * test_kernels_cpu.cpp -- the CPU half of the kernel tests (no GPU needed;
 * CI runs it through `make kernels-test-cpu`).
 *
 *  1. The block decoders of kernels/qblock.cuh, compiled as plain C++,
 *     against quant.c's reference dequantizer on fresh random blocks: every
 *     element of every group from the tensor-core fragments (exact integers
 *     times the group scale), the natural-order decoder, the packed K-quant
 *     scales, and the alignment each decoder assumes.
 *  2. The small-batch product's data flow, emulated lane by lane with the
 *     m16n8k16 fragment layout (x split into bf16 hi/lo, per-group scales,
 *     x sums), against the reference product.
 *  3. Properties of the other references (rmsnorm, rope, swiglu, embed,
 *     argmax, top-k, sampling).
 *  4. The copy-engine kernel's division of work among blocks (split.cuh):
 *     every step dealt once, row blocks whole where promised, each shared
 *     row block's sharers found by the owner rule with distinct slots;
 *     Q6_K's residue boxes emulated byte by byte; the whole-row bulk
 *     product's plan (rows, shared memory, stages, segments).
 *  5. The wgmma GEMM's data flow (gemm_wgmma.cu, gemm_bf16.cuh): x in the
 *     instruction's k order, each A fragment register at the k the
 *     instruction gives it, weights formed as s (A - OFF) + c' in bf16
 *     from the scale table, against the reference product.
 *  6. The benchmark's small-batch summary (bench_summary.h) on made-up rows.
 *
 * Ends with "kernels-test-cpu: N passed, M failed" and exits 1 on failure.
 */
#include <algorithm>
#include <vector>

#include "qblock.cuh"
#include "q8dot.cuh"
#include "split.cuh"
#include "bench_summary.h"
#include "kernels_ref.h"
#include "test_common.h"

using namespace dsq;

static float
bf16_to_f(uint32_t h)
{
	return bits_f32(h << 16);
}

/* ---- 1. decoders ------------------------------------------------------ */

/* the scale group of register r of group grp */
template <int T>
static int
scale_group(int grp, int r)
{
	return Q<T>::SG == 16 ? 2 * grp + (r >> 1) : grp;
}

/* the scale pairs of half h of a tile, for types that have scales */
template <int T>
static void
scales_of(const uint8_t *tp, int h, float *s, float *c)
{
	if constexpr (Q<T>::SG > 0)
		Q<T>::scales_half(tp, h, s, c);
}

/* the scale pairs of every scale group of a tile of ng groups */
template <int T>
static void
tile_scales(const uint8_t *tp, int ng, float *s, float *c)
{
	constexpr int nh = Q<T>::SG ? Q<T>::TILE_K / Q<T>::SG / 2 : 1;

	for (int h = 0; h < 2; h++)
		if (Q<T>::SG == 16 || 4 * h < ng)
			scales_of<T>(tp, h, s + h * nh, c + h * nh);
}

template <int T>
static void
test_decoder(Rng &rng, Tally &tl)
{
	using QT = Q<T>;
	const int	blk = ds_type_info(T)->block_elems;
	/* two whole tiles and, for 32-element blocks, a partial third */
	const int	K = 2 * QT::TILE_K + (blk == 32 ? 96 : 0);
	const int	M = 5;
	std::vector<uint8_t> w = random_weights(T, M, K, rng);
	size_t		rb = ds_row_size(T, K);
	std::vector<float> ref(K);
	int			bad_frag = 0,
				bad_cover = 0,
				bad_int = 0,
				bad_d8 = 0;
	double		worst = 0.0;

	for (int m = 0; m < M; m++)
	{
		const uint8_t *row = w.data() + m * rb;

		ds_dequantize_row(T, row, ref.data(), K);
		for (int tile = 0; tile * QT::TILE_K < K; tile++)
		{
			const uint8_t *tp = row + (size_t) tile * QT::TILE_B;
			int			ng = std::min(QT::TILE_K, K - tile * QT::TILE_K) / 32;
			float		s[16] = {0},
						c[16] = {0};

			tile_scales<T>(tp, ng, s, c);
			for (int grp = 0; grp < ng; grp++)
			{
				int			hits[32] = {0};
				const float *rg = ref.data() + tile * QT::TILE_K + grp * 32;

				for (int t = 0; t < 4; t++)
				{
					uint32_t	a[QT::NPL][4];

					QT::frag(tp, grp, t, a);
					for (int r = 0; r < 4; r++)
						for (int h = 0; h < 2; h++)
						{
							int			e = QT::kmap(t, r, h);
							double		val = 0.0,
										tol;

							if (e < 0 || e >= 32)
							{
								bad_cover++;
								continue;
							}
							hits[e]++;
							for (int p = 0; p < QT::NPL; p++)
							{
								float		A = bf16_to_f(h ? a[p][r] >> 16 : a[p][r] & 0xffff);

								if (QT::SG && (A != floorf(A) || A < -128 || A > 255))
									bad_int++;
								val += A;
							}
							if (QT::SG)
							{
								int			sg = scale_group<T>(grp, r);

								tol = 1e-6 * (fabs(s[sg]) * 256 + fabs(c[sg])) + 1e-30;
								val = (double) s[sg] * val + c[sg];
							}
							else
								tol = 0.0;
							if (!(fabs(val - rg[e]) <= tol))
								bad_frag++;
							worst = std::max(worst, fabs(val - rg[e]));
						}
				}
				for (int e = 0; e < 32; e++)
					if (hits[e] != 1)
						bad_cover++;
				/* dequant8 of the four 8-element runs of this group */
				for (int j = 4 * grp; j < 4 * grp + 4; j++)
				{
					float		v[8];

					QT::dequant8(tp, j, v);
					for (int i = 0; i < 8; i++)
						if (!(fabs(v[i] - ref[tile * QT::TILE_K + 8 * j + i]) <=
							  1e-6 * fabs(ref[tile * QT::TILE_K + 8 * j + i])))
							bad_d8++;
				}
			}
		}
	}
	tl.check(bad_frag == 0 && bad_cover == 0 && bad_int == 0,
			 "%-5s fragments: %d rows x %d: value errors %d, coverage errors %d, "
			 "non-integer A %d (max |err| %.2g)",
			 ds_type_name(T), M, K, bad_frag, bad_cover, bad_int, worst);
	tl.check(bad_d8 == 0, "%-5s dequant8: %d mismatches", ds_type_name(T), bad_d8);

	/* with SG = 16 each k16 step (registers 0-1, 2-3) stays in one scale group */
	if (QT::SG == 16)
	{
		int			bad = 0;

		for (int t = 0; t < 4; t++)
			for (int r = 0; r < 4; r++)
				for (int h = 0; h < 2; h++)
					if (QT::kmap(t, r, h) / 16 != (r >> 1))
						bad++;
		tl.check(bad == 0, "%-5s k16 steps inside 16-element scale groups", ds_type_name(T));
	}

	/* every tile of every row has the alignment the decoder's loads need */
	{
		int			bad = 0;

		for (int kk = std::max(blk, 32); kk <= 40 * 256; kk += std::max(blk, 32))
		{
			size_t		rbk = ds_row_size(T, kk);

			for (int row = 0; row < 4; row++)
				for (int tile = 0; tile * QT::TILE_K < kk; tile++)
					if ((row * rbk + (size_t) tile * QT::TILE_B) % QT::ALIGN != 0)
						bad++;
		}
		tl.check(bad == 0, "%-5s tiles %d-byte aligned for every K", ds_type_name(T),
				 QT::ALIGN);
	}
}

/* k4_scales against quant.c's ds_get_scale_min_k4 on random scale bytes */
static void
test_k4_scales(Rng &rng, Tally &tl)
{
	int			bad = 0;

	for (int it = 0; it < 20000; it++)
	{
		uint8_t		q[12];

		for (int i = 0; i < 12; i++)
			q[i] = (uint8_t) rng.u32();
		for (int h = 0; h < 2; h++)
		{
			uint32_t	sc4,
						m4;

			k4_scales(q, h, &sc4, &m4);
			for (int i = 0; i < 4; i++)
			{
				uint8_t		sc,
							m;

				ds_get_scale_min_k4(4 * h + i, q, &sc, &m);
				if (((sc4 >> (8 * i)) & 0xff) != sc || ((m4 >> (8 * i)) & 0xff) != m)
					bad++;
			}
		}
	}
	tl.check(bad == 0, "k4_scales == ds_get_scale_min_k4 on 20000 random scale sets");
}

/* ---- 2. the small-batch product, emulated ----------------------------- */

/*
 * One warp's work in matvec.cu for 16 rows and NB = 8 vectors, lane by
 * lane: x prepared as in prep_x (bf16 hi/lo by kmap, sums per scale group),
 * fragments from frag(), products by the m16n8k16 layout, then
 * acc += s * C + c * X per scale group.
 */
template <int T>
static void
test_matvec_emulated(Rng &rng, Tally &tl, int K)
{
	using QT = Q<T>;
	const int	M = 16,
				NB = 8;
	std::vector<uint8_t> w = random_weights(T, M, K, rng);
	std::vector<float> x((size_t) NB * K),
				y((size_t) NB * M),
				ref((size_t) NB * M);
	size_t		rb = ds_row_size(T, K);
	double		acc[16][8] = {{0}};

	for (auto &v : x)
		v = rng.normal();
	ds_ref_matmul(T, w.data(), M, K, x.data(), K, NB, ref.data(), M);

	for (int k0 = 0; k0 < K; k0 += 32)
	{
		int			tile = k0 / QT::TILE_K,
					grp = (k0 % QT::TILE_K) / 32;
		/* B fragments (hi, lo) for each (batch, t), and x sums per scale group */
		uint32_t	bh[8][4][4],
					bl[8][4][4];
		double		X[8][2] = {{0}};

		for (int b = 0; b < NB; b++)
			for (int t = 0; t < 4; t++)
				for (int r = 0; r < 4; r++)
				{
					float		hv[2],
								lv[2];

					for (int h = 0; h < 2; h++)
					{
						float		v = x[(size_t) b * K + k0 + QT::kmap(t, r, h)];

						hv[h] = bf16_to_f(ds_f32_to_bf16(v));
						lv[h] = bf16_to_f(ds_f32_to_bf16(v - hv[h]));
						X[b][QT::SG == 16 ? r >> 1 : 0] += (double) hv[h] + lv[h];
					}
					bh[b][t][r] = pack_bf16x2(hv[0], hv[1]);
					bl[b][t][r] = pack_bf16x2(lv[0], lv[1]);
				}
		for (int lane = 0; lane < 32; lane++)
		{
			int			g = lane >> 2,
						t = lane & 3;
			/* fragments of rows g and g+8 as lanes t' = 0..3 of this row group hold them */
			uint32_t	af[2][4][QT::NPL][4];
			float		sc[2][16],
						cc[2][16];
			double		C[2][2] = {{0}};

			for (int ri = 0; ri < 2; ri++)
			{
				const uint8_t *tp = w.data() + (g + 8 * ri) * rb + (size_t) tile * QT::TILE_B;

				for (int tq = 0; tq < 4; tq++)
					QT::frag(tp, grp, tq, af[ri][tq]);
				if (QT::SG)
				{
					constexpr int nh = QT::SG ? QT::TILE_K / QT::SG / 2 : 1;

					for (int h = 0; h < 2; h++)
						scales_of<T>(tp, h, sc[ri] + h * nh, cc[ri] + h * nh);
				}
			}
			/* the two k16 steps: registers 2*step and 2*step+1 of every lane
			 * t' of the row group form the 16 k slots of the product */
			for (int step = 0; step < 2; step++)
			{
				for (int tq = 0; tq < 4; tq++)
					for (int rr = 2 * step; rr < 2 * step + 2; rr++)
						for (int h = 0; h < 2; h++)
							for (int ri = 0; ri < 2; ri++)
								for (int ci = 0; ci < 2; ci++)
								{
									int			col = 2 * t + ci;
									uint32_t	bhv = bh[col][tq][rr],
												blv = bl[col][tq][rr];
									double		B = (double) bf16_to_f(h ? bhv >> 16 : bhv & 0xffff) +
										bf16_to_f(h ? blv >> 16 : blv & 0xffff);

									for (int p = 0; p < QT::NPL; p++)
									{
										uint32_t	av = af[ri][tq][p][rr];

										C[ri][ci] += (double) bf16_to_f(h ? av >> 16 : av & 0xffff) * B;
									}
								}
				/* scale after each step (SG 16), after both (SG 32), or none */
				if (QT::SG == 32 && step == 0)
					continue;
				for (int ri = 0; ri < 2; ri++)
					for (int ci = 0; ci < 2; ci++)
					{
						int			row = g + 8 * ri,
									col = 2 * t + ci;

						if (QT::SG)
						{
							int			sgi = scale_group<T>(grp, 2 * step);

							acc[row][col] += sc[ri][sgi] * C[ri][ci] +
								cc[ri][sgi] * X[col][QT::SG == 16 ? step : 0];
						}
						else
							acc[row][col] += C[ri][ci];
						C[ri][ci] = 0;
					}
			}
		}
	}
	for (int row = 0; row < M; row++)
		for (int b = 0; b < NB; b++)
			y[(size_t) b * M + row] = (float) acc[row][b];
	{
		double		e = rel_err(y.data(), ref.data(), y.size());

		tl.check(e < 1e-5, "%-5s matvec data flow emulated, 16 x %d, 8 vectors: rel err %.2e",
				 ds_type_name(T), K, e);
	}
}

/* ---- 2b. the dp4a product (q8dot.cuh), lane by lane ------------------- */

/*
 * Every piece of every tile through dsq8::piece() / dot() (quantized
 * types) or piece_f() (F16/BF16), summed per row in f32, against
 * ds_ref_matmul_q8(); and the x quantization against ds_ref_quantize_q8(),
 * bit for bit.  Rows start at every alignment the layout gives (Q6_K rows
 * of 210-byte tiles are only 2-byte aligned).
 */
template <int T>
static void
test_q8_emulated(Rng &rng, Tally &tl, int M, int K, int n)
{
	using TT = dsq8::Tile<T>;
	const size_t rb = ds_row_size(T, K);
	std::vector<uint8_t> w = random_weights(T, M, K, rng);
	std::vector<float> x((size_t) n * K),
				ref((size_t) n * M),
				got((size_t) n * M),
				f32ref((size_t) n * M);
	std::vector<int8_t> xq((size_t) n * K),
				rq(K);
	std::vector<dsq8::XMeta> xm((size_t) n * K / 32);
	std::vector<float> rd(K / 32);
	std::vector<int32_t> rs(K / 16);
	bool		qsame = true;

	w.resize(w.size() + 16);	/* ld_span reads up to 4 bytes past a piece */
	for (auto &v : x)
		v = rng.normal();
	x[5] = 0.0f;
	for (int i = 0; i < 32; i++)	/* an all-zero block */
		x[64 + i] = 0.0f;
	for (int b = 0; b < n; b++)
	{
		ds_ref_quantize_q8(&x[(size_t) b * K], K, rq.data(), rd.data(), rs.data());
		for (int k = 0; k < K; k += 32)
		{
			dsq8::XMeta *m = &xm[((size_t) b * K + k) / 32];

			dsq8::quantize_block(&x[(size_t) b * K + k], &xq[(size_t) b * K + k], m);
			qsame &= memcmp(&xq[(size_t) b * K + k], &rq[k], 32) == 0 &&
				m->d == rd[k / 32] && m->s0 == rs[k / 16] && m->s1 == rs[k / 16 + 1] &&
				m->s == m->s0 + m->s1;
		}
	}
	ds_ref_matmul_q8(T, w.data(), M, K, x.data(), K, n, ref.data(), M);
	ds_ref_matmul(T, w.data(), M, K, x.data(), K, n, f32ref.data(), M);
	for (int m = 0; m < M; m++)
		for (int b = 0; b < n; b++)
		{
			float		acc = 0.0f;

			for (int t = 0; t < K / TT::K; t++)
			{
				const uint8_t *tile = w.data() + (size_t) m * rb + (size_t) t * TT::B;

				for (int j = 0; j < 8; j++)
				{
					if constexpr (TT::FLOAT)
					{
						float		v[16];
						const float *xb = &x[(size_t) b * K + t * TT::K];

						dsq8::piece_f<T>(tile, j, v);
						for (int i = 0; i < 8; i++)
							acc += v[i] * xb[8 * j + i] + v[8 + i] * xb[64 + 8 * j + i];
					}
					else
					{
						dsq8::Piece p;
						uint32_t	xw[8];
						size_t		e = (size_t) b * K + t * 256 + 32 * j;

						dsq8::piece<T>(tile, j, p);
						memcpy(xw, &xq[e], 32);
						acc += dsq8::dot<T>(p, xw, xm[e / 32]);
					}
				}
			}
			got[(size_t) b * M + m] = acc;
		}

	double		e = rel_err(got.data(), ref.data(), got.size());
	double		ef = rel_err(got.data(), f32ref.data(), got.size());

	tl.check(qsame, "q8 x quantization %s K=%d: host form == reference, bit for bit",
			 ds_type_name(T), K);
	tl.check(e <= 2e-5, "dp4a pieces %-5s M=%d K=%d n=%d: rel err %.2e vs its reference "
			 "(%.1e vs f32 x)", ds_type_name(T), M, K, n, e, ef);
	if (!TT::FLOAT)
	{
		/* against f32 x: x = q d + r with |r| <= d / 2 (q8dot.cuh), so each
		 * output is within sum |w_k| d_k / 2 of the f32 one (d_k the scale
		 * of x's block holding k), plus f32 rounding; a bound that holds for
		 * any draw, where a relative error over a few outputs can exceed a
		 * fixed tolerance by chance (a misplaced piece or scale is off by
		 * the size of the output, far beyond it) */
		std::vector<float> d(xm.size());
		std::vector<double> bound,
					mag;
		int			over = 0;

		for (size_t i = 0; i < xm.size(); i++)
			d[i] = xm[i].d;
		int8x_rounding_bounds(T, w.data(), M, K, d.data(), n, x.data(), K, bound, &mag);
		for (size_t i = 0; i < bound.size(); i++)
			over += fabs((double) got[i] - f32ref[i]) > bound[i] * (1 + 1e-5) + 1e-5 * mag[i];
		tl.check(over == 0, "dp4a %-5s int8 x vs f32 x: %d of %d outputs beyond x's rounding (rel err %.2e)",
				 ds_type_name(T), over, M * n, ef);
	}
}

/* ---- 2c. the int8 tensor-core product (q8dot.cuh), lane by lane ------- */

/* the int8 bytes of a word */
static int
sbyte(uint32_t w, int j)
{
	return (int) (int8_t) (w >> (8 * j));
}

template <int T, int KB>
static void
q8mma_kblock(const uint8_t *const a[16], const uint32_t fs[16], const dsq8::MRow rw[32][2],
			 const uint8_t *xbytes, const uint32_t *rec, int kb, float acc[32][4],
			 float macc[32][4])
{
	uint32_t	lo[32][2],
				hi[32][2];
	float		s0[32][2],
				s1[32][2];
	int32_t		A[16][32],
				B[32][8];

	for (int l = 0; l < 32; l++)
		for (int h = 0; h < 2; h++)
		{
			const int	r = 8 * h + (l >> 2);

			dsq8::mfrag<T, KB>(a[r], l & 3, fs[r], rw[l][h], lo[l][h], hi[l][h], s0[l][h], s1[l][h]);
		}
	/* A and B from the fragment layout of mma.m16n8k32 */
	for (int l = 0; l < 32; l++)
	{
		const int	g = l >> 2,
					t = l & 3;
		uint32_t	b[2];

		for (int h = 0; h < 2; h++)
			for (int j = 0; j < 4; j++)
			{
				A[g + 8 * h][4 * t + j] = sbyte(lo[l][h], j);
				A[g + 8 * h][16 + 4 * t + j] = sbyte(hi[l][h], j);
			}
		memcpy(b, xbytes + dsq8::mma_xb_index(kb, g, 4 * t), 4);
		memcpy(b + 1, xbytes + dsq8::mma_xb_index(kb, g, 16 + 4 * t), 4);
		for (int j = 0; j < 4; j++)
		{
			B[4 * t + j][g] = sbyte(b[0], j);
			B[16 + 4 * t + j][g] = sbyte(b[1], j);
		}
	}
	for (int l = 0; l < 32; l++)
	{
		const int	g = l >> 2,
					t = l & 3;
		const uint32_t *rc = rec + ((size_t) kb * 4 + t) * dsq8::MREC<T>;

		for (int i = 0; i < 4; i++)
		{
			const int	row = g + 8 * (i >> 1),
						col = 2 * t + (i & 1);
			uint32_t	c = rc[i],
						c2 = T == DS_TYPE_Q6_K ? rc[8 + i] : 0;

			for (int k = 0; k < 32; k++)
			{
				const uint32_t p = (uint32_t) (A[row][k] * B[k][col]);

				if (T == DS_TYPE_Q6_K && k >= 16)
					c2 += p;
				else
					c += p;
			}
			dsq8::mcomb<T>(acc[l][i], macc[l][i], c, c2, s0[l][i >> 1], s1[l][i >> 1],
						   dsq::bits_f32(rc[4 + (i & 1)]), dsq::bits_f32(rc[6 + (i & 1)]),
						   dsq8::MREC<T> == 12 ? dsq::bits_f32(rc[8 + (i & 1)]) : 0.0f);
		}
	}
}

template <int T, int KB>
static void
q8mma_tile(const uint8_t *const a[16], const uint32_t fs[16], const dsq8::MRow rw[32][2],
		   const uint8_t *xbytes, const uint32_t *rec, int tile, float acc[32][4], float macc[32][4])
{
	if constexpr (KB < 8)
	{
		q8mma_kblock<T, KB>(a, fs, rw, xbytes, rec, 8 * tile + KB, acc, macc);
		q8mma_tile<T, KB + 1>(a, fs, rw, xbytes, rec, tile, acc, macc);
	}
}

/*
 * The one-vector form (q8mma.cuh q8_tile1) of one tile, lane by lane: the
 * 8 columns of C are the tile's k-blocks (the mma of k-block KB has x only
 * in column KB, from the lanes with g = KB), each lane loads vector 0's
 * words of k-block g and the records of k-blocks 2t, 2t + 1 at the
 * kernel's addresses, and scales its columns once per tile with mscale.
 * Counts in *bad_scale the lanes where mscale differs from mfrag's scales.
 */
template <int T, int KB>
static void
q8one_kblock(const uint8_t *const a[16], const uint32_t fs[16], const dsq8::MRow rw[32][2],
			 const uint32_t xw[32][2], uint32_t C[32][4], uint32_t C2[32][4], int *bad_scale)
{
	if constexpr (KB < 8)
	{
		uint32_t	lo[32][2],
					hi[32][2];
		int32_t		A[16][32],
					B[32][8] = {{0}};

		for (int l = 0; l < 32; l++)
			for (int h = 0; h < 2; h++)
			{
				const int	r = 8 * h + (l >> 2);
				float		s0,
							s1,
							m0,
							m1;

				dsq8::mfrag<T, KB>(a[r], l & 3, fs[r], rw[l][h], lo[l][h], hi[l][h], s0, s1);
				dsq8::mscale<T>(a[r], rw[l][h], KB, m0, m1);
				*bad_scale += memcmp(&s0, &m0, 4) != 0 || memcmp(&s1, &m1, 4) != 0;
			}
		for (int l = 0; l < 32; l++)
		{
			const int	g = l >> 2,
						t = l & 3;
			const uint32_t b0 = g == KB ? xw[l][0] : 0u,
						b1 = g == KB ? xw[l][1] : 0u;

			for (int h = 0; h < 2; h++)
				for (int j = 0; j < 4; j++)
				{
					A[g + 8 * h][4 * t + j] = sbyte(lo[l][h], j);
					A[g + 8 * h][16 + 4 * t + j] = sbyte(hi[l][h], j);
				}
			for (int j = 0; j < 4; j++)
			{
				B[4 * t + j][g] = sbyte(b0, j);
				B[16 + 4 * t + j][g] = sbyte(b1, j);
			}
		}
		for (int l = 0; l < 32; l++)
			for (int i = 0; i < 4; i++)
			{
				const int	row = (l >> 2) + 8 * (i >> 1),
							col = 2 * (l & 3) + (i & 1);

				for (int k = 0; k < 32; k++)
				{
					const uint32_t p = (uint32_t) (A[row][k] * B[k][col]);

					if (T == DS_TYPE_Q6_K && k >= 16)
						C2[l][i] += p;
					else
						C[l][i] += p;
				}
			}
		q8one_kblock<T, KB + 1>(a, fs, rw, xw, C, C2, bad_scale);
	}
}

template <int T>
static void
q8one_tile(const uint8_t *const a[16], const uint32_t fs[16], const dsq8::MRow rw[32][2],
		   const uint8_t *xbytes, const uint32_t *rec, int tile, float acc[32][4], float macc[32][4],
		   int *bad_scale)
{
	constexpr int REC = dsq8::MREC<T>;
	uint32_t	xw[32][2],
				C[32][4],
				C2[32][4];

	for (int l = 0; l < 32; l++)
	{
		const int	g = l >> 2,
					t = l & 3;
		const uint32_t *rc = rec + ((size_t) tile * 32 + 8 * t) * REC;

		/* the kernel's 8-byte load: uint4 [tile 128 + 32 (g / 2) + t], half g & 1 */
		memcpy(xw[l], xbytes + (((size_t) tile * 128 + 32 * (g >> 1) + t) * 16 + 8 * (g & 1)), 8);
		for (int i = 0; i < 4; i++)
		{
			C[l][i] = rc[4 * (i & 1) * REC];
			C2[l][i] = REC == 12 ? rc[4 * (i & 1) * REC + 8] : 0u;
		}
	}
	q8one_kblock<T, 0>(a, fs, rw, xw, C, C2, bad_scale);
	for (int l = 0; l < 32; l++)
	{
		const int	t = l & 3;
		const uint32_t *rc = rec + ((size_t) tile * 32 + 8 * t) * REC;

		for (int i = 0; i < 4; i++)
		{
			const int	h = i >> 1,
						j = i & 1;
			const uint32_t *rj = rc + 4 * j * REC;
			float		s0,
						s1;

			dsq8::mscale<T>(a[8 * h + (l >> 2)], rw[l][h], 2 * t + j, s0, s1);
			dsq8::mcomb<T>(acc[l][i], macc[l][i], C[l][i], C2[l][i], s0, s1, dsq::bits_f32(rj[4]),
						   dsq::bits_f32(rj[6]), REC == 12 ? dsq::bits_f32(rj[8]) : 0.0f);
		}
	}
}

/* q8_fold1: each row's columns added across the lanes of a quad */
static void
q8one_fold(float v[32][4])
{
	for (int h = 0; h < 2; h++)
	{
		float		a[32],
					b[32];

		for (int l = 0; l < 32; l++)
			a[l] = v[l][2 * h] + v[l][2 * h + 1];
		for (int l = 0; l < 32; l++)
			b[l] = a[l] + a[l ^ 1];
		for (int l = 0; l < 32; l++)
			v[l][2 * h] = b[l] + b[l ^ 2];
	}
}

/*
 * The product of matvec_q8mma.cu emulated lane by lane: x quantized and laid
 * out in B fragments and records (mma_xb_index, mrec_put), rows of each
 * 16-row block copied to an emulated shared-memory stage at the offset the
 * copy gives them (Q6_K rows start at any even offset), the rows past M
 * repeating row M - 1, mrow/mfrag per lane, the tensor-core product from
 * the documented fragment layout, mcomb per output value; against
 * ds_ref_matmul_q8().
 */
template <int T>
static void
test_q8mma_emulated(Rng &rng, Tally &tl, int M, int K, int n)
{
	if constexpr (!dsq8::Tile<T>::FLOAT)
	{
		using TT = dsq8::Tile<T>;
		const size_t rb = ds_row_size(T, K);
		const int	nkb = K / 32;
		std::vector<uint8_t> w = random_weights(T, M, K, rng);
		std::vector<float> x((size_t) n * K),
					ref((size_t) n * M),
					got((size_t) n * M);
		std::vector<uint8_t> xbytes((size_t) K * 8, 0);
		std::vector<uint32_t> rec((size_t) nkb * 4 * dsq8::MREC<T>, 0);
		std::vector<int> xw(xbytes.size(), 0);
		int			bad_rec = 0;

		for (auto &v : x)
			v = rng.normal();
		for (int i = 0; i < 32; i++)	/* an all-zero block */
			x[32 + i] = 0.0f;
		for (int kb = 0; kb < nkb; kb++)
			for (int v = 0; v < 8; v++)
			{
				int8_t		q[32] = {0};
				dsq8::XMeta m = {0.0f, 0, 0, 0};

				if (v < n)
					dsq8::quantize_block(&x[(size_t) v * K + 32 * kb], q, &m);
				for (int e = 0; e < 32; e++)
				{
					xbytes[dsq8::mma_xb_index(kb, v, e)] = (uint8_t) q[e];
					xw[dsq8::mma_xb_index(kb, v, e)]++;
				}
				dsq8::mrec_put<T>(&rec[((size_t) kb * 4 + v / 2) * dsq8::MREC<T>], v & 1, m);
			}
		for (auto c : xw)
			bad_rec += c != 1;	/* every fragment byte written once */
		ds_ref_matmul_q8(T, w.data(), M, K, x.data(), K, n, ref.data(), M);

		std::vector<float> got1(M);
		int			bad_scale = 0;

		for (int r0 = 0; r0 < M; r0 += 16)
		{
			float		acc[32][4] = {{0}},
						macc[32][4] = {{0}},
						acc1[32][4] = {{0}},
						macc1[32][4] = {{0}};

			for (int tile = 0; tile < K / 256; tile++)
			{
				/* the stage: 16 rows of 304 bytes, 16-byte aligned */
				alignas(16) uint8_t st[16][304];
				const uint8_t *a[16];
				uint32_t	fs[16];
				dsq8::MRow	rw[32][2];

				memset(st, 0x5a, sizeof(st));
				for (int r = 0; r < 16; r++)
				{
					const size_t off = (size_t) std::min(r0 + r, M - 1) * rb + (size_t) tile * TT::B;
					const uint32_t sh = (uint32_t) (off & 15);

					memcpy(&st[r][sh], w.data() + off, TT::B);
					a[r] = &st[r][sh & ~3u];
					fs[r] = 8 * (sh & 3);
				}
				for (int l = 0; l < 32; l++)
					for (int h = 0; h < 2; h++)
					{
						const int	r = 8 * h + (l >> 2);

						dsq8::mrow<T>(a[r], l & 3, fs[r], rw[l][h]);
					}
				q8mma_tile<T, 0>(a, fs, rw, xbytes.data(), rec.data(), tile, acc, macc);
				if (n == 1)
					q8one_tile<T>(a, fs, rw, xbytes.data(), rec.data(), tile, acc1, macc1, &bad_scale);
			}
			q8one_fold(acc1);
			q8one_fold(macc1);
			for (int l = 0; l < 32; l += 4)
				for (int h = 0; h < 2; h++)
				{
					const int	row = r0 + (l >> 2) + 8 * h;

					if (row < M)
						got1[row] = acc1[l][2 * h] + macc1[l][2 * h];
				}
			for (int l = 0; l < 32; l++)
				for (int i = 0; i < 4; i++)
				{
					const int	row = r0 + (l >> 2) + 8 * (i >> 1),
								col = 2 * (l & 3) + (i & 1);

					if (row < M && col < n)
						got[(size_t) col * M + row] = acc[l][i] + macc[l][i];
				}
		}

		double		e = rel_err(got.data(), ref.data(), got.size());

		tl.check(bad_rec == 0 && e <= 2e-6,
				 "q8mma lanes %-5s M=%d K=%d n=%d: rel err %.2e vs its reference (tol 2e-6)%s",
				 ds_type_name(T), M, K, n, e, bad_rec ? ", records or fragments not all written" : "");
		if (n == 1)
		{
			double		e1 = rel_err(got1.data(), ref.data(), got1.size());

			tl.check(bad_scale == 0 && e1 <= 2e-6,
					 "q8mma lanes, one-vector form (k-blocks as columns) %-5s M=%d K=%d: rel err %.2e "
					 "vs its reference (tol 2e-6), mscale == mfrag's scales%s", ds_type_name(T), M, K,
					 e1, bad_scale ? " NOT" : "");
		}
	}
	else
	{
		/* BF16: bf16 fragments of x (hi, lo), the m16n8k16 layout, f32
		 * sums.  F16 (k_prep_f16): per 128-element tile and vector x times
		 * 2^s (f16_x_shift of the tile's max |x|) as f16 hi + lo, the
		 * weights as stored, each tile's sum times 2^-s */
		const size_t rb = ds_row_size(T, K);
		std::vector<uint8_t> w = random_weights(T, M, K, rng);
		std::vector<float> x((size_t) n * K),
					ref((size_t) n * M),
					got((size_t) n * M);
		std::vector<uint16_t> xf((size_t) K * 16, 0);
		std::vector<int> xw(xf.size(), 0);
		std::vector<float> xsc((size_t) (K / 128) * 8, 1.0f);	/* F16: 2^-s per tile, vector */
		int			bad = 0;

		for (auto &v : x)
			v = rng.normal() * (float) (1 << (rng.next() % 8)) / 16.0f;
		for (int tl0 = 0; tl0 < K / 128; tl0++)
			for (int v = 0; v < 8; v++)
			{
				float		m = 0.0f;

				for (int e = 0; e < 128 && v < n; e++)
					m = std::max(m, std::fabs(x[(size_t) v * K + 128 * tl0 + e]));

				const int	sh = dsq8::f16_x_shift(m);

				xsc[(size_t) tl0 * 8 + v] = std::ldexp(1.0f, -sh);
				for (int e = 0; e < 128; e++)
				{
					const int	kk = 8 * tl0 + e / 16;
					const float xv = v < n ? x[(size_t) v * K + 128 * tl0 + e] : 0.0f;
					const size_t i = dsq8::mma_xf_index(kk, v, e % 16);

					if (T == DS_TYPE_BF16)
					{
						const uint16_t hb = ds_f32_to_bf16(xv);

						xf[i] = hb;
						xf[i + 4] = ds_f32_to_bf16(xv - bf16_to_f(hb));
					}
					else
					{
						const float u = std::ldexp(xv, sh);
						const uint16_t hh = ds_f32_to_f16(u);

						xf[i] = hh;
						xf[i + 4] = ds_f32_to_f16(u - ds_f16_to_f32(hh));
					}
					xw[i]++;
					xw[i + 4]++;
				}
			}
		for (auto c : xw)
			bad += c != 1;
		ds_ref_matmul(T, w.data(), M, K, x.data(), K, n, ref.data(), M);
		for (int r0 = 0; r0 < M; r0 += 16)
			for (int col = 0; col < 8; col++)
				for (int rr = 0; rr < 16; rr++)
				{
					const int	row = r0 + rr;
					double		acc = 0.0,
								ts = 0.0;	/* F16: the tile's scaled sum */

					if (row >= M || col >= n)
						continue;
					for (int kk = 0; kk < K / 16; kk++)
					{
						/* lane (g, t) of this row: a0/a2 hold elements 4t.. of the group */
						const uint8_t *rp = w.data() + (size_t) row * rb + 32 * kk;

						for (int t = 0; t < 4; t++)
						{
							uint32_t	wa[2];
							const uint16_t *xl = &xf[((size_t) kk * 32 + 4 * col + t) * 8];

							memcpy(wa, rp + 8 * t, 8);
							for (int h = 0; h < 2; h++)
								for (int j = 0; j < 2; j++)
								{
									const uint16_t wb = (uint16_t) (j ? wa[h] >> 16 : wa[h] & 0xffff);

									if (T == DS_TYPE_BF16)
										acc += (double) bf16_to_f(wb) *
											(bf16_to_f(xl[2 * h + j]) + bf16_to_f(xl[4 + 2 * h + j]));
									else
										ts += (double) ds_f16_to_f32(wb) *
											((double) ds_f16_to_f32(xl[2 * h + j]) +
											 ds_f16_to_f32(xl[4 + 2 * h + j]));
								}
						}
						if (T == DS_TYPE_F16 && kk % 8 == 7)
						{
							acc += ts * xsc[(size_t) (kk / 8) * 8 + col];
							ts = 0.0;
						}
					}
					got[(size_t) col * M + row] = (float) acc;
				}

		double		e = rel_err(got.data(), ref.data(), got.size());

		tl.check(bad == 0 && e <= 1e-5, "q8mma lanes %-5s M=%d K=%d n=%d: rel err %.2e vs f32 x (tol 1e-5)%s",
				 ds_type_name(T), M, K, n, e, bad ? ", x fragments not all written once" : "");
	}
}

/* ---- 3. references ---------------------------------------------------- */

static void
test_refs(Rng &rng, Tally &tl)
{
	/* rmsnorm with unit weight has unit RMS; add_rmsnorm = add then norm */
	{
		int			n = 1000,
					rows = 3;
		std::vector<float> x(n * rows),
					d(n * rows),
					wt(n, 1.0f),
					out(n * rows),
					h(n * rows),
					out2(n * rows);
		double		worst = 0;

		for (auto &v : x)
			v = 3.0f * rng.normal();
		for (auto &v : d)
			v = rng.normal();
		ds_ref_rmsnorm(x.data(), wt.data(), n, rows, 0.0f, out.data());
		for (int r = 0; r < rows; r++)
		{
			double		ss = 0;

			for (int i = 0; i < n; i++)
				ss += (double) out[r * n + i] * out[r * n + i];
			worst = std::max(worst, fabs(sqrt(ss / n) - 1.0));
		}
		tl.check(worst < 1e-5, "ref rmsnorm: unit RMS (err %.1e)", worst);
		h = x;
		ds_ref_add_rmsnorm(h.data(), d.data(), wt.data(), n, rows, 1e-6f, out.data());
		for (size_t i = 0; i < x.size(); i++)
			x[i] += d[i];
		ds_ref_rmsnorm(x.data(), wt.data(), n, rows, 1e-6f, out2.data());
		tl.check(rel_err(h.data(), x.data(), x.size()) == 0 &&
				 rel_err(out.data(), out2.data(), out.size()) == 0,
				 "ref add_rmsnorm == add then rmsnorm");
	}
	/* rope: position 0 is identity; rotation keeps each pair's norm; NEOX is
	 * NORM on the halves interleaved */
	{
		int			hd = 64,
					nh = 3,
					nt = 4;
		std::vector<float> x(hd * nh * nt),
					a,
					b,
					inter(x.size()),
					ff(hd / 2);
		std::vector<int32_t> pos = {0, 1, 77, 4000};
		int			bad = 0;

		for (auto &v : x)
			v = rng.normal();
		for (auto &v : ff)
			v = rng.range(1.0f, 8.0f);
		a = x;
		ds_ref_rope(a.data(), nt, nh, hd, hd * nh, hd, pos.data(), 0, 10000.0f, 1.0f, ff.data());
		for (int i = 0; i < hd * nh; i++)
			if (a[i] != x[i])
				bad++;
		for (int tk = 1; tk < nt; tk++)
			for (int i = 0; i < hd * nh; i += 2)
			{
				size_t		o = tk * hd * nh + i;
				double		n0 = hypot(x[o], x[o + 1]),
							n1 = hypot(a[o], a[o + 1]);

				if (fabs(n0 - n1) > 1e-5 * (1 + n0))
					bad++;
			}
		tl.check(bad == 0, "ref rope: identity at position 0, pair norms kept");
		/* interleave the NEOX halves into adjacent pairs and compare */
		for (int tk = 0; tk < nt; tk++)
			for (int hh = 0; hh < nh; hh++)
				for (int i = 0; i < hd / 2; i++)
				{
					size_t		o = tk * hd * nh + hh * hd;

					inter[o + 2 * i] = x[o + i];
					inter[o + 2 * i + 1] = x[o + i + hd / 2];
				}
		b = x;
		ds_ref_rope(b.data(), nt, nh, hd, hd * nh, hd, pos.data(), 2, 1e6f, 0.5f, NULL);
		ds_ref_rope(inter.data(), nt, nh, hd, hd * nh, hd, pos.data(), 0, 1e6f, 0.5f, NULL);
		bad = 0;
		for (int tk = 0; tk < nt; tk++)
			for (int hh = 0; hh < nh; hh++)
				for (int i = 0; i < hd / 2; i++)
				{
					size_t		o = tk * hd * nh + hh * hd;

					if (b[o + i] != inter[o + 2 * i] || b[o + i + hd / 2] != inter[o + 2 * i + 1])
						bad++;
				}
		tl.check(bad == 0, "ref rope: NEOX == adjacent pairs on interleaved halves");
	}
	/* swiglu */
	{
		float		g[4] = {0.0f, 30.0f, -30.0f, 1.0f},
					u[4] = {5.0f, 2.0f, 2.0f, 1.0f},
					o[4];

		ds_ref_swiglu(g, 4, u, 4, 4, 1, o, 4);
		tl.check(o[0] == 0.0f && fabsf(o[1] - 60.0f) < 1e-4f && fabsf(o[2]) < 1e-10f &&
				 fabsf(o[3] - 0.7310586f) < 1e-6f, "ref swiglu: silu(0)=0, limits, silu(1)");
	}
	/* embed: rows equal the dequantized rows, zeros out of range */
	{
		int			vocab = 7,
					ne = 256;
		std::vector<uint8_t> tab = random_weights(DS_TYPE_Q4_K, vocab, ne, rng);
		std::vector<int32_t> ids = {3, 0, 6, -1, 7, 3};
		std::vector<float> out(ids.size() * ne),
					row(ne);
		int			bad = 0;

		ds_ref_embed(tab.data(), DS_TYPE_Q4_K, vocab, ne, ids.data(), (int) ids.size(), out.data());
		for (size_t i = 0; i < ids.size(); i++)
		{
			bool		in = ids[i] >= 0 && ids[i] < vocab;

			if (in)
				ds_dequantize_row(DS_TYPE_Q4_K, tab.data() + ids[i] * ds_row_size(DS_TYPE_Q4_K, ne),
								  row.data(), ne);
			for (int k = 0; k < ne; k++)
				if (out[i * ne + k] != (in ? row[k] : 0.0f))
					bad++;
		}
		tl.check(bad == 0, "ref embed: rows and out-of-range zeros");
	}
	/* argmax, top-k, sampling */
	{
		int			n = 5000;
		std::vector<float> v(n);
		std::vector<int32_t> ids(64);
		std::vector<float> vals(64);
		bool		ok = true;

		for (auto &e : v)
			e = rng.normal();
		v[100] = v[4000] = 9.0f;	/* tie: lowest index wins */
		v[5] = NAN;
		ok &= ds_ref_argmax(v.data(), n) == 100;
		ds_ref_topk(v.data(), n, 64, ids.data(), vals.data());
		ok &= ids[0] == 100 && ids[1] == 4000;
		for (int j = 1; j < 64; j++)
			ok &= vals[j] <= vals[j - 1];
		{
			std::vector<float> s = v;

			s.erase(s.begin() + 5);
			std::sort(s.begin(), s.end(), std::greater<float>());
			for (int j = 0; j < 64; j++)
				ok &= vals[j] == s[j];
		}
		ok &= ds_ref_sample_topk(v.data(), n, 40, 0.0f, 0.5f) == 100;
		ok &= ds_ref_sample_topk(v.data(), n, 40, 1.0f, 0.0f) == 100;
		ok &= ds_ref_sample_topk(v.data(), n, 40, 1.0f, 0.999999f) == ids[39] ||
			ds_ref_sample_topk(v.data(), n, 40, 1.0f, 0.999999f) == ids[38];
		tl.check(ok, "ref argmax / top-k / sampling: ties, NaN, order, extremes");
	}
}

/* ---- 4. the work split of matvec_q8tma.cu and gemm_wgmma.cu ---------- */

static void
test_split(Tally &tl)
{
	const long	nrbs[] = {1, 2, 3, 7, 19, 33, 129, 148, 157, 594, 1188, 2110, 2376, 9504};
	const int	nchs[] = {1, 2, 3, 7, 37};
	const int	Gs[] = {1, 2, 33, 132, 264};
	int			cases = 0,
				bad = 0;

	for (long nrb : nrbs)
		for (int nch : nchs)
			for (int G0 : Gs)
			{
				const long	steps = nrb * nch;
				const int	G = (int) std::min<long>(G0, steps);	/* as the launcher */
				DsSplit		p = {nrb, nch, G, ds_split_whole_ok(nrb, G)};
				std::vector<int> owner(steps, -1);
				std::vector<std::vector<int>> sharers(nrb);
				std::vector<int> slot_used((size_t) 2 * G, 0),
							first_of(G, 0);
				long		prev = 0;
				bool		ok = ds_split_begin(p, 0) == 0 && ds_split_begin(p, G) == steps;

				cases++;
				for (int c = 0; c < G && ok; c++)
				{
					const long	b0 = ds_split_begin(p, c),
								b1 = ds_split_begin(p, c + 1);

					ok &= b0 == prev && b1 >= b0;
					prev = b1;
					if (p.whole)
						ok &= b0 % nch == 0 && b1 > b0;	/* whole and never empty */
					for (long s = b0; s < b1; s++)
					{
						ok &= owner[s] == -1;
						owner[s] = c;
						if (!p.whole)
							ok &= ds_split_owner(p, s) == c;
						if (sharers[s / nch].empty() || sharers[s / nch].back() != c)
							sharers[s / nch].push_back(c);
					}
				}
				for (long j = 0; j < nrb && ok; j++)
				{
					const auto &sh = sharers[j];

					ok &= !sh.empty();
					if (sh.size() == 1)
						continue;
					/* shared: never in whole mode; sharers = owner(first) .. owner(last), consecutive */
					ok &= !p.whole && sh.front() == ds_split_owner(p, j * nch) &&
						sh.back() == ds_split_owner(p, j * nch + nch - 1) &&
						(long) sh.size() == sh.back() - sh.front() + 1;
					/* the wgmma GEMM keeps a shared tile's counters at its
					 * first sharer's index */
					ok &= first_of[sh.front()]++ == 0;
					/* where the first sharer adds, a later sharer's range
					 * starts inside the row block (its copy warp counts
					 * the one slot of its first part) */
					for (size_t k = 1; k < sh.size(); k++)
					{
						const long	b = ds_split_begin(p, sh[k]);

						ok &= b / nch == j && b % nch != 0;
					}
					for (int c : sh)
					{
						int		   &u = slot_used[2 * c + ds_split_slot(p, c, j)];

						ok &= u == 0;	/* one partial row block per slot */
						u = 1;
					}
				}
				for (long s = 0; s < steps; s++)
					ok &= owner[s] >= 0;
				/* and a range that starts inside a row block is a later
				 * sharer of it */
				for (int c = 0; c < G && ok; c++)
				{
					const long	b0 = ds_split_begin(p, c);

					if (b0 < ds_split_begin(p, c + 1) && b0 % nch != 0)
						ok &= !p.whole && sharers[b0 / nch].front() < c;
				}
				bad += !ok;
			}
	tl.check(bad == 0, "q8tma work split: %d of %d (row blocks, steps, blocks) cases dealt wrongly", bad, cases);
	tl.check(ds_split_whole_ok(1188, 132) && ds_split_whole_ok(2110, 132) && !ds_split_whole_ok(148, 132) &&
			 !ds_split_whole_ok(100, 132),
			 "q8tma work split: whole row blocks exactly where they balance within 3%%");
	tl.check(ds_split_first_adds(148, 132, 0) && ds_split_first_adds(140, 132, 0) &&
			 !ds_split_first_adds(56, 132, 0) && !ds_split_first_adds(24, 72, 0) && !ds_split_first_adds(1188, 132, 1),
			 "q8tma work split: the first sharer adds where a row block has at most 2 sharers on average");

	/* the aligned grids: on multiprocessors enough, each block's range is
	 * non-empty and lies within the row block c / s */
	int			acases = 0,
				abad = 0;

	for (long nrb : nrbs)
		for (int nch : nchs)
			for (int sms : {66, 132})
				for (int wg = 0; wg < 2; wg++)
				{
					const long	G = wg ? ds_split_wgmma_grid(nrb, nch, sms) : ds_split_q8tma_grid(nrb, nch, sms);

					if (wg ? nrb > sms || nrb * nch > 4L * sms : G == 0)
					{
						/* no aligned grid: q8tma says so (nrb > sms), the
						 * wgmma GEMM runs one block per multiprocessor */
						abad += wg ? G != sms : nrb <= sms;
						continue;
					}

					DsSplit		p = {nrb, nch, (int) G, ds_split_whole_ok(nrb, (int) G)};
					bool		ok = G % nrb == 0 && G <= sms && G <= nrb * nch;

					acases++;
					for (int c = 0; c < G && ok; c++)
					{
						const long	b0 = ds_split_begin(p, c),
									b1 = ds_split_begin(p, c + 1);

						ok &= b1 > b0 && b0 / nch == (b1 - 1) / nch && b0 / nch == c / (G / nrb);
					}
					abad += !ok;
				}
	tl.check(acases > 100 && abad == 0,
			 "aligned grids: %d of %d cases with a block empty, across row blocks or beyond the multiprocessors",
			 abad, acases);
	/* the grids of the model shapes (132 multiprocessors): q8tma's row
	 * blocks of 128 rows x 2-tile steps (8960x1536: 70 x 3; 3584x18944: 28
	 * x 37; 18944x3584: 148 x 7) and of 32 x 4-tile steps (1536x1536: 48 x
	 * 2; 1536x8960: 48 x 9; 3584x3584: 112 x 4); the wgmma GEMM's tiles x
	 * K tiles (8960x1536: 70 x 6; 3584x3584: 28 x 14; 1536x8960: 12 x 35;
	 * 1536x1536: 12 x 6; 3584x18944: 28 x 74; 18944x3584: 148 x 14) */
	tl.check(ds_split_q8tma_grid(70, 3, 132) == 70 && ds_split_q8tma_grid(28, 37, 132) == 112 &&
			 ds_split_q8tma_grid(148, 7, 132) == 0 && ds_split_q8tma_grid(48, 2, 132) == 48 &&
			 ds_split_q8tma_grid(48, 9, 132) == 96 && ds_split_q8tma_grid(112, 4, 132) == 112,
			 "q8tma aligned grid on the model shapes: 70, 112, none, 48, 96, 112 blocks");
	tl.check(ds_split_wgmma_grid(70, 6, 132) == 70 && ds_split_wgmma_grid(28, 14, 132) == 112 &&
			 ds_split_wgmma_grid(12, 35, 132) == 96 && ds_split_wgmma_grid(12, 6, 132) == 72 &&
			 ds_split_wgmma_grid(28, 74, 132) == 132 && ds_split_wgmma_grid(148, 14, 132) == 132,
			 "wgmma grid on the model shapes: 70, 112, 96, 72, 132, 132 blocks");
}

/*
 * The whole-row bulk product's plan (split.cuh ds_bulk_plan): on random
 * shapes, types, vectors, multiprocessor counts and knobs, every plan it
 * accepts deals each row to exactly one block, fits shared memory with x
 * below the ring, gives each stage room for its rows' covering 16-byte
 * span and the decoders' 4-byte over-read, keeps a stage's bytes within an
 * mbarrier's transaction count, and cuts rows into segments only where
 * every row of the ring has a slot and each segment has 64 pieces; it
 * refuses exactly where two stages of one row do not fit.  Then the plans
 * of the model shapes.
 */
static void
test_bulk_plan(Rng &rng, Tally &tl)
{
	static const int types[] = {DS_TYPE_Q4_0, DS_TYPE_Q4_1, DS_TYPE_Q5_0, DS_TYPE_Q8_0, DS_TYPE_Q4_K,
		DS_TYPE_Q5_K, DS_TYPE_Q6_K, DS_TYPE_F16, DS_TYPE_BF16};
	int			cases = 0,
				bad = 0,
				refused = 0,
				badref = 0;

	for (int it = 0; it < 4000; it++)
	{
		const int	T = types[rng.u32() % 9];
		const bool	flt = T == DS_TYPE_F16 || T == DS_TYPE_BF16;
		const int	K = 256 * (1 + (int) (rng.u32() % (rng.u32() % 4 == 0 ? 512 : 80)));
		const int	M = 1 + (int) (rng.u32() % (rng.u32() % 4 == 0 ? 200000 : 4000));
		const int	nb = 1 + (int) (rng.u32() % 2);
		const int	sms = rng.u32() % 3 == 0 ? 1 + (int) (rng.u32() % 200) : 132;
		const int	grid = rng.u32() % 2 ? 0 : 1 + (int) (rng.u32() % 600);
		const int	sb = rng.u32() % 2 ? 0 : 1024 + (int) (rng.u32() % 65536);
		const int	ring = rng.u32() % 2 ? 0 : 16384 + (int) (rng.u32() % 220000);
		const int	lag = (int) (rng.u32() % 7) - 1;
		const long	rb = (long) ds_row_size(T, K);
		const int	nt = K / (flt ? 128 : 256);
		DsBulkPlan	p;
		const bool	ok = ds_bulk_plan(M, rb, K, nt, nb, flt, sms, grid, sb, ring, lag, &p);
		const long	xb = flt ? 0 : (long) nb * K + (long) nb * (K / 32) * 8;
		const long	room = DS_BULK_SMEM_MAX - (DS_BULK_BARS + 4 * DS_BULK_SLOTS +
											   4L * DS_BULK_SLOTS * DS_BULK_G_MAX * nb + ((xb + 15) & ~15L));
		const long	rg = std::min((long) (ring ? ring : DS_BULK_RING_DEF), room);
		const long	sr0 = std::min(std::max((sb ? sb : DS_BULK_STAGE_DEF) / rb, 1L), (long) DS_BULK_SR_MAX);
		const bool	fits = sr0 * rb + 32 <= room / 2 && rg / ((sr0 * rb + 32 + 15) & ~15L) >= 2;

		if (!ok)
		{
			refused++;
			badref += fits;
			continue;
		}
		cases++;

		bool		good = !(!fits) && p.grid >= 1 && p.grid <= M && p.grid == std::min(grid ? grid : sms, M);

		/* rows: each to one block, every block at least one */
		good &= ds_bulk_row_of(0, p.grid, M) == 0 && ds_bulk_row_of(p.grid, p.grid, M) == M;
		for (int c = 0; c < p.grid && good; c++)
			good &= ds_bulk_row_of(c + 1, p.grid, M) > ds_bulk_row_of(c, p.grid, M);
		/* shared memory */
		good &= p.xoff >= DS_BULK_BARS + 4 * DS_BULK_SLOTS + 4 * DS_BULK_SLOTS * DS_BULK_G_MAX * nb &&
			p.roff >= p.xoff + xb && p.roff % 16 == 0 && p.xoff % 16 == 0 && p.sbytes % 16 == 0 &&
			p.smem == p.roff + p.ns * p.sbytes && p.smem <= DS_BULK_SMEM_MAX;
		/* stages: the covering span (up to 15 bytes before the first row,
		 * 15 after the last) and the over-read, within a transaction count */
		good &= p.sr >= 1 && p.sr <= DS_BULK_SR_MAX && p.ns >= 2 && p.ns <= DS_BULK_NS_MAX &&
			p.sbytes >= p.sr * rb + 30 && 15 + p.sr * rb + 4 <= p.sbytes && p.sbytes < (1 << 20) &&
			p.lag >= 0 && p.lag <= p.ns && (lag >= 0 || p.lag == 0);
		/* segments */
		good &= (p.G == 1 || p.G == 2 || p.G == 4 || p.G == 8) &&
			(p.G == 1 || (p.slots == (p.ns + 1) * p.sr && p.slots <= DS_BULK_SLOTS && nt * 8 / p.G >= 64));
		bad += !good;
	}
	tl.check(cases > 2000 && bad == 0 && badref == 0,
			 "bulk plans: %d of %d accepted plans break a rule; %d of %d refusals where two stages fit",
			 bad, cases, badref, refused);

	/* the model shapes (132 multiprocessors, one vector): 18944x3584 Q4_0
	 * 12 rows x 8 stages, whole rows; 3584x18944 Q4_0 2 x 9, 4 segments;
	 * 1536x8960 Q4_K 4 x 9, 4 segments; 1536x1536 Q4_K 28 x 8, whole;
	 * F16 on 3584x18944 one row x 5 stages, 4 segments; F16 K = 131072
	 * refused */
	DsBulkPlan	a, b, c, d, e, f;
	const bool	oa = ds_bulk_plan(18944, 2016, 3584, 14, 1, false, 132, 0, 0, 0, 0, &a),
				ob = ds_bulk_plan(3584, 10656, 18944, 74, 1, false, 132, 0, 0, 0, 0, &b),
				oc = ds_bulk_plan(1536, 5040, 8960, 35, 1, false, 132, 0, 0, 0, 0, &c),
				od = ds_bulk_plan(1536, 864, 1536, 6, 1, false, 132, 0, 0, 0, 0, &d),
				oe = ds_bulk_plan(3584, 37888, 18944, 148, 1, true, 132, 0, 0, 0, 0, &e),
				of = ds_bulk_plan(8, 262144, 131072, 1024, 1, true, 132, 0, 0, 0, 0, &f);

	tl.check(oa && ob && oc && od && oe && !of && a.grid == 132 && a.sr == 12 && a.ns == 8 && a.G == 1 &&
			 b.sr == 2 && b.ns == 9 && b.G == 4 && c.sr == 4 && c.ns == 9 && c.G == 4 && d.sr == 28 &&
			 d.ns == 8 && d.G == 1 && e.sr == 1 && e.ns == 5 && e.G == 4 && a.lag == 3,
			 "bulk plans of the model shapes: rows x stages 12x8, 2x9 (4 segments), 4x9 (4), 28x8, 1x5 (4); "
			 "a 256 KB row refused");
}

/*
 * Q6_K in the copy-engine kernels: each step (row block j, chunk c of SC
 * tiles; the wgmma GEMM's unit is SC = 1) is 8 boxes of
 * ds_residue_tensor_map, emulated byte by byte (box r from the 16-byte
 * boundary at or before byte r rb + c SC 210 of the super-row, which the
 * copy engine requires, super-rows 16 j .. 16 j + 15; zeros past the
 * super-row's end and past M / 8), box r at stage row 16 r.  Then every
 * fragment row R and tile column reads its tile where the kernel looks
 * (q8_tile's residue mode: (row_off0 + m rb) & 15 + col 210 bytes into
 * the row, row_off0 = (warp's first box) rb + c SC 210): its 210 bytes,
 * and the 4-byte words that cover them, within its PITCH, equal row 128 j
 * + ds_res_row(R) of the weights (zeros past M).
 */
static void
test_residue_boxes(Rng &rng, Tally &tl)
{
	const int	TB = 210;
	const int	Ms[] = {8, 136, 256, 520};
	const int	Ks[] = {256, 768, 1280, 3584};
	int			bad = 0,
				bad_map = 0,
				cases = 0;
	std::vector<int> seen(128, 0);

	for (int R = 0; R < 128; R++)
		seen[ds_res_row(R)]++;
	for (int R = 0; R < 128; R++)
		bad_map += seen[R] != 1 || ds_res_row(R) % 8 != R / 16;

	for (int SC = 1; SC <= 2; SC++)
		for (int M : Ms)
			for (int K : Ks)
			{
				const int	nt = K / 256,
							nch = (nt + SC - 1) / SC;
				const size_t rb = (size_t) nt * TB;
				const int	P16 = (SC * TB + 14 + 15) / 16 * 16,
							PITCH = P16 % 32 == 0 ? P16 + 16 : P16;	/* as TCfg */
				std::vector<uint8_t> w((size_t) M * rb),
							stage((size_t) 128 * PITCH);

				for (auto &b : w)
					b = (uint8_t) rng.next();
				cases++;
				for (int j = 0; j < (M + 127) / 128; j++)
					for (int c = 0; c < nch; c++)
					{
						/* the copy engine */
						for (int r = 0; r < 8; r++)
						{
							const size_t x = ((r * rb + (size_t) c * SC * TB) & ~(size_t) 15) / 2;

							bad += PITCH % 16 != 0;
							for (int p = 0; p < 16; p++)
								for (int b = 0; b < PITCH; b++)
								{
									const size_t sr = (size_t) 16 * j + p,
												e = 2 * x + b;

									stage[(size_t) (16 * r + p) * PITCH + b] =
										sr < (size_t) M / 8 && e < 8 * rb ? w[sr * 8 * rb + e] : 0;
								}
						}
						/* the compute warps */
						for (int col = 0; col < SC; col++)
						{
							const int	tile = c * SC + col;

							if (tile >= nt)
								continue;
							for (int R = 0; R < 128; R++)
							{
								/* a warp of MT = SC m16 tiles: its first box, and m */
								const int	box0 = R / 16 / SC * SC,
											m = R / 16 - box0;
								const uint32_t row_off0 = (uint32_t) (box0 * rb + (size_t) c * SC * TB);
								const uint32_t sh = ((row_off0 + (uint32_t) m * (uint32_t) rb) & 15) + (uint32_t) (col * TB);
								const size_t ra = (size_t) R * PITCH + (sh & ~3u);
								const int	fs = 8 * (sh & 3);
								const int	row = 128 * j + ds_res_row(R);

								/* the covering words stay inside the row's pitch */
								bad += ra + (fs / 8 + TB + 3) / 4 * 4 > (size_t) (R + 1) * PITCH;
								for (int k = 0; k < TB; k++)
								{
									const uint8_t want = row < M ? w[(size_t) row * rb + (size_t) tile * TB + k] : 0;

									bad += stage[ra + fs / 8 + k] != want;
								}
							}
						}
					}
			}
	tl.check(bad_map == 0, "Q6_K residue boxes: fragment rows map onto the 128 rows of a block once, box i = rows 8 p + i");
	tl.check(bad == 0, "Q6_K residue boxes: %d cases (1-2 tiles per step, M %% 8 == 0, odd and even tile counts), "
			 "%d bytes read wrongly", cases, bad);
}

/* ---- 5. the wgmma GEMM's data flow ------------------------------------ */

/* round to bf16, nearest even, as a float */
static float
bf16r(float v)
{
	return bf16_lo(pack_bf16x2(v, 0.0f));
}

/*
 * M rows x K, n vectors: x is laid out per group at position 16 (r / 2) +
 * 8 (r % 2) + 2 t + h for element kmap(t, r, h) (k_xperm<T, true>); the
 * fragment register r of lane t of a row sits at the same position of the
 * row's A (wgmma's k16 step r / 2: registers a0/a1 at k 2 t, a2/a3 at
 * 2 t + 8), its weights s_b (A - OFF) + c'_b rounded once to bf16 with s_b,
 * c'_b = bf16(s), bf16(c + OFF s) from the table.  Checks: the positions
 * are a permutation of each group, every weight is within a bf16 rounding
 * of s A + c and of c' of the reference weight, the product within a bf16
 * GEMM's error of the f64 reference.
 */
template <int T>
static void
test_wgmma_emulated(Rng &rng, Tally &tl, int M, int K, int n)
{
	using QT = Q<T>;
	constexpr int OFF = T == DS_TYPE_Q8_0 ? 0 : 128;
	std::vector<uint8_t> w = random_weights(T, M, K, rng);
	const size_t rb = ds_row_size(T, K);
	std::vector<float> x((size_t) n * K),
				ref((size_t) n * M, 0.0f),
				xp((size_t) n * K),
				row(K),
				A(K);
	std::vector<double> got((size_t) n * M, 0.0);
	int			bad_perm = 0,
				bad_w = 0;

	for (auto &v : x)
		v = rng.normal();
	ds_ref_matmul(T, w.data(), M, K, x.data(), K, n, ref.data(), M);
	for (int grp = 0; grp < K / 32; grp++)
	{
		int			hits[32] = {0};

		for (int t = 0; t < 4; t++)
			for (int r = 0; r < 4; r++)
				for (int h = 0; h < 2; h++)
				{
					const int	pos = 16 * (r >> 1) + 8 * (r & 1) + 2 * t + h;

					hits[pos]++;
					for (int b = 0; b < n; b++)
						xp[(size_t) b * K + grp * 32 + pos] = bf16r(x[(size_t) b * K + grp * 32 + QT::kmap(t, r, h)]);
				}
		for (int p = 0; p < 32; p++)
			bad_perm += hits[p] != 1;
	}
	for (int m = 0; m < M; m++)
	{
		const uint8_t *wr = w.data() + m * rb;

		ds_dequantize_row(T, wr, row.data(), K);
		for (int tile = 0; tile * QT::TILE_K < K; tile++)
		{
			const uint8_t *tp = wr + (size_t) tile * QT::TILE_B;
			const int	ng = std::min(QT::TILE_K, K - tile * QT::TILE_K) / 32;
			float		s[16] = {0},
						c[16] = {0};

			tile_scales<T>(tp, ng, s, c);
			for (int grp = 0; grp < ng; grp++)
				for (int t = 0; t < 4; t++)
				{
					uint32_t	a[QT::NPL][4];

					QT::frag(tp, grp, t, a);
					for (int r = 0; r < 4; r++)
						for (int h = 0; h < 2; h++)
						{
							const int	k = tile * QT::TILE_K + grp * 32;
							const int	pos = 16 * (r >> 1) + 8 * (r & 1) + 2 * t + h;
							float		v,
										bound;

							if constexpr (QT::SG > 0)
							{
								const int	sg = scale_group<T>(grp, r);
								const float sb = bf16r(s[sg]),
											cb = bf16r(c[sg] + OFF * s[sg]);
								const float q = bf16_to_f(h ? a[0][r] >> 16 : a[0][r] & 0xffff) - OFF;

								v = bf16r((float) ((double) sb * q + cb));
								/* three bf16 roundings, and the f32 ones of c + OFF s
								 * here and of the reference dequantizer, which matter
								 * where c + OFF s cancels (seed 7825714857122285:
								 * Q4_1 c' = -2.1e-6 from c = -1.74) */
								bound = ldexpf(fabsf(s[sg] * q) + fabsf(c[sg] + OFF * s[sg]) + fabsf(v), -8) * 1.01f +
									ldexpf(fabsf(s[sg] * q) + fabsf(c[sg]) + fabsf(OFF * s[sg]), -22);
							}
							else
							{
								float		e = 0.0f;

								for (int p = 0; p < QT::NPL; p++)
									e += bf16_to_f(h ? a[p][r] >> 16 : a[p][r] & 0xffff);
								v = bf16r(e);
								bound = ldexpf(fabsf(v), -8) * 1.01f;
							}
							if (!(fabsf(v - row[k + QT::kmap(t, r, h)]) <= bound))
								bad_w++;
							A[k + pos] = v;
						}
				}
		}
		for (int b = 0; b < n; b++)
		{
			double		acc = 0.0;

			for (int k = 0; k < K; k++)
				acc += (double) A[k] * xp[(size_t) b * K + k];
			got[(size_t) b * M + m] = acc;
		}
	}

	double		num = 0.0,
				den = 0.0;

	for (size_t i = 0; i < got.size(); i++)
	{
		num += (got[i] - ref[i]) * (got[i] - ref[i]);
		den += (double) ref[i] * ref[i];
	}

	const double e = sqrt(num / (den + 1e-300));

	tl.check(bad_perm == 0 && bad_w == 0 && e <= 1.2e-2,
			 "wgmma data flow %-5s M=%d K=%d n=%d: x positions %s, %d weights off by more than a bf16 "
			 "rounding of s A and c', rel err %.2e (tol 1.2e-2)",
			 ds_type_name(T), M, K, n, bad_perm ? "NOT a permutation" : "a permutation", bad_w, e);
}

/*
 * The power of two F16's q8mma path scales each 128-element tile of x by
 * (dsq8::f16_x_shift): the tile's max |x| lands in [2^14, 2^15) (so the
 * f16 hi part neither overflows nor drops the large elements' bits) for
 * every normal max from 2^-111 to f32's largest, the two powers 2^s and
 * 2^-s stay finite and normal everywhere, and 0, NaN and infinity keep s = 0.
 */
static void
test_f16_shift(Tally &tl)
{
	int			bad = 0,
				cases = 0;

	for (int e = -149; e <= 127; e++)
		for (float f : {1.0f, 1.25f, 1.5f, 1.999f})
		{
			const float m = std::ldexp(f, e);

			if (!(m > 0.0f) || !std::isfinite(m))
				continue;

			const int	s = dsq8::f16_x_shift(m);
			const float up = std::ldexp(1.0f, s),
						down = std::ldexp(1.0f, -s),
						sm = m * up;

			cases++;
			if (!std::isnormal(up) || !std::isnormal(down) || !std::isfinite(sm) || sm >= 32768.0f ||
				(m >= std::ldexp(1.0f, -111) && sm < 16384.0f))
				bad++;
		}
	bad += dsq8::f16_x_shift(0.0f) != 0;
	bad += dsq8::f16_x_shift(NAN) != 0;
	bad += dsq8::f16_x_shift(INFINITY) != 0;
	tl.check(bad == 0 && cases > 1000, "F16 x scaling: %d maxima from 2^-149 to 2^127, scaled max in [2^14, 2^15) "
			 "where s is not clamped, 2^s and 2^-s normal; 0, NaN, inf keep s = 0: %d wrong", cases, bad);
}

/*
 * bench_summary.h on made-up rows: the default column from path "auto"
 * only, the best column from the kernels only (a reference that reads the
 * same bytes faster, and the default itself, never count), variants
 * under their kernel's letter, empty cells and t(8) / t(1) of each, and no
 * line for a type without rows.
 */
static void
test_bench_summary(Tally &tl)
{
	auto		row = [] (const char *path, int n, double us, double pct) {
		return BenchRow{"Q4_0", "1.5B attn_q/o", path, 1536, 1536, n, us * 1e-6, 0.0, pct, 0.0, 0.0};
	};
	const std::vector<BenchRow> rows = {
		row("auto", 1, 4.0, 10.0), row("dp4a", 1, 3.0, 13.3), row("q8tma", 1, 3.5, 11.4),
		row("read", 1, 1.0, 40.0), row("tma64x576", 1, 1.1, 38.0),
		row("auto", 2, 4.4, 9.1), row("bulk", 2, 3.2, 12.5), row("q8mma", 2, 4.1, 9.8),
		row("auto", 8, 5.0, 8.0), row("q8tma", 8, 4.5, 8.9), row("q8tg66", 8, 4.0, 10.0),
		row("auto", 1, 2.0, 20.0),	/* another shape's row must not count: */
	};
	std::vector<BenchRow> r2 = rows;

	r2.back().M = 3584;
	r2.back().K = 3584;

	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);

	bench_small_summary(f, r2, {"Q4_0", "Q8_0"}, {{1536, 1536}, {3584, 18944}}, 4.2e12);
	fclose(f);

	const std::string out(buf, len);
	const char *want = "Q4_0    1536x1536   |  10/  9/  0/  8 1.25       |  13d/ 12b/  0-/ 10t 1.33";

	free(buf);
	tl.check(out.find(want) != std::string::npos, "bench summary: default and best cells of a shape");
	tl.check(out.find("Q8_0") == std::string::npos && out.find("18944") == std::string::npos,
			 "bench summary: no line without rows");
	tl.check(out.find("4200 GB/s") != std::string::npos, "bench summary: the copy bandwidth in the header");
	tl.check(bench_letter("q8m16") == 'q' && bench_letter("q8tl2") == 't' && bench_letter("read") == 0 &&
			 bench_letter("auto") == 0 && bench_letter("cublas") == 0 && bench_letter("tma16x2048") == 0,
			 "bench summary: kernel letters");
	if (out.find(want) == std::string::npos)
		printf("%s", out.c_str());
}

int
main(void)
{
	uint64_t	seed = test_seed();
	Rng			rng(seed);
	Tally		tl;

	printf("kernels-test-cpu: seed %llu (set DS_TEST_SEED to repeat)\n",
		   (unsigned long long) seed);
	test_k4_scales(rng, tl);
#define DECODER(T) test_decoder<T>(rng, tl);
	DSQ_FOR_EACH_TYPE(DECODER)
#define EMULATE(T) test_matvec_emulated<T>(rng, tl, 512); \
		test_matvec_emulated<T>(rng, tl, Q<T>::TILE_K == 256 && ds_type_info(T)->block_elems == 32 ? 352 : 768);
	DSQ_FOR_EACH_TYPE(EMULATE)
#define Q8EMU(T) test_q8_emulated<T>(rng, tl, 7, 256, 1); \
		test_q8_emulated<T>(rng, tl, 13, 1536, 3);
	DSQ_FOR_EACH_TYPE(Q8EMU)
#define Q8MMA(T) test_q8mma_emulated<T>(rng, tl, 21, 256, 1); \
		test_q8mma_emulated<T>(rng, tl, 45, 1024, 1); \
		test_q8mma_emulated<T>(rng, tl, 37, 768, 3); \
		test_q8mma_emulated<T>(rng, tl, 16, 1280, 8);
	DSQ_FOR_EACH_TYPE(Q8MMA)
	test_refs(rng, tl);
	test_split(tl);
	test_bulk_plan(rng, tl);
	test_residue_boxes(rng, tl);
	test_f16_shift(tl);
	test_bench_summary(tl);
#define WGEMU(T) test_wgmma_emulated<T>(rng, tl, 19, 2 * Q<T>::TILE_K + (ds_type_info(T)->block_elems == 32 ? 96 : 0), 3);
	DSQ_FOR_EACH_TYPE(WGEMU)
	printf("kernels-test-cpu: %d passed, %d failed\n", tl.passed, tl.failed);
	return tl.failed ? 1 : 0;
}
