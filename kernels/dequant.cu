/*
 * dequant.cu -- dequantize rows of a GGUF tensor to f32 or bf16.
 *
 * One thread turns 8 consecutive weights into one 16-byte (bf16) or two
 * 16-byte (f32) stores, decoding with qblock.cuh's dequant8(), which repeats
 * the reference's arithmetic: the f32 output equals quant.c's.  The kernel
 * is bound by its writes (2 or 4 bytes per weight); it feeds the cuBLAS
 * path's bf16 scratch and converts activations to bf16.
 */
#include "common.cuh"
#include "dequant.cuh"
#include "qblock.cuh"

namespace
{

template <int T>
__global__ void
k_dequant(const uint8_t *src, size_t ld, int rows, int K, void *out, int bf16)
{
	using QT = dsq::Q<T>;
	const int	per_row = K / 8;
	size_t		i = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i >= (size_t) rows * per_row)
		return;

	int			r = (int) (i / per_row),
				j = (int) (i % per_row);
	int			tile = (8 * j) / QT::TILE_K,
				jt = (8 * j - tile * QT::TILE_K) / 8;
	float		v[8];

	QT::dequant8(src + r * ld + (size_t) tile * QT::TILE_B, jt, v);
	if (bf16)
		*(uint4 *) ((uint16_t *) out + (size_t) r * K + 8 * j) =
			make_uint4(dsq::pack_bf16x2(v[0], v[1]), dsq::pack_bf16x2(v[2], v[3]),
					   dsq::pack_bf16x2(v[4], v[5]), dsq::pack_bf16x2(v[6], v[7]));
	else
	{
		float4	   *o = (float4 *) ((float *) out + (size_t) r * K + 8 * j);

		o[0] = make_float4(v[0], v[1], v[2], v[3]);
		o[1] = make_float4(v[4], v[5], v[6], v[7]);
	}
}

template <int T>
int
launch(cudaStream_t stream, const void *src, size_t ld, int rows, int K, void *out, int bf16)
{
	size_t		n = (size_t) rows * (K / 8);

	if (n == 0)
		return DS_CUDA_OK;
	k_dequant<T><<<(unsigned) ((n + 255) / 256), 256, 0, stream>>>(
		(const uint8_t *) src, ld, rows, K, out, bf16);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

}								/* namespace */

int
ds_dequant_launch(cudaStream_t stream, const void *src, int type, size_t src_ld_bytes,
				  int rows, int K, void *out, ds_cuda_dtype otype)
{
	const int	bf16 = otype == DS_CUDA_BF16;

	DS_REQUIRE(src != NULL && out != NULL && rows >= 0 && K > 0 && K % 32 == 0,
			   DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(otype == DS_CUDA_F32 || otype == DS_CUDA_BF16, DS_CUDA_ERR_ARG,
			   "unknown output type");
	DS_REQUIRE(((uintptr_t) out & 15) == 0, DS_CUDA_ERR_ARG, "out must be 16-byte aligned");
	switch (type)
	{
#define DQ_CASE(T) \
		case T: \
			return launch<T>(stream, src, src_ld_bytes, rows, K, out, bf16);
		DSQ_FOR_EACH_TYPE(DQ_CASE)
		DQ_CASE(DS_TYPE_F32)
#undef DQ_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "weight type",
						ds_type_name(type));
}

extern "C" int
ds_cuda_dequantize(ds_cuda_stream stream, const void *w, int wtype, int rows, int K,
				   void *out, ds_cuda_dtype otype)
{
	DS_REQUIRE(ds_row_size(wtype, K) != 0, DS_CUDA_ERR_ARG,
			   "K is not a whole number of blocks of the type");
	DS_REQUIRE(((uintptr_t) w & 15) == 0, DS_CUDA_ERR_ARG, "weights must be 16-byte aligned");
	return ds_dequant_launch(stream, w, wtype, ds_row_size(wtype, K), rows, K, out, otype);
}
