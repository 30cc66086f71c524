/*
 * tma.cuh -- the PTX of the copy engine and its barriers, as the
 * copy-engine kernels use them: 32-bit shared-memory addresses, mbarriers
 * (init, arrive, arrive with an expected byte count, wait on a phase
 * parity), 1-D bulk copies and 2-D tensor copies completing on an
 * mbarrier.  sm_90.  On the host: the tensor map of a weight matrix.
 */
#ifndef DS_KERNELS_TMA_CUH
#define DS_KERNELS_TMA_CUH

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <stdint.h>

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

/* a box of a 2-D tensor map at element coordinates (x, y) into shared dst
 * (128-byte aligned), completing on the mbarrier bar */
__device__ __forceinline__ void
tma_load_2d(uint32_t dst, const CUtensorMap *tm, int x, int y, uint32_t bar)
{
	asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes "
				 "[%0], [%1, {%2, %3}], [%4];\n"
				 :: "r"(dst), "l"(tm), "r"(x), "r"(y), "r"(bar) : "memory");
}

/* the same with an L2 cache policy (l2_policy_*) */
__device__ __forceinline__ void
tma_load_2d_hint(uint32_t dst, const CUtensorMap *tm, int x, int y, uint32_t bar, uint64_t policy)
{
	asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.L2::cache_hint "
				 "[%0], [%1, {%2, %3}], [%4], %5;\n"
				 :: "r"(dst), "l"(tm), "r"(x), "r"(y), "r"(bar), "l"(policy) : "memory");
}

/* L2 policies: data read once (evicted first) and data read again
 * (evicted last) */
__device__ __forceinline__ uint64_t
l2_policy_evict_first(void)
{
	uint64_t	p;

	asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
	return p;
}

__device__ __forceinline__ uint64_t
l2_policy_evict_last(void)
{
	uint64_t	p;

	asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(p));
	return p;
}

/* the driver's tensor-map encoder, looked up once through the runtime (no
 * link to libcuda); NULL when the driver has none */
static inline PFN_cuTensorMapEncodeTiled_v12000
ds_tensor_map_encoder(void)
{
	static PFN_cuTensorMapEncodeTiled_v12000 encode;

	if (!encode)
	{
		void	   *fn = NULL;
		cudaDriverEntryPointQueryResult q;

		if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) ==
			cudaSuccess && q == cudaDriverEntryPointSuccess)
			encode = (PFN_cuTensorMapEncodeTiled_v12000) fn;
	}
	return encode;
}

/*
 * A 2-D tensor map: dim0 x dim1 elements of type dt at p, rows stride
 * bytes apart, boxes of box0 x box1 elements; outside the tensor reads as
 * zeros.  CUDA_ERROR_NOT_FOUND when the driver has no encoder.
 */
static inline CUresult
ds_tensor_map_2d(CUtensorMap *tm, CUtensorMapDataType dt, const void *p, uint64_t dim0, uint64_t dim1,
				 uint64_t stride, uint32_t box0, uint32_t box1, CUtensorMapSwizzle swizzle)
{
	const PFN_cuTensorMapEncodeTiled_v12000 encode = ds_tensor_map_encoder();

	if (!encode)
		return CUDA_ERROR_NOT_FOUND;

	const cuuint64_t gdim[2] = {dim0, dim1},
				gstride[1] = {stride};
	const cuuint32_t box[2] = {box0, box1},
				estride[2] = {1, 1};

	return encode(tm, dt, 2, (void *) p, gdim, gstride, box, estride, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
				  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

/*
 * The tensor map of M rows of rb bytes (rb % 16 == 0) at w, as 8-byte
 * words, boxes of box_rows rows x box_bytes bytes (box_bytes % 16 == 0);
 * rows past M and bytes past a row's end read as zeros.
 * CUDA_ERROR_NOT_FOUND when the driver has no encoder.
 */
static inline CUresult
ds_weight_tensor_map(CUtensorMap *tm, const void *w, uint64_t rb, uint64_t M, uint32_t box_bytes,
					 uint32_t box_rows)
{
	return ds_tensor_map_2d(tm, CU_TENSOR_MAP_DATA_TYPE_UINT64, w, rb / 8, M, rb, box_bytes / 8, box_rows,
							CU_TENSOR_MAP_SWIZZLE_NONE);
}

/*
 * The tensor map of M rows of rb bytes (rb even, 8 rb % 16 == 0, M % 8 ==
 * 0) as M / 8 super-rows of 8 rows, in 2-byte elements: a box of box_rows
 * super-rows x box_bytes bytes (box_bytes % 16 == 0) at element (x, y)
 * holds, for x = (i rb + off) / 2, the bytes off .. off + box_bytes of rows
 * 8 (y + p) + i, p = 0 .. box_rows - 1 (of row i + 1 past the row's end,
 * zeros past the last row's end and past row M).  The copy engine takes
 * boxes that start on a 16-byte boundary only (i rb + off a multiple of
 * 16; other starts stop the kernel with an illegal instruction).
 * CUDA_ERROR_NOT_FOUND when the driver has no encoder.
 */
static inline CUresult
ds_residue_tensor_map(CUtensorMap *tm, const void *w, uint64_t rb, uint64_t M, uint32_t box_bytes,
					  uint32_t box_rows)
{
	return ds_tensor_map_2d(tm, CU_TENSOR_MAP_DATA_TYPE_UINT16, w, 8 * rb / 2, M / 8, 8 * rb, box_bytes / 2,
							box_rows, CU_TENSOR_MAP_SWIZZLE_NONE);
}

/*
 * The tensor map of a bf16 matrix of rows x cols (row-major, cols % 8 ==
 * 0), boxes of box_rows rows x 64 columns (128 bytes) with the 128-byte
 * swizzle of the wgmma operand layout; outside the matrix reads as zeros.
 */
static inline CUresult
ds_bf16_tensor_map_sw128(CUtensorMap *tm, const void *p, uint64_t rows, uint64_t cols, uint32_t box_rows)
{
	return ds_tensor_map_2d(tm, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, p, cols, rows, cols * 2, 64, box_rows,
							CU_TENSOR_MAP_SWIZZLE_128B);
}

#endif							/* DS_KERNELS_TMA_CUH */
