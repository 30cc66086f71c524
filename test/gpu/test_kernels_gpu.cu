/*
 * test_kernels_gpu.cu -- every kernel of deepseek_cuda.so against its CPU
 * reference (kernels/ref/), through the library's C interface, on fresh
 * random inputs each run (the seed is printed; DS_TEST_SEED repeats a run).
 *
 * Outputs are poisoned (all bits set: NaN, id -1) before each launch, so an
 * element a kernel fails to write fails the check.  Sizes are odd as well
 * as round.  Tolerances, as ||gpu - ref|| / ||ref|| unless said otherwise:
 *   small-batch product, f32 or bf16 x, f32 y       2e-5  (x split in two bf16)
 *   small-batch product, bf16 y                     6e-3  (bf16 rounding of y)
 *   dp4a product against its int8-x reference       2e-5 (6e-3 bf16 y); and
 *     against the f32-x reference, per output:      the worst case of x's int8 rounding,
 *                                                   sum_k |w[m][k]| d(k) / 2, + the above
 *   fused GEMM and cuBLAS path                      1.2e-2 (bf16 weights and x)
 *   cuBLAS path on F16 weights (f16 x), f32 y       1e-3; bf16 y 6e-3
 *   dequantize and embed, f32                       exact; bf16: rounding of the exact value
 *   rmsnorm, swiglu                                 2e-6 f32, 6e-3 bf16
 *   rope                                            1e-6
 *   argmax, top-k, top-k sampling                   exact (same ids)
 * Ends with "gpu-test: N passed, M failed"; exit 1 on any failure.
 */
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "deepseek_kernels.h"
#include "kernels_ref.h"
#include "test_common.h"

static Tally tl;
static Rng *rng;
static ds_cuda_context *ctx;
static const char *only;		/* DS_TEST_ONLY=q8tma,q8txs (path names, comma-separated): only those paths' products */
static const char *types_only;	/* DS_TEST_TYPES=Q6_K,F16: only these weight types' products */

/* a device buffer with host copies in and out */
struct Dev
{
	void	   *p = nullptr;
	size_t		n = 0;

	explicit Dev(size_t bytes) : n(bytes) { CK(cudaMalloc(&p, bytes ? bytes : 16)); }
	~Dev() { cudaFree(p); }
	Dev(const Dev &) = delete;
	template <typename T> T *as() { return (T *) p; }
	void		put(const void *h) { CK(cudaMemcpy(p, h, n, cudaMemcpyHostToDevice)); }
	void		get(void *h) { CK(cudaMemcpy(h, p, n, cudaMemcpyDeviceToHost)); }
	void		poison() { CK(cudaMemset(p, 0xff, n)); }
};

static float
bf(uint16_t h)
{
	return ds_bf16_to_f32(h);
}

/* run an API call that must succeed; on failure print the library's message */
static bool
ok_call(int rc, const char *what)
{
	if (rc != DS_CUDA_OK)
	{
		tl.check(false, "%s returned %s: %s", what, ds_cuda_status_name(rc), ds_cuda_last_error());
		return false;
	}
	cudaError_t e = cudaDeviceSynchronize();

	if (e != cudaSuccess)
	{
		tl.check(false, "%s: kernel failed: %s", what, cudaGetErrorString(e));
		exit(2);
	}
	return true;
}

/* random x [n][ldx] as f32, and its bf16 form; xr gets what the kernel sees */
static void
make_x(int n, int K, int ldx, bool xbf16, std::vector<float> &xr, std::vector<uint8_t> &xdev)
{
	xr.assign((size_t) n * ldx, 0.0f);
	xdev.assign((size_t) n * ldx * (xbf16 ? 2 : 4), 0);
	for (int b = 0; b < n; b++)
		for (int k = 0; k < K; k++)
		{
			float		v = rng->normal();
			size_t		i = (size_t) b * ldx + k;

			if (xbf16)
			{
				uint16_t	h = ds_f32_to_bf16(v);

				memcpy(&xdev[2 * i], &h, 2);
				v = bf(h);
			}
			else
				memcpy(&xdev[4 * i], &v, 4);
			xr[i] = v;
		}
}

enum Path
{
	P_MATVEC, P_FUSED, P_CUBLAS, P_MATMUL, P_DP4A, P_SMALL, P_Q8MMA, P_Q8TMA, P_Q8TXS, P_Q8TSC, P_WGMMA, P_Q8TLAG,
	P_Q8MIB, P_BULK
};
static const char *path_name[] = {"mma", "fused", "cublas", "matmul", "dp4a", "matvec", "q8mma", "q8tma", "q8txs", "q8tsc",
	"wgmma", "q8tlag", "q8mib", "bulk"};

/* element i of a y read back from the device, f32 or bf16 */
static float
y_at(const std::vector<uint8_t> &yh, size_t i, bool ybf16)
{
	float		v;

	if (ybf16)
	{
		uint16_t	h;

		memcpy(&h, &yh[2 * i], 2);
		return bf(h);
	}
	memcpy(&v, &yh[4 * i], 4);
	return v;
}

/* whether a DS_TEST_ONLY / DS_TEST_TYPES list leaves name out (no list: all in) */
static bool
unlisted(const char *list, const char *name)
{
	return list && !strstr(("," + std::string(list) + ",").c_str(), ("," + std::string(name) + ",").c_str());
}

/* y = W x by one path against ds_ref_matmul */
static void
test_product(int type, int M, int K, int n, Path path, bool xbf16, bool ybf16, int ldx_pad = 0)
{
	if (unlisted(only, path_name[path]) || unlisted(types_only, ds_type_name(type)))
		return;

	std::vector<uint8_t> w = random_weights(type, M, K, *rng);
	int			ldx = K + ldx_pad,
				ldy = M + (ldx_pad ? 3 : 0);
	std::vector<float> xr,
				ref((size_t) n * ldy, 0.0f),
				got((size_t) n * ldy, 0.0f);
	std::vector<uint8_t> xh;
	size_t		ysz = ybf16 ? 2 : 4;

	/* the dp4a and q8mma kernels compute with x quantized to int8: their own
	 * reference */
	bool		q8 = path == P_DP4A || path == P_Q8MMA || path == P_Q8MIB || path == P_BULK || path == P_Q8TMA || path == P_Q8TXS ||
		path == P_Q8TSC || path == P_Q8TLAG ||
		((path == P_SMALL || (path == P_MATMUL && n <= 8)) &&
		 ds_cuda_matvec_path(type, M, K, n) != DS_CUDA_MATVEC_MMA);
	std::vector<float> ref32;

	make_x(n, K, ldx, xbf16, xr, xh);
	if (q8)
	{
		ds_ref_matmul_q8(type, w.data(), M, K, xr.data(), ldx, n, ref.data(), ldy);
		ref32.assign(ref.size(), 0.0f);
		ds_ref_matmul(type, w.data(), M, K, xr.data(), ldx, n, ref32.data(), ldy);
	}
	else
		ds_ref_matmul(type, w.data(), M, K, xr.data(), ldx, n, ref.data(), ldy);

	Dev			dw(w.size()),
				dx(xh.size()),
				dy((size_t) n * ldy * ysz);
	std::vector<uint8_t> yh(dy.n);
	int			rc;
	ds_cuda_dtype xt = xbf16 ? DS_CUDA_BF16 : DS_CUDA_F32,
				yt = ybf16 ? DS_CUDA_BF16 : DS_CUDA_F32;

	dw.put(w.data());
	dx.put(xh.data());
	dy.poison();
	switch (path)
	{
		case P_MATVEC:
			rc = ds_cuda_matvec_mma(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_DP4A:
			rc = ds_cuda_matvec_dp4a(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_SMALL:
			rc = ds_cuda_matvec(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_Q8MMA:
			rc = ds_cuda_matvec_q8mma(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_Q8TMA:
			rc = ds_cuda_matvec_q8tma(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_BULK:
			rc = ds_cuda_matvec_bulk(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_Q8MIB:			/* q8mma with K split among one block's warps */
			rc = ds_cuda_matvec_q8mma_tuned(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy, 0, 0, 3);
			break;
		case P_Q8TXS:			/* x staged by the copy engine */
			rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy, 0, 0, 1, 0);
			break;
		case P_Q8TSC:			/* 1 or 4 tiles per step, 16 rows per warp, by the shape's parity */
			rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy,
											1, M % 2 ? 4 : 1, 0, 0);
			break;
		case P_Q8TLAG:			/* at most 1 (odd M, x not staged) or 2 steps on their way */
			rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy,
											0, 0, M % 2 ? 0 : 1, M % 2 ? 1 : 2);
			break;
		case P_FUSED:
			rc = ds_cuda_gemm_fused(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_WGMMA:
			rc = ds_cuda_gemm_wgmma(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		case P_CUBLAS:
			rc = ds_cuda_gemm_cublas(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
		default:
			rc = ds_cuda_matmul(ctx, 0, dw.p, type, M, K, dx.p, xt, ldx, n, dy.p, yt, ldy);
			break;
	}
	if (!ok_call(rc, path_name[path]))
		return;
	dy.get(yh.data());

	/* compare the M valid entries of each row */
	std::vector<float> g,
				r,
				r32;

	for (int b = 0; b < n; b++)
		for (int m = 0; m < M; m++)
		{
			size_t		i = (size_t) b * ldy + m;

			g.push_back(y_at(yh, i, ybf16));
			r.push_back(ref[i]);
			if (q8)
				r32.push_back(ref32[i]);
		}

	double		e = rel_err(g.data(), r.data(), g.size());
	bool		exact_path = path == P_MATVEC || path == P_DP4A || path == P_SMALL ||
		path == P_Q8MMA || path == P_Q8MIB || path == P_BULK || path == P_Q8TMA || path == P_Q8TXS || path == P_Q8TSC ||
		path == P_Q8TLAG || (path == P_MATMUL && n <= 8);
	double		tol = exact_path ? (ybf16 ? 6e-3 : 2e-5) : 1.2e-2;

	tl.check(e <= tol, "%-6s %-5s M=%-5d K=%-5d n=%-3d x %s y %s%s: rel err %.2e (tol %.0e)%s",
			 path_name[path], ds_type_name(type), M, K, n, xbf16 ? "bf16" : "f32 ",
			 ybf16 ? "bf16" : "f32 ", ldx_pad ? " strided" : "", e, tol,
			 q8 ? " vs int8-x reference" : "");
	if (q8)
	{
		/*
		 * Against the f32-x product, each output may be off by what the
		 * int8 rounding of x can cost it at worst, sum_k |w[m][k]| d(k) / 2
		 * (d(k): the scale of k's 32-element block of x), plus the
		 * rounding allowed against the int8-x reference.
		 */
		const int	nblk = (K + 31) / 32;
		std::vector<float> d((size_t) n * nblk);
		std::vector<int8_t> q(K);
		std::vector<int32_t> s16(2 * nblk);
		std::vector<double> bound;
		double		worst = 0,
					amax = 0;

		for (float v : r32)
			amax = std::max(amax, (double) fabsf(v));
		for (int b = 0; b < n; b++)
			ds_ref_quantize_q8(xr.data() + (size_t) b * ldx, K, q.data(), d.data() + (size_t) b * nblk,
							   s16.data());
		int8x_rounding_bounds(type, w.data(), M, K, d.data(), n, nullptr, 0, bound, nullptr);
		for (size_t i = 0; i < bound.size(); i++)
			worst = std::max(worst, fabs((double) g[i] - r32[i]) /
							 (bound[i] * 1.001 + (ybf16 ? 6e-3 : 2e-5) * amax));
		tl.check(worst <= 1.0, "%-6s %-5s M=%-5d K=%-5d n=%-3d: rel err %.2e vs f32-x reference, "
				 "worst output at %.2f of its int8-x rounding bound", path_name[path], ds_type_name(type),
				 M, K, n, rel_err(g.data(), r32.data(), g.size()), worst);
	}
}

static void
test_products(void)
{
	for (int type : all_types)
	{
		int			kq = ds_type_info(type)->block_elems == 256;
		int			Kodd = kq ? 768 : 352;	/* partial tile for 32-element blocks */

		/* small batch: odd rows, a split-K shape, bf16 in and out */
		test_product(type, 333, Kodd, 1, P_MATVEC, false, false);
		test_product(type, 128, 1024, 3, P_MATVEC, false, false);
		test_product(type, 77, 4096, 8, P_MATVEC, false, false);
		test_product(type, 1000, 2048, 5, P_MATVEC, true, false);
		test_product(type, 257, 1536, 2, P_MATVEC, false, true, 8);
		test_product(type, 333, Kodd, 2, P_MATVEC, false, false);
		test_product(type, 200, Kodd, 4, P_MATVEC, true, false);
		test_product(type, 1100, 2 * Kodd, 7, P_MATVEC, false, false);
		/* the dp4a kernel: row tails of every job size (R = 1, 2, 4), a
		 * K of one tile, bf16 in and out, strided, a long K */
		test_product(type, 333, 256, 1, P_DP4A, false, false);
		test_product(type, 3, 768, 8, P_DP4A, false, false);
		test_product(type, 129, 1024, 3, P_DP4A, false, false);
		test_product(type, 77, 4096, 8, P_DP4A, false, false);
		test_product(type, 1000, 2048, 5, P_DP4A, true, false);
		test_product(type, 257, 1536, 2, P_DP4A, false, true, 8);
		test_product(type, 1101, 512, 6, P_DP4A, true, true, 8);
		test_product(type, 4099, 3584, 1, P_DP4A, false, false);
		test_product(type, 16385, 512, 1, P_DP4A, true, false);	/* 2 rows per job */
		test_product(type, 513, 18944, 4, P_DP4A, false, false);
		/* whole rows per block by bulk copies: fewer rows than blocks, a
		 * K of one tile, row ranges that start and end off 16 bytes
		 * (Q6_K), the tensor's last bytes, bf16 in and out, strided,
		 * a long K (one row per stage), two vectors */
		test_product(type, 7, 256, 1, P_BULK, false, false);
		test_product(type, 333, 768, 1, P_BULK, false, false);
		test_product(type, 4099, 3584, 1, P_BULK, false, false);
		test_product(type, 1001, 1536, 2, P_BULK, true, true, 8);
		test_product(type, 513, 18944, 2, P_BULK, false, false);
		test_product(type, 3, 32768, 1, P_BULK, true, false);
		/* the tensor-core kernel with the weights' integers (int8; bf16 for
		 * F16/BF16): row tails of its 16- and 32-row blocks, K of one
		 * tile, every n, bf16 in and out, strided, K split in 2-16
		 * segments (few rows, long K): the split-K sums through the word
		 * slots (3x768, 129x1024, 257x1536, 4099x3584, 8193x4096: 3-7
		 * segments) and through partials behind a fence (77x4096,
		 * 513x18944, 1536x8960, 2049x16384: 12-16) */
		{
			test_product(type, 333, 256, 1, P_Q8MMA, false, false);
			test_product(type, 3, 768, 8, P_Q8MMA, false, false);
			test_product(type, 129, 1024, 3, P_Q8MMA, false, false);
			test_product(type, 77, 4096, 8, P_Q8MMA, false, false);
			test_product(type, 1000, 2048, 5, P_Q8MMA, true, false);
			test_product(type, 257, 1536, 2, P_Q8MMA, false, true, 8);
			test_product(type, 1101, 512, 6, P_Q8MMA, true, true, 8);
			test_product(type, 4099, 3584, 1, P_Q8MMA, false, false);
			test_product(type, 16385, 512, 4, P_Q8MMA, true, false);
			test_product(type, 513, 18944, 7, P_Q8MMA, false, false);
			test_product(type, 1536, 8960, 1, P_Q8MMA, false, false);
			/* large enough for 32-row units where the type has them */
			test_product(type, 8193, 4096, 3, P_Q8MMA, false, false);
			test_product(type, 2049, 16384, 8, P_Q8MMA, true, false);
			/* K split among one block's warps: 4 segments (1024, 3584,
			 * 16384) or 2 (1536 for the int8 types), row tails, odd row
			 * blocks per block, every n */
			test_product(type, 129, 1024, 3, P_Q8MIB, false, false);
			test_product(type, 3584, 3584, 8, P_Q8MIB, false, true, 8);
			test_product(type, 1537, 1536, 1, P_Q8MIB, true, false);
			test_product(type, 8193, 1536, 6, P_Q8MIB, false, false);
			test_product(type, 77, 16384, 2, P_Q8MIB, false, false);
		}
		/* the bulk-copy int8 kernel (quantized types): the default grid
		 * of few row blocks (one block for 3 rows, 2 or 4 sharers per row
		 * block on 4099 x 3584 and 513 x 18944) and of many (stream-K,
		 * 20001 x 3584; fewer steps than blocks with the launch's own
		 * settings, P_Q8TSC), row tails, bf16 in and out, strided,
		 * every n, 32-row warps on the larger shapes; Q6_K (residue
		 * boxes) on row counts rounded up to a multiple of 8, with odd
		 * tile counts (rows 2 bytes off a 4-byte boundary) */
		if (type != DS_TYPE_F16 && type != DS_TYPE_BF16)
		{
			auto		mq = [&] (int m) { return type == DS_TYPE_Q6_K ? (m + 7) & ~7 : m; };

			test_product(type, mq(333), 256, 1, P_Q8TMA, false, false);
			test_product(type, mq(3), 768, 8, P_Q8TMA, false, false);
			test_product(type, mq(129), 1024, 3, P_Q8TMA, false, false);
			test_product(type, mq(1000), 2048, 5, P_Q8TMA, true, false);
			test_product(type, mq(257), 1536, 2, P_Q8TMA, false, true, 8);
			test_product(type, mq(1101), 512, 6, P_Q8TMA, true, true, 8);
			test_product(type, mq(4099), 3584, 1, P_Q8TMA, false, false);
			test_product(type, mq(16385), 512, 4, P_Q8TMA, true, false);
			test_product(type, mq(513), 18944, 7, P_Q8TMA, false, false);
			test_product(type, mq(8193), 4096, 1, P_Q8TMA, false, false);
			test_product(type, mq(20001), 3584, 8, P_Q8TMA, false, true);
			/* the aligned grid: one block per row block of 128 rows */
			test_product(type, mq(8999), 1536, 3, P_Q8TMA, true, false);
			/* whole row blocks per block (no partial sums) */
			test_product(type, mq(270001), 256, 1, P_Q8TMA, false, false);
			/* one vector on many rows: 64-row blocks, two blocks per
			 * multiprocessor where the type takes them (whole row blocks
			 * on 67584 rows, shared ones on 70001) */
			test_product(type, 67584, 3584, 1, P_Q8TMA, false, false);
			test_product(type, mq(70001), 1536, 1, P_Q8TMA, true, false);
			/* the same with x staged by the copy engine, and the other
			 * step widths */
			test_product(type, mq(333), 256, 1, P_Q8TXS, false, false);
			test_product(type, mq(3), 768, 8, P_Q8TXS, false, false);
			test_product(type, mq(1000), 2048, 5, P_Q8TXS, true, false);
			test_product(type, mq(1101), 512, 6, P_Q8TXS, true, true, 8);
			test_product(type, mq(4099), 3584, 1, P_Q8TXS, false, false);
			test_product(type, mq(513), 18944, 7, P_Q8TXS, false, false);
			test_product(type, mq(20001), 3584, 8, P_Q8TXS, false, true);
			test_product(type, mq(270001), 256, 1, P_Q8TXS, false, false);
			test_product(type, mq(1101), 1280, 3, P_Q8TSC, false, false);
			test_product(type, mq(4098), 3584, 1, P_Q8TSC, true, false);
			/* steps asked for only once an earlier one has landed */
			test_product(type, mq(4099), 3584, 1, P_Q8TLAG, false, false);
			test_product(type, mq(4100), 3584, 8, P_Q8TLAG, true, false);
			test_product(type, mq(513), 18944, 7, P_Q8TLAG, false, true);
			test_product(type, mq(20000), 3584, 2, P_Q8TLAG, false, false);
			test_product(type, mq(270001), 256, 1, P_Q8TLAG, false, false);
			test_product(type, mq(3), 768, 8, P_Q8TLAG, false, false);
		}
		/* the dispatcher, on a shape each kernel takes */
		test_product(type, 300, 1024, 1, P_SMALL, false, false);
		test_product(type, 300, Kodd, 2, P_SMALL, false, false);
		test_product(type, 65537, 512, 2, P_SMALL, false, false);	/* q8tma where it takes the type */
		test_product(type, 16384, 2048, 3, P_SMALL, false, false);	/* Q6_K: q8tma from 2^25 weights */
		test_product(type, 2056, 16384, 5, P_SMALL, false, true);	/* few rows, long K: q8tma at 2-8 */
		test_product(type, 2056, 16384, 1, P_SMALL, false, false);	/* and at one (Q4_1 dp4a) */
		test_product(type, 8200, 1536, 6, P_SMALL, false, false);	/* 8960x1536-like: q8tma at 4-8, */
		test_product(type, 8200, 1536, 3, P_SMALL, false, false);	/* Q4_1, Q5_0 dp4a at 3; Q8_0 q8mma in-block */
		test_product(type, 8200, 1536, 1, P_SMALL, false, false);	/* Q4_0, Q4_K, Q6_K q8tma at 1 */
		test_product(type, 3000, 3584, 2, P_SMALL, false, false);	/* 3584x3584-like: q8tma at 2-8 */
		test_product(type, 3000, 3584, 1, P_SMALL, false, false);	/* Q8_0 q8tma at 1 (4-tile steps) */
		test_product(type, 1544, 1536, 4, P_SMALL, false, true);
		test_product(type, 1544, 1536, 2, P_SMALL, true, false);	/* bulk but Q8_0, F16, BF16 */
		test_product(type, 1531, 1536, 1, P_SMALL, false, false);	/* Q4_K bulk */
		test_product(type, 3000, 3584, 2, P_SMALL, false, true);	/* Q6_K bulk */	/* 1536x1536-like: q8tma at 4-8, Q6_K dp4a */
		test_product(type, 12296, 3584, 1, P_SMALL, false, false);	/* 18944x3584-like: Q4_0, Q4_K, Q5_K */
		test_product(type, 1032, 8448, 1, P_SMALL, false, false);	/* 1536x8960-like: Q4_0, Q4_K, Q5_K, Q8_0 q8tma */
		test_product(type, 1032, 8448, 4, P_SMALL, false, false);	/* and Q4_K, Q5_K q8tma at 2-8 */
		/* larger batches */
		test_product(type, 333, Kodd, 16, P_FUSED, false, false);
		test_product(type, 200, 2048, 37, P_FUSED, true, false);
		test_product(type, 129, 1024, 130, P_FUSED, false, true, 8);
		test_product(type, 640, 512, 256, P_FUSED, true, false);
		/* the wgmma GEMM: each block width (64, 128, 256 vectors), a
		 * partial last tile of K, row and vector tails, bf16 in and out,
		 * strided, two column tiles, row tiles shared among blocks
		 * (stream-K: few rows, long K) and whole row tiles per block */
		test_product(type, 333, Kodd, 16, P_WGMMA, false, false);
		test_product(type, 200, 2048, 37, P_WGMMA, true, false);
		test_product(type, 129, 1024, 130, P_WGMMA, false, true, 8);
		test_product(type, 640, 512, 256, P_WGMMA, true, false);
		test_product(type, 257, 2 * Kodd, 100, P_WGMMA, false, false);
		test_product(type, 300, 1024, 300, P_WGMMA, false, false);
		test_product(type, 264, 768, 128, P_WGMMA, false, true);	/* Q6_K: residue boxes at 128 */
		test_product(type, 1000, 8192, 64, P_WGMMA, false, true);
		test_product(type, 128 * 132, 256, 64, P_WGMMA, false, false);
		test_product(type, 1000, 20480, 16, P_WGMMA, false, false);	/* stream-K: 640 units on 8 row tiles */
		test_product(type, 333, Kodd, 20, P_CUBLAS, false, false);
		test_product(type, 129, 1024, 64, P_CUBLAS, true, true, 8);
		/* the dispatcher on each side of its crossings */
		test_product(type, 300, 1024, 8, P_MATMUL, false, false);
		test_product(type, 300, 1024, 12, P_MATMUL, false, false);
		test_product(type, 16500, 512, 16, P_MATMUL, true, false);
		test_product(type, 300, 1024, 160, P_MATMUL, true, false);
		test_product(type, 8192, 4096, 16, P_MATMUL, false, false);	/* wgmma (2^25 weights) */
		test_product(type, 3584, 3584, 40, P_MATMUL, false, false);	/* wgmma for the 4/5-bit types */
		test_product(type, 3584, 3584, 12, P_MATMUL, false, false);	/* and Q6_K, Q8_0 up to 16 */
		test_product(type, 8200, 1536, 200, P_MATMUL, true, false);	/* 8960x1536-like: wgmma, whole row tiles */
	}
}

/*
 * F16 weights through ds_cuda_gemm_cublas: an f16 GEMM on the weights as
 * stored, x rounded to f16 after a power-of-two scaling from max |x|.
 * One product on context c, x = scale * the usual random x (exactly zero
 * when scale is 0), against ds_ref_matmul.  Tolerances: f32 y 1e-3, bf16
 * y 6e-3.  With f32 y the only rounding is x's to f16 (at most 2^-11 =
 * 4.9e-4 relative per element, f32 sums), so 1e-3 is twice that bound
 * and below the 1.5e-3 to 2e-3 a bf16 rounding of x gives: it fails if
 * the path loses f16's precision or its scale.  bf16 y adds y's own
 * rounding (2^-9), as for the small-batch products.
 */
static void
f16_case(ds_cuda_context *c, const char *what, int M, int K, int n, float scale, bool xbf16,
		 bool ybf16, int ldx, int ldy, bool q8mma = false, bool ramp = false)
{
	std::vector<uint8_t> w = random_weights(DS_TYPE_F16, M, K, *rng);
	std::vector<float> xr,
				ref((size_t) n * ldy, 0.0f),
				g,
				r;
	std::vector<uint8_t> xh;
	size_t		ysz = ybf16 ? 2 : 4;

	make_x(n, K, ldx, xbf16, xr, xh);
	for (int b = 0; b < n; b++)
		for (int k = 0; k < K; k++)
		{
			size_t		i = (size_t) b * ldx + k;
			/* ramp: 2^-20 .. 2^20 from one 128-element tile to the next */
			float		v = xr[i] * scale * (ramp ? std::ldexp(1.0f, (k / 128) % 9 * 5 - 20) : 1.0f);

			if (xbf16)
			{
				uint16_t	h = ds_f32_to_bf16(v);

				memcpy(&xh[2 * i], &h, 2);
				v = bf(h);
			}
			else
				memcpy(&xh[4 * i], &v, 4);
			xr[i] = v;
		}
	ds_ref_matmul(DS_TYPE_F16, w.data(), M, K, xr.data(), ldx, n, ref.data(), ldy);

	Dev			dw(w.size()),
				dx(xh.size()),
				dy((size_t) n * ldy * ysz);
	std::vector<uint8_t> yh(dy.n);

	dw.put(w.data());
	dx.put(xh.data());
	dy.poison();
	if (!ok_call((q8mma ? ds_cuda_matvec_q8mma : ds_cuda_gemm_cublas)(c, 0, dw.p, DS_TYPE_F16, M, K, dx.p,
																	  xbf16 ? DS_CUDA_BF16 : DS_CUDA_F32,
																	  ldx, n, dy.p,
																	  ybf16 ? DS_CUDA_BF16 : DS_CUDA_F32, ldy),
				 q8mma ? "q8mma f16" : "cublas f16"))
		return;
	dy.get(yh.data());
	for (int b = 0; b < n; b++)
		for (int m = 0; m < M; m++)
		{
			size_t		i = (size_t) b * ldy + m;

			g.push_back(y_at(yh, i, ybf16));
			r.push_back(ref[i]);
		}

	double		e = rel_err(g.data(), r.data(), g.size());
	double		tol = scale == 0.0f ? 0.0 : ybf16 ? 6e-3 : q8mma ? 2e-5 : 1e-3;

	/* with x = 0, rel_err is the norm of y itself: exactly 0, NaN fails */
	tl.check(e <= tol, "%s F16   M=%-5d K=%-5d n=%-3d x %s y %s %s: rel err %.2e (tol %.0e)",
			 q8mma ? "q8mma " : "cublas", M, K, n, xbf16 ? "bf16" : "f32 ", ybf16 ? "bf16" : "f32 ", what, e, tol);
}

/*
 * The F16 product captured in a CUDA graph, replayed with x and then with
 * 1e6 x in the same buffer: the scale is found on the device at each
 * replay, nothing of the first x is kept in the graph.
 */
static void
f16_graph_case(void)
{
	const int	M = 256,
				K = 512,
				n = 16;
	std::vector<uint8_t> w = random_weights(DS_TYPE_F16, M, K, *rng);
	std::vector<float> x((size_t) n * K),
				x6(x.size()),
				ref((size_t) n * M),
				ref6(ref.size()),
				got(ref.size());
	Dev			dw(w.size()),
				dx(x.size() * 4),
				dy(got.size() * 4);
	cudaStream_t s;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	int			rc;

	for (size_t i = 0; i < x.size(); i++)
	{
		x[i] = rng->normal();
		x6[i] = x[i] * 1e6f;
	}
	ds_ref_matmul(DS_TYPE_F16, w.data(), M, K, x.data(), K, n, ref.data(), M);
	ds_ref_matmul(DS_TYPE_F16, w.data(), M, K, x6.data(), K, n, ref6.data(), M);
	dw.put(w.data());
	CK(cudaStreamCreate(&s));
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
	rc = ds_cuda_gemm_cublas(ctx, s, dw.p, DS_TYPE_F16, M, K, dx.p, DS_CUDA_F32, K, n, dy.p,
							 DS_CUDA_F32, M);
	CK(cudaStreamEndCapture(s, &graph));
	if (tl.check(rc == DS_CUDA_OK, "graph capture of cublas F16: %s", ds_cuda_last_error()))
	{
		CK(cudaGraphInstantiate(&exec, graph, 0));
		for (int rep = 0; rep < 2; rep++)
		{
			double		e;

			dx.put(rep ? x6.data() : x.data());
			dy.poison();
			CK(cudaGraphLaunch(exec, s));
			CK(cudaStreamSynchronize(s));
			dy.get(got.data());
			e = rel_err(got.data(), rep ? ref6.data() : ref.data(), got.size());
			tl.check(e <= 1e-3, "graph replay (cublas F16, x%s): rel err %.2e (tol 1e-3)",
					 rep ? " * 1e6" : "", e);
		}
		cudaGraphExecDestroy(exec);
	}
	cudaGraphDestroy(graph);
	cudaStreamDestroy(s);
}

static void
test_cublas_f16(void)
{
	ds_cuda_context *small;
	int			rc;

	if (unlisted(only, "cublas") || unlisted(types_only, "F16"))
		return;
	f16_case(ctx, "x * 1e6 (f16 overflow unscaled)", 300, 1024, 24, 1e6f, false, false, 1024, 300);
	f16_case(ctx, "x * 1e6, bf16 x", 257, 768, 17, 1e6f, true, false, 776, 260);
	f16_case(ctx, "x * 1e-7 (f16 underflow unscaled)", 300, 1024, 24, 1e-7f, false, false, 1024, 300);
	f16_case(ctx, "x = 0 (y exactly 0)", 200, 512, 16, 0.0f, false, false, 520, 203);
	f16_case(ctx, "x = 0, bf16 y", 200, 512, 16, 0.0f, true, true, 512, 200);
	/* rows of x not a multiple of 4 elements apart: one element per load */
	f16_case(ctx, "x * 1e6, ldx = K + 1", 300, 1024, 19, 1e6f, false, false, 1025, 300);
	f16_case(ctx, "bf16 x, ldx = K + 3", 257, 768, 17, 1.0f, true, false, 771, 260);

	/*
	 * bf16 y through an f32 scratch of 3 vectors: a workspace of the f16 x
	 * (20 x 512), the scalar words and 3 x 1000 floats, so 7 chunks, the
	 * last of 2 vectors; strided x and y.
	 */
	rc = ds_cuda_context_create(0, 256 + 20 * 512 * 2 + 3 * 1000 * 4 + 100, &small);
	if (tl.check(rc == DS_CUDA_OK, "small-workspace context: %s", ds_cuda_status_name(rc)))
	{
		f16_case(small, "bf16 y in 7 chunks", 1000, 512, 20, 1.0f, false, true, 520, 1005);
		f16_case(small, "bf16 y in 7 chunks, x * 1e-7", 1000, 512, 20, 1e-7f, true, true, 512, 1003);
		ds_cuda_context_destroy(small);
	}
	f16_graph_case();

	/* the BF16 product after them: the handle is back in host pointer mode */
	test_product(DS_TYPE_BF16, 129, 1024, 16, P_CUBLAS, false, false);
}

/* F16 in the tensor-core small-batch kernel: x scaled per 128-element tile
 * (k_prep_f16) */
static void
test_q8mma_f16(void)
{
	if (unlisted(only, "q8mma") || unlisted(types_only, "F16"))
		return;
	f16_case(ctx, "x * 1e6", 300, 1024, 8, 1e6f, false, false, 1024, 300, true);
	f16_case(ctx, "x * 1e-7", 300, 1024, 5, 1e-7f, false, false, 1024, 300, true);
	f16_case(ctx, "x * 1e-30", 129, 512, 2, 1e-30f, false, false, 512, 129, true);
	f16_case(ctx, "x 2^-20 .. 2^20 by tile", 300, 2304, 3, 1.0f, false, false, 2304, 300, true, true);
	f16_case(ctx, "x 2^-20 .. 2^20 by tile, bf16 x", 257, 2304, 8, 1.0f, true, false, 2310, 260, true, true);
	f16_case(ctx, "x = 0 (y exactly 0)", 200, 512, 4, 0.0f, false, false, 520, 203, true);
	f16_case(ctx, "x * 1e6, bf16 y, ldx = K + 1", 300, 1024, 7, 1e6f, false, true, 1025, 301, true);
}

/* q8tma with 16 rows per warp forced: the grid of one block per
 * multiprocessor (stream-K) instead of the aligned grid */
static int
q8tma_streamk(ds_cuda_context *c, ds_cuda_stream s, const void *w, int wtype, int M, int K, const void *x,
			  ds_cuda_dtype xt, int ldx, int n, void *y, ds_cuda_dtype yt, int ldy)
{
	return ds_cuda_matvec_q8tma_tuned(c, s, w, wtype, M, K, x, xt, ldx, n, y, yt, ldy, 1, 0, 1, 2);
}

/* the same product twice gives the same bits (split-K sums in fixed order) */
static void
test_determinism(void)
{
	const int	M = 100,
				K = 8192,
				n = 8;
	std::vector<uint8_t> w = random_weights(DS_TYPE_Q4_K, M, K, *rng);
	std::vector<float> xr;
	std::vector<uint8_t> xh;

	make_x(n, K, K, false, xr, xh);
	Dev			dw(w.size()),
				dx(xh.size()),
				dy((size_t) n * M * 4);
	std::vector<float> a((size_t) n * M),
				b((size_t) n * M);

	dw.put(w.data());
	dx.put(xh.data());
	for (int dp = 0; dp < 5; dp++)
	{
		auto		fn = dp == 0 ? ds_cuda_matvec_mma : dp == 1 ? ds_cuda_matvec_dp4a :
			dp == 2 ? ds_cuda_matvec_q8mma : dp == 3 ? ds_cuda_matvec_q8tma : q8tma_streamk;

		for (int rep = 0; rep < 2; rep++)
		{
			dy.poison();
			if (!ok_call(fn(ctx, 0, dw.p, DS_TYPE_Q4_K, M, K, dx.p, DS_CUDA_F32, K, n, dy.p,
							DS_CUDA_F32, M), "matvec"))
				return;
			dy.get(rep ? b.data() : a.data());
		}
		tl.check(memcmp(a.data(), b.data(), a.size() * 4) == 0, "matvec %s: two runs bit-identical",
				 dp == 0 ? "mma (split over K)" : dp == 1 ? "dp4a" : dp == 2 ? "q8mma (split over K)" :
				 dp == 3 ? "q8tma (the aligned grid: 32-row blocks, 2 blocks each)" :
				 "q8tma (stream-K: 2 row blocks over 32 blocks)");
	}

	/* the wgmma GEMM with 8 row tiles: at K = 8192 on its aligned grid (8
	 * blocks each, whichever comes last adds them), at K = 20480 (640
	 * units) over all blocks (stream-K, ~16 each): four runs, one set of
	 * bits */
	for (int Kg : {8192, 20480})
	{
		const int	Mg = 1000,
					ng = 64;
		std::vector<uint8_t> wg = random_weights(DS_TYPE_Q4_K, Mg, Kg, *rng);

		make_x(ng, Kg, Kg, false, xr, xh);

		Dev			dwg(wg.size()),
					dxg(xh.size()),
					dyg((size_t) ng * Mg * 4);
		std::vector<float> first((size_t) ng * Mg),
					again((size_t) ng * Mg);
		int			differ = 0,
					rc = DS_CUDA_OK;

		dwg.put(wg.data());
		dxg.put(xh.data());
		for (int rep = 0; rep < 4 && rc == DS_CUDA_OK; rep++)
		{
			dyg.poison();
			rc = ds_cuda_gemm_wgmma(ctx, 0, dwg.p, DS_TYPE_Q4_K, Mg, Kg, dxg.p, DS_CUDA_F32, Kg, ng, dyg.p,
									DS_CUDA_F32, Mg);
			if (rc != DS_CUDA_OK)
				break;
			dyg.get(rep ? again.data() : first.data());
			differ += rep > 0 && memcmp(first.data(), again.data(), first.size() * 4) != 0;
		}
		if (rc == DS_CUDA_ERR_UNSUPPORTED)
			printf("SKIP  wgmma determinism: not an H100/H200\n");
		else if (ok_call(rc, "wgmma"))
			tl.check(differ == 0, "wgmma (row tiles shared by %s): four runs bit-identical (%d differ)",
					 Kg == 8192 ? "8 blocks, aligned" : "~16 blocks, stream-K", differ);
	}
}

/*
 * q8mma's split-K hand-overs add the segments' sums in the same order:
 * with the same segments, word slots, partials behind a fence and the
 * block's own shared memory give the same bits (the last with the segment
 * count it picks, 4 or 2: given to the others as ks).
 */
static void
test_q8mma_handover(void)
{
	if (unlisted(only, "q8mma"))
		return;

	const int	types[] = {DS_TYPE_Q4_0, DS_TYPE_Q5_0, DS_TYPE_Q4_K, DS_TYPE_Q6_K, DS_TYPE_Q8_0,
		DS_TYPE_F16, DS_TYPE_BF16};
	const struct
	{
		int			M,
					K,
					n;
	}			shapes[] = {{129, 1024, 1}, {1000, 1536, 5}, {77, 4096, 8}, {3584, 3584, 2}};

	for (int type : types)
	{
		if (unlisted(types_only, ds_type_name(type)))
			continue;
		for (const auto &sh : shapes)
		{
			const bool	fl = type == DS_TYPE_F16 || type == DS_TYPE_BF16;
			const int	nt = sh.K / (fl ? 128 : 256);
			auto		fits = [nt] (int c) {
				const int	ntk = (nt + c - 1) / c;

				return (nt + ntk - 1) / ntk == c;
			};
			const int	ks = fits(4) ? 4 : fits(2) ? 2 : 1;
			std::vector<uint8_t> w = random_weights(type, sh.M, sh.K, *rng);
			std::vector<float> xr;
			std::vector<uint8_t> xh;

			make_x(sh.n, sh.K, sh.K, false, xr, xh);

			Dev			dw(w.size()),
						dx(xh.size()),
						dy((size_t) sh.n * sh.M * 4);
			std::vector<float> y[3];
			bool		ok = true;

			dw.put(w.data());
			dx.put(xh.data());
			for (int h = 0; h < 3 && ok; h++)
			{
				y[h].resize((size_t) sh.n * sh.M);
				dy.poison();
				ok = ok_call(ds_cuda_matvec_q8mma_tuned(ctx, 0, dw.p, type, sh.M, sh.K, dx.p, DS_CUDA_F32, sh.K,
														sh.n, dy.p, DS_CUDA_F32, sh.M, h == 2 ? 0 : ks, 0,
														h + 1), "q8mma tuned");
				if (ok)
					dy.get(y[h].data());
			}
			if (!ok)
				continue;
			tl.check(memcmp(y[0].data(), y[1].data(), y[0].size() * 4) == 0 &&
					 memcmp(y[0].data(), y[2].data(), y[0].size() * 4) == 0,
					 "q8mma %-4s M=%-5d K=%-5d n=%d, %d segments: word slots, fence and within the block "
					 "bit-identical", ds_type_name(type), sh.M, sh.K, sh.n, ks);
		}
	}
	/* the knobs' range */
	tl.check(ds_cuda_matvec_q8mma_tuned(ctx, 0, nullptr, DS_TYPE_Q4_0, 16, 256, nullptr, DS_CUDA_F32, 256, 1,
										nullptr, DS_CUDA_F32, 16, 0, 0, 4) == DS_CUDA_ERR_ARG,
			 "q8mma tuned with handover 4 -> DS_CUDA_ERR_ARG");
}

/* dequantize to f32 (exact) and bf16 (rounded exact value) */
static void
test_dequant(void)
{
	for (int type : all_types)
	{
		int			rows = 37,
					K = ds_type_info(type)->block_elems == 256 ? 1280 : 800;
		std::vector<uint8_t> w = random_weights(type, rows, K, *rng);
		std::vector<float> ref((size_t) rows * K),
					got(ref.size());
		std::vector<uint16_t> gb(ref.size());
		Dev			dw(w.size()),
					df(ref.size() * 4),
					db(ref.size() * 2);
		int			bad = 0;

		for (int r = 0; r < rows; r++)
			ds_dequantize_row(type, w.data() + r * ds_row_size(type, K), &ref[(size_t) r * K], K);
		dw.put(w.data());
		df.poison();
		db.poison();
		if (!ok_call(ds_cuda_dequantize(0, dw.p, type, rows, K, df.p, DS_CUDA_F32), "dequantize") ||
			!ok_call(ds_cuda_dequantize(0, dw.p, type, rows, K, db.p, DS_CUDA_BF16), "dequantize"))
			continue;
		df.get(got.data());
		db.get(gb.data());
		for (size_t i = 0; i < ref.size(); i++)
			if (got[i] != ref[i] || gb[i] != ds_f32_to_bf16(ref[i]))
				bad++;
		tl.check(bad == 0, "dequant %-5s %d x %d: f32 exact, bf16 rounded: %d mismatches",
				 ds_type_name(type), rows, K, bad);
	}
}

static void
test_embed(void)
{
	for (int type : all_types)
	{
		int			vocab = 301,
					ne = ds_type_info(type)->block_elems == 256 ? 1536 : 896;
		std::vector<uint8_t> tab = random_weights(type, vocab, ne, *rng);
		std::vector<int32_t> ids = {0, 300, 17, -1, 301, 150, 150};
		std::vector<float> ref(ids.size() * ne),
					got(ref.size());
		Dev			dt(tab.size()),
					di(ids.size() * 4),
					dout(ref.size() * 4);

		ds_ref_embed(tab.data(), type, vocab, ne, ids.data(), (int) ids.size(), ref.data());
		dt.put(tab.data());
		di.put(ids.data());
		dout.poison();
		if (!ok_call(ds_cuda_embed(0, dt.p, type, vocab, ne, di.as<int32_t>(), (int) ids.size(),
								   dout.p, DS_CUDA_F32), "embed"))
			continue;
		dout.get(got.data());
		tl.check(memcmp(got.data(), ref.data(), ref.size() * 4) == 0,
				 "embed %-5s %zu ids (2 out of range) x %d: exact", ds_type_name(type), ids.size(), ne);
	}
}

static void
test_rmsnorm(void)
{
	const int	ns[] = {1536, 3584, 1001};

	for (int n : ns)
		for (int rows : {1, 7})
			for (int bfo = 0; bfo < 2; bfo++)
				for (int add = 0; add < 2; add++)
				{
					std::vector<float> h((size_t) n * rows),
								d(h.size()),
								w(n),
								ref(h.size()),
								got(h.size()),
								hgot(h.size());
					std::vector<uint16_t> gb(h.size());

					for (auto &v : h)
						v = 4.0f * rng->normal();
					for (auto &v : d)
						v = rng->normal();
					for (auto &v : w)
						v = rng->range(0.5f, 1.5f);

					Dev			dh(h.size() * 4),
								dd(d.size() * 4),
								dw(w.size() * 4),
								dout(h.size() * (bfo ? 2 : 4));

					dh.put(h.data());
					dd.put(d.data());
					dw.put(w.data());
					dout.poison();
					ds_ref_add_rmsnorm(h.data(), add ? d.data() : NULL, w.data(), n, rows, 1e-6f,
									   ref.data());
					if (!ok_call(add ? ds_cuda_add_rmsnorm(0, dh.as<float>(), dd.as<float>(),
														   dw.as<float>(), n, rows, 1e-6f, dout.p,
														   bfo ? DS_CUDA_BF16 : DS_CUDA_F32)
								 : ds_cuda_rmsnorm(0, dh.as<float>(), dw.as<float>(), n, rows,
												   1e-6f, dout.p, bfo ? DS_CUDA_BF16 : DS_CUDA_F32),
								 "rmsnorm"))
						continue;
					if (bfo)
					{
						dout.get(gb.data());
						for (size_t i = 0; i < got.size(); i++)
							got[i] = bf(gb[i]);
					}
					else
						dout.get(got.data());
					dh.get(hgot.data());

					double		e = rel_err(got.data(), ref.data(), got.size());
					double		eh = rel_err(hgot.data(), h.data(), h.size());
					double		tol = bfo ? 6e-3 : 2e-6;

					tl.check(e <= tol && eh <= 1e-7, "%s n=%d rows=%d out %s: rel err %.2e, h %.1e",
							 add ? "add_rmsnorm" : "rmsnorm", n, rows, bfo ? "bf16" : "f32", e, eh);
				}
}

static void
test_add(void)
{
	for (size_t count : {(size_t) 1, (size_t) 1003, (size_t) 1 << 20})
		for (int off = 0; off < 2; off++)
		{
			std::vector<float> a(count + 1),
						b(count + 1),
						ref(count),
						got(count);

			for (auto &v : a)
				v = rng->normal();
			for (auto &v : b)
				v = rng->normal();
			ds_ref_add(ref.data(), a.data() + off, b.data() + off, count);

			Dev			da(a.size() * 4),
						db(b.size() * 4),
						dy(count * 4);

			da.put(a.data());
			db.put(b.data());
			dy.poison();
			if (!ok_call(ds_cuda_add(0, dy.as<float>(), da.as<float>() + off, db.as<float>() + off,
									 count), "add"))
				continue;
			dy.get(got.data());
			tl.check(memcmp(got.data(), ref.data(), count * 4) == 0, "add %zu%s: exact", count,
					 off ? " (unaligned)" : "");
		}
}

static void
test_rope(void)
{
	struct
	{
		int			hd,
					nrot,
					mode;
		bool		ff;
	}			cases[] = {{128, 128, DS_CUDA_ROPE_NEOX, false}, {128, 128, DS_CUDA_ROPE_NORM, true},
						   {64, 32, DS_CUDA_ROPE_NEOX, true}, {64, 64, DS_CUDA_ROPE_NORM, false}};

	for (auto &c : cases)
	{
		int			nt = 13,
					nh = 5,
					ld = nh * c.hd + 7;
		std::vector<float> x((size_t) nt * ld),
					ref,
					got(x.size()),
					ff(c.hd / 2);
		std::vector<int32_t> pos(nt);

		for (auto &v : x)
			v = rng->normal();
		for (auto &v : ff)
			v = rng->range(1.0f, 40.0f);
		for (auto &p : pos)
			p = (int32_t) (rng->u32() % 40000);
		pos[0] = 0;
		ref = x;
		ds_ref_rope(ref.data(), nt, nh, c.hd, ld, c.nrot, pos.data(), c.mode, 1e6f, 1.0f,
					c.ff ? ff.data() : NULL);

		Dev			dx(x.size() * 4),
					dp(pos.size() * 4),
					df(ff.size() * 4);

		dx.put(x.data());
		dp.put(pos.data());
		df.put(ff.data());
		if (!ok_call(ds_cuda_rope(0, dx.as<float>(), nt, nh, c.hd, ld, c.nrot, dp.as<int32_t>(),
								  (ds_cuda_rope_mode) c.mode, 1e6f, 1.0f,
								  c.ff ? df.as<float>() : NULL), "rope"))
			continue;
		dx.get(got.data());

		double		e = rel_err(got.data(), ref.data(), got.size());

		tl.check(e <= 1e-6, "rope %s head_dim %d n_rot %d%s, positions < 40000: rel err %.2e",
				 c.mode == DS_CUDA_ROPE_NEOX ? "neox" : "norm", c.hd, c.nrot,
				 c.ff ? " rope_freqs" : "", e);
	}
}

static void
test_swiglu(void)
{
	for (int bfo = 0; bfo < 2; bfo++)
	{
		int			n = 8960,
					rows = 3,
					ld = 2 * n;
		std::vector<float> gu((size_t) rows * ld),
					ref((size_t) rows * n),
					got(ref.size());
		std::vector<uint16_t> gb(ref.size());

		for (auto &v : gu)
			v = 3.0f * rng->normal();
		/* gate and up interleaved in one buffer: gate at 0, up at n */
		ds_ref_swiglu(gu.data(), ld, gu.data() + n, ld, n, rows, ref.data(), n);

		Dev			dg(gu.size() * 4),
					dout(ref.size() * (bfo ? 2 : 4));

		dg.put(gu.data());
		dout.poison();
		if (!ok_call(ds_cuda_swiglu(0, dg.as<float>(), ld, dg.as<float>() + n, ld, n, rows,
									dout.p, bfo ? DS_CUDA_BF16 : DS_CUDA_F32, n), "swiglu"))
			continue;
		if (bfo)
		{
			dout.get(gb.data());
			for (size_t i = 0; i < got.size(); i++)
				got[i] = bf(gb[i]);
		}
		else
			dout.get(got.data());

		double		e = rel_err(got.data(), ref.data(), got.size());

		tl.check(e <= (bfo ? 6e-3 : 2e-6), "swiglu %d x %d strided, out %s: rel err %.2e",
				 rows, n, bfo ? "bf16" : "f32", e);
	}
}

/* argmax, top-k and sampling on random rows with ties, NaN and -inf */
static void
test_sampling(void)
{
	for (int n : {1000, 152064})
	{
		const int	rows = 5;
		std::vector<float> v((size_t) rows * n),
					u(rows);

		for (auto &e : v)
			e = 2.0f * rng->normal();
		for (int r = 0; r < rows; r++)
		{
			float	   *row = &v[(size_t) r * n];

			row[rng->u32() % n] = 11.0f;	/* a tie for the maximum */
			row[rng->u32() % n] = 11.0f;
			row[rng->u32() % n] = NAN;
			u[r] = (float) rng->uni();
		}
		/* row 3: every value but a few is -inf; row 4: heavy ties */
		for (int i = 0; i < n; i++)
		{
			v[(size_t) 3 * n + i] = (i % 97 == 5) ? 1.0f : -INFINITY;
			v[(size_t) 4 * n + i] = (float) (i % 7);
		}

		Dev			dv(v.size() * 4),
					du(u.size() * 4),
					dout(rows * 4);
		std::vector<int32_t> got(rows);

		dv.put(v.data());
		du.put(u.data());
		dout.poison();
		if (ok_call(ds_cuda_argmax(0, dv.as<float>(), n, rows, n, dout.as<int32_t>()), "argmax"))
		{
			int			bad = 0;

			dout.get(got.data());
			for (int r = 0; r < rows; r++)
				bad += got[r] != ds_ref_argmax(&v[(size_t) r * n], n);
			tl.check(bad == 0, "argmax %d rows x %d: %d wrong", rows, n, bad);
		}
		for (int k : {1, 40, 256})
		{
			Dev			di((size_t) rows * k * 4),
						dvals((size_t) rows * k * 4);
			std::vector<int32_t> gi((size_t) rows * k),
						ri(k);
			std::vector<float> gv((size_t) rows * k),
						rv(k);
			int			bad = 0;

			di.poison();
			dvals.poison();
			if (!ok_call(ds_cuda_topk(0, dv.as<float>(), n, rows, n, k, di.as<int32_t>(),
									  dvals.as<float>()), "topk"))
				continue;
			di.get(gi.data());
			dvals.get(gv.data());
			for (int r = 0; r < rows; r++)
			{
				ds_ref_topk(&v[(size_t) r * n], n, k, ri.data(), rv.data());
				for (int j = 0; j < k; j++)
					bad += gi[(size_t) r * k + j] != ri[j] ||
						memcmp(&gv[(size_t) r * k + j], &rv[j], 4) != 0;
			}
			tl.check(bad == 0, "topk k=%d, %d rows x %d (ties, NaN, -inf): %d wrong", k, rows, n, bad);

			dout.poison();
			if (k > 1 &&
				ok_call(ds_cuda_sample_topk(0, dv.as<float>(), n, rows, n, k, 0.8f, du.as<float>(),
											dout.as<int32_t>()), "sample_topk"))
			{
				bad = 0;
				dout.get(got.data());
				for (int r = 0; r < rows; r++)
					bad += got[r] != ds_ref_sample_topk(&v[(size_t) r * n], n, k, 0.8f, u[r]);
				tl.check(bad == 0, "sample_topk k=%d T=0.8, %d rows x %d: %d wrong", k, rows, n, bad);
			}
		}
	}
}

/*
 * The inputs of a run of products: steps random D x D weight matrices of
 * type wt (w on the host, one after the other in dw), and dy poisoned but
 * for its first xlen floats, random x.
 */
static void
chain_inputs(int wt, int D, int steps, size_t xlen, std::vector<std::vector<uint8_t>> &w, Dev &dw, Dev &dy)
{
	const size_t wsz = ds_row_size(wt, D) * D;
	std::vector<float> x(xlen);

	for (int i = 0; i < steps; i++)
	{
		w.push_back(random_weights(wt, D, D, *rng));
		CK(cudaMemcpy((uint8_t *) dw.p + i * wsz, w[i].data(), wsz, cudaMemcpyHostToDevice));
	}
	for (auto &v : x)
		v = rng->normal();
	dy.poison();
	CK(cudaMemcpy(dy.p, x.data(), xlen * 4, cudaMemcpyHostToDevice));
}

/*
 * A run of products, each one's x the output of the one before, queued on
 * one stream without a wait: every x kernel and product is launched as the
 * programmatic dependent of the kernel before it, so this checks that no
 * kernel reads its x before the kernel that writes it has finished (the
 * outputs are poisoned first; each step is checked against the int8-x
 * reference on the x the GPU actually had).  q8tma_only: every step
 * q8tma (x staged and not, in turn), whose 24-block products on 1536 rows
 * leave multiprocessors free, so each product's blocks start while the
 * last one's still run.
 */
static void
test_chain(bool q8tma_only)
{
	if (only || types_only)
		return;

	const int	D = 1536,
				steps = 10;
	const int	wt = DS_TYPE_Q4_K;
	std::vector<std::vector<uint8_t>> w;
	const size_t wsz = ds_row_size(wt, D) * D;
	Dev			dw((size_t) steps * wsz),
				dy((size_t) (steps + 1) * D * 4);
	int			bad_rc = 0;

	chain_inputs(wt, D, steps, D, w, dw, dy);
	for (int i = 0; i < steps; i++)
	{
		const void *wi = (const uint8_t *) dw.p + i * wsz;
		const float *xi = dy.as<float>() + (size_t) i * D;
		float	   *yi = dy.as<float>() + (size_t) (i + 1) * D;
		int			rc;

		/* q8tma with x read from global memory and staged, dp4a, q8mma,
		 * bulk, in turn */
		switch (q8tma_only ? i % 2 : i % 5)
		{
			case 0:
				rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, 1, yi, DS_CUDA_F32, D,
												0, 0, 0, 0);
				break;
			case 1:
				rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, 1, yi, DS_CUDA_F32, D,
												0, 0, 1, 0);
				break;
			case 2:
				rc = ds_cuda_matvec_dp4a(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, 1, yi, DS_CUDA_F32, D);
				break;
			case 3:
				rc = ds_cuda_matvec_q8mma(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, 1, yi, DS_CUDA_F32, D);
				break;
			default:
				rc = ds_cuda_matvec_bulk(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, 1, yi, DS_CUDA_F32, D);
				break;
		}
		bad_rc += rc != DS_CUDA_OK;
	}
	CK(cudaDeviceSynchronize());

	std::vector<float> all((size_t) (steps + 1) * D),
				ref(D);
	double		worst = 0.0;

	dy.get(all.data());
	for (int i = 0; i < steps; i++)
	{
		/* step i alone, on the x it was given */
		ds_ref_matmul_q8(wt, w[i].data(), D, D, all.data() + (size_t) i * D, D, 1, ref.data(), D);
		worst = std::max(worst, rel_err(all.data() + (size_t) (i + 1) * D, ref.data(), D));
	}
	tl.check(bad_rc == 0 && worst <= 2e-5, "chain of %d products (%s), each x the last y, "
			 "queued without a wait: worst step rel err %.2e (tol 2e-5)", steps,
			 q8tma_only ? "q8tma only, x staged and not: each product's blocks may start while the last one's run"
			 : "q8tma, dp4a, q8mma, bulk", worst);
}

/*
 * The same for the larger-batch products: 16 vectors, each step's x the
 * last step's y, the wgmma GEMM (its x kernel and the GEMM launched as
 * programmatic dependents, the GEMM letting the next kernel launch at its
 * start) in turn with ds_cuda_matmul's own choice, queued without a wait.
 */
static void
test_chain_gemm(void)
{
	if (only || types_only)
		return;

	const int	D = 1536,
				n = 16,
				steps = 6;
	const int	wt = DS_TYPE_Q4_K;
	std::vector<std::vector<uint8_t>> w;
	const size_t wsz = ds_row_size(wt, D) * D;
	Dev			dw((size_t) steps * wsz),
				dy((size_t) (steps + 1) * n * D * 4);
	int			bad_rc = 0,
				wgmma = 0;

	chain_inputs(wt, D, steps, (size_t) n * D, w, dw, dy);
	for (int i = 0; i < steps; i++)
	{
		const void *wi = (const uint8_t *) dw.p + i * wsz;
		const float *xi = dy.as<float>() + (size_t) i * n * D;
		float	   *yi = dy.as<float>() + (size_t) (i + 1) * n * D;
		int			rc = DS_CUDA_ERR_UNSUPPORTED;

		if (i % 2 == 0)
		{
			rc = ds_cuda_gemm_wgmma(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, n, yi, DS_CUDA_F32, D);
			wgmma += rc == DS_CUDA_OK;
		}
		if (rc == DS_CUDA_ERR_UNSUPPORTED)	/* not an H100/H200 */
			rc = ds_cuda_matmul(ctx, 0, wi, wt, D, D, xi, DS_CUDA_F32, D, n, yi, DS_CUDA_F32, D);
		bad_rc += rc != DS_CUDA_OK;
	}
	CK(cudaDeviceSynchronize());

	std::vector<float> all((size_t) (steps + 1) * n * D),
				ref((size_t) n * D);
	double		worst = 0.0;

	dy.get(all.data());
	for (int i = 0; i < steps; i++)
	{
		ds_ref_matmul(wt, w[i].data(), D, D, all.data() + (size_t) i * n * D, D, n, ref.data(), D);
		worst = std::max(worst, rel_err(all.data() + (size_t) (i + 1) * n * D, ref.data(), ref.size()));
	}
	tl.check(bad_rc == 0 && worst <= 1.2e-2, "chain of %d products of %d vectors (%d by wgmma), each x the "
			 "last y, queued without a wait: worst step rel err %.2e (tol 1.2e-2)", steps, n, wgmma, worst);
}

/* errors come back as codes with a message, and nothing is launched */
static void
test_errors(void)
{
	float	   *d;
	int			rc;

	CK(cudaMalloc(&d, 1 << 20));
	rc = ds_cuda_matvec(ctx, 0, d, DS_TYPE_Q4_K, 100, 100, d, DS_CUDA_F32, 100, 1, d,
						DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_ARG && strstr(ds_cuda_last_error(), "K") != NULL,
			 "bad K -> %s (%s)", ds_cuda_status_name(rc), ds_cuda_last_error());
	rc = ds_cuda_matvec(ctx, 0, d, DS_TYPE_Q4_K, 100, 256, d, DS_CUDA_F32, 256, 9, d,
						DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_ARG, "n = 9 on the small-batch kernel -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec(ctx, 0, d, DS_TYPE_Q2_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
						DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "Q2_K -> %s (%s)", ds_cuda_status_name(rc),
			 ds_cuda_last_error());
	rc = ds_cuda_matvec(ctx, 0, (char *) d + 2, DS_TYPE_Q8_0, 100, 256, d, DS_CUDA_F32, 256, 1,
						d, DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_ARG, "unaligned weights -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8mma(ctx, 0, d, DS_TYPE_Q2_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "q8mma on Q2_K -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8mma(ctx, 0, d, DS_TYPE_Q4_0, 100, 96, d, DS_CUDA_F32, 96, 1, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "q8mma with K %% 256 != 0 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma(ctx, 0, d, DS_TYPE_F16, 100, 256, d, DS_CUDA_F32, 256, 1, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "q8tma on F16 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma(ctx, 0, d, DS_TYPE_Q6_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED && strstr(ds_cuda_last_error(), "M % 8") != NULL,
			 "q8tma on Q6_K with M %% 8 != 0 -> %s (%s)", ds_cuda_status_name(rc), ds_cuda_last_error());
	rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, d, DS_TYPE_Q6_K, 104, 256, d, DS_CUDA_F32, 256, 1, d,
									DS_CUDA_F32, 104, 0, 4, 0, 0);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "q8tma on Q6_K with 4 tiles per step -> %s",
			 ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, d, DS_TYPE_Q4_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
									DS_CUDA_F32, 100, 0, 3, 0, 0);
	tl.check(rc == DS_CUDA_ERR_ARG, "q8tma with 3 tiles per step -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, d, DS_TYPE_Q4_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
									DS_CUDA_F32, 100, 0, 0, 2, 0);
	tl.check(rc == DS_CUDA_ERR_ARG, "q8tma with xs = 2 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma_tuned(ctx, 0, d, DS_TYPE_Q4_K, 100, 256, d, DS_CUDA_F32, 256, 1, d,
									DS_CUDA_F32, 100, 0, 0, 1, 4);
	tl.check(rc == DS_CUDA_ERR_ARG, "q8tma with lag 4 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma(ctx, 0, d, DS_TYPE_Q4_K, 100, 768, d, DS_CUDA_F32, 768, 9, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_ARG, "q8tma with n = 9 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_matvec_q8tma(ctx, 0, d, DS_TYPE_Q4_0, 100, 96, d, DS_CUDA_F32, 96, 1, d,
							  DS_CUDA_F32, 100);
	tl.check(rc == DS_CUDA_ERR_UNSUPPORTED, "q8tma with K %% 256 != 0 -> %s", ds_cuda_status_name(rc));
	rc = ds_cuda_topk(0, d, 100, 1, 100, 300, (int32_t *) d, NULL);
	tl.check(rc == DS_CUDA_ERR_ARG, "top-k k=300 -> %s", ds_cuda_status_name(rc));
	CK(cudaFree(d));
	tl.check(cudaGetLastError() == cudaSuccess, "no CUDA error left behind");
}

/* a decode-like sequence captured in a CUDA graph replays correctly */
/* every product leaves the split-K counters at 0 and the word slots empty
 * (the next call relies on it) */
static void
test_split_state(void)
{
	const int	rc = ds_cuda_context_check(ctx);

	tl.check(rc == DS_CUDA_OK, "split-K state after the products (counters 0, word slots empty): %s %s",
			 ds_cuda_status_name(rc), rc == DS_CUDA_OK ? "" : ds_cuda_last_error());
}

static void
test_graph(int kind)			/* 0 mma, 1 dp4a, 2 q8mma, 3 q8tma */
{
	const bool	dp4a = kind != 0;
	const char *kname = kind == 0 ? "mma" : kind == 1 ? "dp4a" : kind == 2 ? "q8mma" : "q8tma";

	const int	M = 1536,
				K = 1536,
				n = 1;
	const int	wt = kind == 3 ? DS_TYPE_Q4_K : DS_TYPE_Q6_K;	/* q8tma: a type of the 2-D boxes */
	std::vector<uint8_t> w = random_weights(wt, M, K, *rng);
	std::vector<float> x(K),
				g(K),
				xn(K),
				ref(M),
				got(M);

	for (auto &v : x)
		v = rng->normal();
	for (auto &v : g)
		v = rng->range(0.5f, 1.5f);
	ds_ref_rmsnorm(x.data(), g.data(), K, 1, 1e-6f, xn.data());
	if (dp4a)
		ds_ref_matmul_q8(wt, w.data(), M, K, xn.data(), K, n, ref.data(), M);
	else
		ds_ref_matmul(wt, w.data(), M, K, xn.data(), K, n, ref.data(), M);

	Dev			dw(w.size()),
				dx(K * 4),
				dg(K * 4),
				dn(K * 4),
				dy(M * 4);
	cudaStream_t s;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	int			rc1,
				rc2;

	dw.put(w.data());
	dx.put(x.data());
	dg.put(g.data());
	CK(cudaStreamCreate(&s));
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
	rc1 = ds_cuda_rmsnorm(s, dx.as<float>(), dg.as<float>(), K, 1, 1e-6f, dn.p, DS_CUDA_F32);
	rc2 = (kind == 0 ? ds_cuda_matvec_mma : kind == 1 ? ds_cuda_matvec_dp4a :
		   kind == 2 ? ds_cuda_matvec_q8mma : ds_cuda_matvec_q8tma)
		(ctx, s, dw.p, wt, M, K, dn.p, DS_CUDA_F32, K, n, dy.p, DS_CUDA_F32, M);
	CK(cudaStreamEndCapture(s, &graph));
	if (!tl.check(rc1 == DS_CUDA_OK && rc2 == DS_CUDA_OK, "graph capture of rmsnorm + matvec %s: %s",
				  kname, ds_cuda_last_error()))
		return;
	CK(cudaGraphInstantiate(&exec, graph, 0));
	for (int rep = 0; rep < 3; rep++)
	{
		dy.poison();
		CK(cudaGraphLaunch(exec, s));
		CK(cudaStreamSynchronize(s));
	}
	dy.get(got.data());
	tl.check(rel_err(got.data(), ref.data(), M) < 2e-5, "graph replay (%s): rel err %.2e", kname,
			 rel_err(got.data(), ref.data(), M));
	cudaGraphExecDestroy(exec);
	cudaGraphDestroy(graph);
	cudaStreamDestroy(s);
}

int
main(void)
{
	uint64_t	seed = test_seed();
	Rng			r(seed);
	int			rc;

	rng = &r;
	printf("gpu-test: seed %llu (set DS_TEST_SEED to repeat)\n", (unsigned long long) seed);
	if (ds_cuda_device_count() < 1)
	{
		printf("gpu-test: no CUDA device\ngpu-test: 0 passed, 1 failed\n");
		return 1;
	}
	rc = ds_cuda_context_create(0, (size_t) 1 << 30, &ctx);
	if (rc != DS_CUDA_OK)
	{
		printf("gpu-test: context: %s: %s\ngpu-test: 0 passed, 1 failed\n",
			   ds_cuda_status_name(rc), ds_cuda_last_error());
		return 1;
	}
	printf("gpu-test: %s, %d multiprocessors\n", ds_cuda_context_device_name(ctx),
		   ds_cuda_context_sm_count(ctx));
	only = getenv("DS_TEST_ONLY");
	types_only = getenv("DS_TEST_TYPES");
	if (only)
	{
		test_products();
		test_cublas_f16();
		test_q8mma_f16();
		test_q8mma_handover();
		test_graph(!unlisted(only, "q8tma") ? 3 : !unlisted(only, "q8mma") ? 2 : 1);
		test_split_state();
		printf("gpu-test (%s only): %d passed, %d failed\n", only, tl.passed, tl.failed);
		ds_cuda_context_destroy(ctx);
		return tl.failed ? 1 : 0;
	}
	test_errors();
	test_chain(false);
	test_chain(true);
	test_chain_gemm();
	test_products();
	test_cublas_f16();
	test_q8mma_f16();
	test_q8mma_handover();
	test_determinism();
	test_graph(0);
	test_graph(1);
	test_graph(2);
	test_graph(3);
	test_split_state();
	test_dequant();
	test_embed();
	test_rmsnorm();
	test_add();
	test_rope();
	test_swiglu();
	test_sampling();
	ds_cuda_context_destroy(ctx);
	printf("gpu-test: %d passed, %d failed\n", tl.passed, tl.failed);
	return tl.failed ? 1 : 0;
}
