/*
 * tile_copy.cuh -- streaming weight tiles into shared memory, shared by the
 * small-batch product (matvec.cu) and the fused GEMM (gemm_fused.cu).
 *
 * Tile `tile` of row r starts at byte r * row_bytes + tile * TILE_B of W.
 * The copy moves the 16-byte-aligned span that covers it, in 16-byte
 * cp.async chunks, to a row slot of PITCH bytes; the tile's first byte then
 * sits at offset (start & 15) of the slot (ds_tile_offset()).  Nothing past
 * the end of the tensor is read.
 */
#ifndef DS_KERNELS_TILE_COPY_CUH
#define DS_KERNELS_TILE_COPY_CUH

#include "common.cuh"
#include "qblock.cuh"

/* Offset of the tile's first byte in its row slot. */
__device__ __forceinline__ int
ds_tile_offset(size_t row_bytes, int row, int tile, int tile_b)
{
	return (int) (((size_t) row * row_bytes + (size_t) tile * tile_b) & 15);
}

/*
 * Queue the copies of tile `tile` of rows row0 .. row0 + nrows - 1 (those
 * below M) into stage; thread `idx` of `nthreads` takes every nthreads-th
 * chunk.  The caller commits the group.  Whole 16-byte chunks are read
 * (bytes past the tile belong to the next tile or row and are never
 * decoded); only a chunk that would cross the end of the tensor is read
 * byte by byte.
 */
template <int T>
__device__ __forceinline__ void
ds_issue_tile_rows(const uint8_t *w, size_t row_bytes, int M, int K, uint8_t *stage,
				   int row0, int nrows, int tile, int idx, int nthreads)
{
	using QT = dsq::Q<T>;
	constexpr int CPR = QT::PITCH / 16;	/* 16-byte chunks per row slot */
	const int	ng = min(QT::TILE_K, K - tile * QT::TILE_K) / 32;
	const int	tb = dsq::tile_bytes<T>(ng);
	const size_t toff = (size_t) tile * QT::TILE_B;
	const size_t end = (size_t) M * row_bytes;

	for (int i = idx; i < nrows * CPR; i += nthreads)
	{
		int			r = i / CPR,
					c = i - r * CPR;
		int			row = row0 + r;

		if (row < M)
		{
			size_t		gs = (size_t) row * row_bytes + toff;
			size_t		src = (gs & ~(size_t) 15) + 16 * c;
			uint8_t    *dst = stage + r * QT::PITCH + 16 * c;

			if ((int) (gs & 15) + tb - 16 * c <= 0)
				continue;
			if (src + 16 <= end)
				ds_cp_async16(dst, w + src, 16);
			else
				for (size_t b = src; b < end; b++)
					dst[b - src] = w[b];
		}
	}
}

#endif							/* DS_KERNELS_TILE_COPY_CUH */
