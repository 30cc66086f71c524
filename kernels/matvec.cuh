/*
 * matvec.cuh -- the small-batch product's launcher with its tuning knob
 * exposed, for ds_cuda_matmul() and the benchmark.
 */
#ifndef DS_KERNELS_MATVEC_CUH
#define DS_KERNELS_MATVEC_CUH

#include "common.cuh"

/*
 * ds_cuda_matvec() with the split of K chosen by the caller: kt tiles of K
 * per block (0 = the built-in choice).  Arguments are checked as there.
 */
int			ds_matvec_launch(ds_cuda_context *ctx, cudaStream_t stream,
							 const void *w, int wtype, int M, int K,
							 const void *x, ds_cuda_dtype xtype, int ldx, int n,
							 void *y, ds_cuda_dtype ytype, int ldy, int kt);

/*
 * The dp4a small-batch product (matvec_dp4a.cu): x quantized to int8 per
 * 32 elements (f32 x kept for F16/BF16 weights).  K % 256 == 0.
 */
int			ds_matvec_dp4a_launch(ds_cuda_context *ctx, cudaStream_t stream,
								  const void *w, int wtype, int M, int K,
								  const void *x, ds_cuda_dtype xtype, int ldx, int n,
								  void *y, ds_cuda_dtype ytype, int ldy);

/*
 * The tensor-core small-batch product with the weights' integers
 * (matvec_q8mma.cu), with its knobs: ks segments of K, mt m16 tiles (1 or
 * 2, types that allow 2) per unit, handover the split-K hand-over (1 word
 * slots, 2 partials behind a fence, 3 within the block: ks 4 or 2 chosen
 * here); 0 = the built-in choice.  K % 256 == 0.
 */
int			ds_matvec_q8mma_launch(ds_cuda_context *ctx, cudaStream_t stream,
								   const void *w, int wtype, int M, int K,
								   const void *x, ds_cuda_dtype xtype, int ldx, int n,
								   void *y, ds_cuda_dtype ytype, int ldy, int ks, int mt,
								   int handover);

/*
 * The same product with the weights streamed by the copy engine into a
 * ring shared by the block's compute warps (matvec_q8tma.cu); mt: m16
 * tiles per compute warp (1 or 2, types that allow 2), sc: tiles per step
 * (1, 2 or 4), grid: blocks; 0 = the built-in choice; xs: 1 = x copied
 * into each stage with the weights (2 tiles per step), 0 = not, -1 = as
 * the default does for the type (with sc = 0); lag > 0: at most lag
 * steps asked for and not yet landed per block, 0 = as many as the ring
 * holds, -1 = the default by type and shape.  Q4_0, Q4_1, Q5_0, Q8_0,
 * Q4_K, Q5_K; K % 256 == 0.
 */
int			ds_matvec_q8tma_launch(ds_cuda_context *ctx, cudaStream_t stream,
								   const void *w, int wtype, int M, int K,
								   const void *x, ds_cuda_dtype xtype, int ldx, int n,
								   void *y, ds_cuda_dtype ytype, int ldy, int mt, int sc, int grid, int xs,
								   int lag);

/*
 * The product with whole rows per block streamed by 1-D bulk copies
 * (matvec_bulk.cu), n <= 2, with its knobs: grid blocks, stage_bytes per
 * stage of whole rows, ring_bytes for the ring of stages, lag: stages on
 * their way per block (-1: the whole ring); 0 = the built-in choice;
 * probe 1: the weight stream alone (y not written).  K % 256 == 0.
 */
int			ds_matvec_bulk_launch(ds_cuda_context *ctx, cudaStream_t stream,
								  const void *w, int wtype, int M, int K,
								  const void *x, ds_cuda_dtype xtype, int ldx, int n,
								  void *y, ds_cuda_dtype ytype, int ldy, int grid,
								  int stage_bytes, int ring_bytes, int lag, int probe);

/* Check the arguments every matrix product shares; n_max bounds n. */
int			ds_matmul_check(const ds_cuda_context *ctx, const void *w, int wtype,
							int M, int K, const void *x, ds_cuda_dtype xtype, int ldx,
							int n, const void *y, ds_cuda_dtype ytype, int ldy, int n_max);

#endif							/* DS_KERNELS_MATVEC_CUH */
