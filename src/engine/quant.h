/*
 * quant.h -- GGUF/ggml weight types: block layouts exactly as they sit in the
 * file, and scalar reference dequantizers.
 *
 * These structs and ds_dequantize_row() are the specification that the fast
 * CPU paths (cpu_ops.c) and the CUDA kernels (kernels/) are tested against.
 * Plain C, no PostgreSQL headers; shared by the engine and kernels/.
 */
#ifndef DS_QUANT_H
#define DS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/* ggml type ids as stored in GGUF tensor infos */
typedef enum ds_type
{
	DS_TYPE_F32 = 0,
	DS_TYPE_F16 = 1,
	DS_TYPE_Q4_0 = 2,
	DS_TYPE_Q4_1 = 3,
	DS_TYPE_Q5_0 = 6,
	DS_TYPE_Q5_1 = 7,
	DS_TYPE_Q8_0 = 8,
	DS_TYPE_Q8_1 = 9,
	DS_TYPE_Q2_K = 10,
	DS_TYPE_Q3_K = 11,
	DS_TYPE_Q4_K = 12,
	DS_TYPE_Q5_K = 13,
	DS_TYPE_Q6_K = 14,
	DS_TYPE_Q8_K = 15,
	DS_TYPE_BF16 = 30,
	DS_TYPE_COUNT = 40			/* upper bound on ids seen in files */
} ds_type;

typedef uint16_t ds_f16;		/* IEEE half, raw bits */
typedef uint16_t ds_bf16;		/* bfloat16, raw bits */

#define DS_QK4_0 32
#define DS_QK4_1 32
#define DS_QK5_0 32
#define DS_QK5_1 32
#define DS_QK8_0 32
#define DS_QK_K 256
#define DS_K_SCALE_SIZE 12

/* Q4_0: x = (q - 8) * d; byte j holds element j (low nibble) and j + 16 (high) */
typedef struct
{
	ds_f16		d;
	uint8_t		qs[DS_QK4_0 / 2];
} ds_block_q4_0;				/* 18 bytes */

/* Q4_1: x = q * d + m, same nibble order as Q4_0 */
typedef struct
{
	ds_f16		d;
	ds_f16		m;
	uint8_t		qs[DS_QK4_1 / 2];
} ds_block_q4_1;				/* 20 bytes */

/* Q5_0: x = (q - 16) * d; bit j of qh is the 5th bit of element j */
typedef struct
{
	ds_f16		d;
	uint8_t		qh[4];
	uint8_t		qs[DS_QK5_0 / 2];
} ds_block_q5_0;				/* 22 bytes */

/* Q5_1: x = q * d + m */
typedef struct
{
	ds_f16		d;
	ds_f16		m;
	uint8_t		qh[4];
	uint8_t		qs[DS_QK5_1 / 2];
} ds_block_q5_1;				/* 24 bytes */

/* Q8_0: x = q * d */
typedef struct
{
	ds_f16		d;
	int8_t		qs[DS_QK8_0];
} ds_block_q8_0;				/* 34 bytes */

/*
 * Q4_K: 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in
 * scales[12]; x = d * sc * q - dmin * m.  qs: 4 groups of 64 elements, each
 * 32 bytes: low nibbles are the first 32 elements, high nibbles the next 32.
 */
typedef struct
{
	ds_f16		d;
	ds_f16		dmin;
	uint8_t		scales[DS_K_SCALE_SIZE];
	uint8_t		qs[DS_QK_K / 2];
} ds_block_q4_k;				/* 144 bytes */

/* Q5_K: Q4_K plus one high bit per element in qh[32] */
typedef struct
{
	ds_f16		d;
	ds_f16		dmin;
	uint8_t		scales[DS_K_SCALE_SIZE];
	uint8_t		qh[DS_QK_K / 8];
	uint8_t		qs[DS_QK_K / 2];
} ds_block_q5_k;				/* 176 bytes */

/* Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * sc * (q - 32) */
typedef struct
{
	uint8_t		ql[DS_QK_K / 2];
	uint8_t		qh[DS_QK_K / 4];
	int8_t		scales[DS_QK_K / 16];
	ds_f16		d;
} ds_block_q6_k;				/* 210 bytes */

/* Facts about a type: elements per block, bytes per block, name. */
typedef struct ds_type_traits
{
	const char *name;			/* "Q4_1", or NULL for unknown ids */
	int			block_elems;
	int			block_bytes;
	bool		supported;		/* can ds_dequantize_row handle it */
} ds_type_traits;

const ds_type_traits *ds_type_info(int type);	/* NULL if id is unknown */
const char *ds_type_name(int type);				/* "?" if unknown */

/* Bytes of one row of n elements; 0 if n is not a multiple of the block. */
size_t		ds_row_size(int type, int64_t n);

/* Half and bfloat16 conversions (exact; round-to-nearest-even on the way in). */
float		ds_f16_to_f32(ds_f16 h);
ds_f16		ds_f32_to_f16(float f);
float		ds_bf16_to_f32(ds_bf16 h);
ds_bf16		ds_f32_to_bf16(float f);

/*
 * Reference dequantizer: n elements (a multiple of the block size) of src in
 * the given type into dst.  Returns false for an unsupported type.  Supports
 * F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
 */
bool		ds_dequantize_row(int type, const void *src, float *dst, int64_t n);

/* Unpack the 6-bit scale and min of sub-block j of a Q4_K/Q5_K block. */
void		ds_get_scale_min_k4(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m);

#ifdef __cplusplus
}
#endif

#endif							/* DS_QUANT_H */
