/*
 * embed.cu -- out[i] = dequantized row ids[i] of the embedding table, with
 * the reference's arithmetic (qblock.cuh dequant8), zeros for an id out of
 * range.
 */
#include "common.cuh"
#include "embed.cuh"
#include "qblock.cuh"

namespace
{

template <int T>
__global__ void
k_embed(const uint8_t *table, size_t row_bytes, int vocab, int n_embd, const int32_t *ids,
		int n, void *out, int obf16)
{
	using QT = dsq::Q<T>;
	const int	per = n_embd / 8;
	size_t		idx = (size_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (idx >= (size_t) n * per)
		return;

	int			i = (int) (idx / per),
				j = (int) (idx % per);
	int			id = ids[i];
	float		v[8] = {0, 0, 0, 0, 0, 0, 0, 0};

	if (id >= 0 && id < vocab)
	{
		int			tile = 8 * j / QT::TILE_K;

		QT::dequant8(table + (size_t) id * row_bytes + (size_t) tile * QT::TILE_B,
					 (8 * j - tile * QT::TILE_K) / 8, v);
	}
	for (int e = 0; e < 8; e++)
		ds_store_act(out, (size_t) i * n_embd + 8 * j + e, v[e], obf16);
}

template <int T>
int
launch(cudaStream_t stream, const void *table, int vocab, int n_embd, const int32_t *ids,
	   int n, void *out, int obf16)
{
	size_t		total = (size_t) n * (n_embd / 8);

	if (total == 0)
		return DS_CUDA_OK;
	k_embed<T><<<(unsigned) ((total + EMBED_THREADS - 1) / EMBED_THREADS), EMBED_THREADS, 0,
		stream>>>((const uint8_t *) table, ds_row_size(T, n_embd), vocab, n_embd, ids, n, out,
				  obf16);
	DS_CUDA_CHECK_LAUNCH();
	return DS_CUDA_OK;
}

}								/* namespace */

extern "C" int
ds_cuda_embed(ds_cuda_stream stream, const void *table, int ttype, int vocab, int n_embd,
			  const int32_t *ids, int n, void *out, ds_cuda_dtype otype)
{
	DS_REQUIRE(table != NULL && ids != NULL && out != NULL && vocab > 0 && n >= 0 &&
			   n_embd >= 32 && n_embd % 32 == 0, DS_CUDA_ERR_ARG, "bad pointer or shape");
	DS_REQUIRE(ds_row_size(ttype, n_embd) != 0, DS_CUDA_ERR_ARG,
			   "n_embd is not a whole number of blocks of the type");
	DS_REQUIRE(otype == DS_CUDA_F32 || otype == DS_CUDA_BF16, DS_CUDA_ERR_ARG,
			   "unknown output type");
	switch (ttype)
	{
#define EMB_CASE(T) \
		case T: \
			return launch<T>(stream, table, vocab, n_embd, ids, n, out, otype == DS_CUDA_BF16);
		DSQ_FOR_EACH_TYPE(EMB_CASE)
		EMB_CASE(DS_TYPE_F32)
#undef EMB_CASE
	}
	return ds_cuda_fail(DS_CUDA_ERR_UNSUPPORTED, __FILE__, __LINE__, "table type",
						ds_type_name(ttype));
}
