/*
 * cpu_ops.h -- the CPU's numerical kernels: activation quantization and dot
 * products of quantized weight rows with activation rows.
 *
 * As in llama.cpp, a quantized weight is not multiplied by float activations:
 * the activation row is first quantized once per matmul into 8-bit blocks
 * matching the weight's block size, and each block contributes an integer dot
 * product times the two scales.
 *
 *   weight type                       activation form
 *   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0          ds_block_q8a (32 values, scale, scaled sum)
 *   Q4_K Q5_K Q6_K                    ds_block_q8k (256 values, scale, 16 sums)
 *   F32 F16 BF16                      float
 *
 * Every kernel has a scalar version (the specification, checked against
 * ds_dequantize_row) and AVX2 / AVX-512 VNNI versions chosen at run time.
 */
#ifndef DS_CPU_OPS_H
#define DS_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "quant.h"

/* 32 activations: x = d * qs[i]; s = d * sum(qs) */
typedef struct ds_block_q8a
{
	float		d;
	float		s;
	int8_t		qs[32];
} ds_block_q8a;					/* 40 bytes */

/* 256 activations: x = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15] */
typedef struct ds_block_q8k
{
	float		d;
	int16_t		bsums[16];
	int8_t		qs[256];
} ds_block_q8k;					/* 292 bytes */

typedef enum ds_act_kind
{
	DS_ACT_F32 = 0,
	DS_ACT_Q8 = 1,
	DS_ACT_Q8K = 2
} ds_act_kind;

#define DS_ACT_KINDS 3

/* Instruction sets the kernels can use, best last. */
typedef enum ds_isa
{
	DS_ISA_SCALAR = 0,
	DS_ISA_AVX2 = 1,
	DS_ISA_VNNI = 2				/* AVX-512 VNNI on 256-bit vectors */
} ds_isa;

/* Most activation rows one kernel call handles. */
#define DS_DOT_MAX_ROWS 4

/*
 * out[r * out_stride] = dot(weight row w, activation row r) for r < n_act
 * (n_act <= DS_DOT_MAX_ROWS); activation row r starts at act + r * act_stride
 * bytes and is in ds_act_kind_for(type) form.  n is the row length.
 */
typedef void (*ds_dot_fn) (int64_t n, const void *w, const void *act, size_t act_stride,
						   int n_act, float *out, size_t out_stride);

/* Pick the best kernels this CPU supports; returns the level chosen. */
ds_isa		ds_cpu_ops_init(void);

/* Force a level (tests); a level the CPU lacks falls back. Returns the level set. */
ds_isa		ds_cpu_set_isa(ds_isa isa);
const char *ds_isa_name(ds_isa isa);

ds_act_kind ds_act_kind_for(int wtype);
size_t		ds_act_row_bytes(ds_act_kind kind, int64_t n);

/* Quantize one activation row of n floats (n a multiple of the block). */
void		ds_quantize_act_row(ds_act_kind kind, const float *x, void *out, int64_t n);

/* Values an activation row stands for (tests). */
void		ds_dequantize_act_row(ds_act_kind kind, const void *in, float *x, int64_t n);

/* The current kernel for a weight type (NULL if the type has none). */
ds_dot_fn	ds_dot_kernel(int wtype);

/*
 * Matmul tile: out[r * out_stride + i] = W[i] . act[r] for rows i0 <= i < i1
 * of w and every activation row r < n_act.
 */
void		ds_cpu_matmul(const ds_weight *w, int64_t i0, int64_t i1, const void *act,
						  size_t act_stride, int n_act, float *out, size_t out_stride);

/*
 * The same with float activations and weights dequantized row by row into
 * scratch (w->cols floats): the exact-dequantization reference path.
 */
void		ds_cpu_matmul_exact(const ds_weight *w, int64_t i0, int64_t i1, const float *act,
								int n_act, float *out, size_t out_stride, float *scratch);

/* Float dot product of n values (vectorized when the CPU allows). */
float		ds_dot_f32(const float *a, const float *b, int64_t n);

/* y += a * x over n floats. */
void		ds_axpy_f32(float a, const float *x, float *y, int64_t n);

/* The same with x in half precision (KV cache rows). */
float		ds_dot_f16_f32(const ds_f16 *a, const float *b, int64_t n);
void		ds_axpy_f16(float a, const ds_f16 *x, float *y, int64_t n);

/* n floats to half precision and back. */
void		ds_f32_to_f16_row(const float *x, ds_f16 *y, int64_t n);
void		ds_f16_to_f32_row(const ds_f16 *x, float *y, int64_t n);

#endif							/* DS_CPU_OPS_H */
