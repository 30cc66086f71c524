/*
 * topk.cu -- the k largest logits of each row (k <= 256), sorted by value
 * then index, and top-k sampling from them.
 *
 * One block per row:
 *  1. Radix select on an order-preserving 32-bit key of each float (NaN
 *     lowest): four passes of 8 bits find the key T of the k-th largest and
 *     how many elements equal to T belong to the top k.
 *  2. Gather the elements above T, and those equal to T: all of them when
 *     they all fit, else the lowest indices by an ordered scan.
 *  3. Bitonic sort of the (key, index) pairs in shared memory.
 *  4. Write ids and values, or draw one token: p_j = exp((v_j - v_0) / T) in
 *     double, the first j whose running sum passes u * sum.
 */
#include "common.cuh"
#include "topk.cuh"

namespace
{

constexpr int KMAX = DS_CUDA_TOPK_MAX;

/* larger float -> larger key; NaN -> 0, below every number; -0 == +0 */
__device__ __forceinline__ uint32_t
key_of(float v)
{
	uint32_t	u = v == 0.0f ? 0u : __float_as_uint(v);	/* -0 ranks as +0 */

	if (v != v)
		return 0;
	return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <bool SAMPLE>
__global__ void __launch_bounds__(TOPK_THREADS)
k_topk(const float *logits, int ld, int n, int k, int32_t *ids, float *vals,
	   float temperature, const float *u, int32_t *out)
{
	__shared__ unsigned hist[256];
	__shared__ unsigned long long cand[KMAX];
	__shared__ unsigned s_prefix,
				s_need,
				s_eq,
				s_ncand;
	__shared__ unsigned wsum[32];
	const float *row = logits + (size_t) blockIdx.x * ld;
	const int	tid = threadIdx.x,
				lane = tid & 31,
				warp = tid >> 5;
	unsigned	prefix = 0,
				need = k;

	/* 1. radix select, most significant byte first */
	for (int pass = 0; pass < 4; pass++)
	{
		const int	shift = 24 - 8 * pass;
		const unsigned hmask = pass == 0 ? 0u : ~0u << (shift + 8);

		for (int i = tid; i < 256; i += blockDim.x)
			hist[i] = 0;
		__syncthreads();
		for (int i = tid; i < n; i += blockDim.x)
		{
			uint32_t	key = key_of(row[i]);

			if ((key & hmask) == prefix)
				atomicAdd(&hist[(key >> shift) & 255], 1u);
		}
		__syncthreads();
		if (warp == 0)
		{
			/* lane l scans bins 255-8l down to 248-8l */
			unsigned	c[8],
						tot = 0,
						incl;

			for (int j = 0; j < 8; j++)
			{
				c[j] = hist[255 - 8 * lane - j];
				tot += c[j];
			}
			incl = tot;
			for (int o = 1; o < 32; o <<= 1)
			{
				unsigned	v = __shfl_up_sync(0xffffffffu, incl, o);

				if (lane >= o)
					incl += v;
			}
			if (incl - tot < need && need <= incl)
			{
				unsigned	cum = incl - tot;

				for (int j = 0; j < 8; j++)
				{
					if (cum + c[j] >= need)
					{
						s_prefix = prefix | ((unsigned) (255 - 8 * lane - j) << shift);
						s_need = need - cum;
						s_eq = c[j];
						break;
					}
					cum += c[j];
				}
			}
		}
		__syncthreads();
		prefix = s_prefix;
		need = s_need;
	}

	/* 2. gather: the k - need elements above T, then need of those equal */
	const uint32_t T = prefix;
	const unsigned above = k - need;
	const bool	all_eq = s_eq == need;

	if (tid == 0)
		s_ncand = 0;
	__syncthreads();
	for (int i = tid; i < n; i += blockDim.x)
	{
		uint32_t	key = key_of(row[i]);

		if (key > T || (all_eq && key == T))
			cand[atomicAdd(&s_ncand, 1u)] = ((unsigned long long) key << 32) | (uint32_t) ~i;
	}
	if (!all_eq)
	{
		unsigned	taken = 0;

		for (int base = 0; base < n && taken < need; base += blockDim.x)
		{
			int			i = base + tid;
			bool		f = i < n && key_of(row[i]) == T;
			unsigned	m = __ballot_sync(0xffffffffu, f);
			unsigned	rank = __popc(m & ((1u << lane) - 1)),
						before = 0,
						total = 0;

			if (lane == 0)
				wsum[warp] = __popc(m);
			__syncthreads();
			for (int w = 0; w < (int) (blockDim.x >> 5); w++)
			{
				if (w < warp)
					before += wsum[w];
				total += wsum[w];
			}
			if (f && taken + before + rank < need)
				cand[above + taken + before + rank] = ((unsigned long long) T << 32) | (uint32_t) ~i;
			__syncthreads();
			taken += total;
		}
	}
	__syncthreads();

	/* 3. bitonic sort, descending, padded with zeros (rank last) */
	for (int i = k + tid; i < KMAX; i += blockDim.x)
		cand[i] = 0;
	for (int size = 2; size <= KMAX; size <<= 1)
		for (int stride = size >> 1; stride > 0; stride >>= 1)
		{
			__syncthreads();
			if (tid < KMAX)
			{
				int			j = tid ^ stride;

				if (j > tid)
				{
					bool		desc = (tid & size) == 0;
					unsigned long long a = cand[tid],
								b = cand[j];

					if (desc ? a < b : a > b)
					{
						cand[tid] = b;
						cand[j] = a;
					}
				}
			}
		}
	__syncthreads();

	/* 4. results */
	if (!SAMPLE)
	{
		for (int j = tid; j < k; j += blockDim.x)
		{
			int			i = (int) ~(uint32_t) cand[j];

			ids[(size_t) blockIdx.x * k + j] = i;
			if (vals)
				vals[(size_t) blockIdx.x * k + j] = row[i];
		}
		return;
	}
	if (warp == 0)
	{
		/* lane l owns entries 8l .. 8l+7 */
		const double v0 = row[(int) ~(uint32_t) cand[0]];
		double		p[8],
					sum = 0.0,
					incl,
					all,
					target;

		for (int j = 0; j < 8; j++)
		{
			int			e = 8 * lane + j;

			p[j] = 0.0;
			if (e < k)
			{
				double		d = exp(((double) row[(int) ~(uint32_t) cand[e]] - v0) / temperature);

				p[j] = d == d ? d : 0.0;
			}
			sum += p[j];
		}
		incl = sum;
		for (int o = 1; o < 32; o <<= 1)
		{
			double		v = __shfl_up_sync(0xffffffffu, incl, o);

			if (lane >= o)
				incl += v;
		}
		all = __shfl_sync(0xffffffffu, incl, 31);
		target = (double) u[blockIdx.x] * all;
		/* the lane whose range holds the crossing picks the token */
		if (incl > target && incl - sum <= target)
		{
			double		run = incl - sum;

			for (int j = 0; j < 8; j++)
			{
				run += p[j];
				if (run > target)
				{
					out[blockIdx.x] = (int) ~(uint32_t) cand[8 * lane + j];
					break;
				}
			}
		}
		/* nothing crossed (sum 0 or rounding at the very end): the last */
		if (__ballot_sync(0xffffffffu, incl > target && incl - sum <= target) == 0 && lane == 0)
			out[blockIdx.x] = (int) ~(uint32_t) cand[all > 0 ? k - 1 : 0];
	}
}

}								/* namespace */

extern "C" int
ds_cuda_topk(ds_cuda_stream stream, const float *logits, int ld, int rows, int n, int k,
			 int32_t *out_ids, float *out_vals)
{
	DS_REQUIRE(logits != NULL && out_ids != NULL && n >= 1 && ld >= n && rows >= 0,
			   DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(k >= 1 && k <= KMAX && k <= n, DS_CUDA_ERR_ARG, "k out of range");
	if (rows == 0)
		return DS_CUDA_OK;
	k_topk<false><<<rows, TOPK_THREADS, 0, stream>>>(logits, ld, n, k, out_ids, out_vals,
													 0.0f, NULL, NULL);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

extern "C" int
ds_cuda_sample_topk(ds_cuda_stream stream, const float *logits, int ld, int rows, int n, int k,
					float temperature, const float *u, int32_t *out)
{
	DS_REQUIRE(logits != NULL && out != NULL && n >= 1 && ld >= n && rows >= 0,
			   DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(k >= 1 && k <= KMAX && k <= n, DS_CUDA_ERR_ARG, "k out of range");
	if (temperature <= 0.0f || k == 1)
		return ds_cuda_argmax(stream, logits, ld, rows, n, out);
	DS_REQUIRE(u != NULL, DS_CUDA_ERR_ARG, "u is NULL");
	if (rows == 0)
		return DS_CUDA_OK;
	k_topk<true><<<rows, TOPK_THREADS, 0, stream>>>(logits, ld, n, k, NULL, NULL,
													temperature, u, out);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}
