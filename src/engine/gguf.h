/*
 * gguf.h -- read-only GGUF v3 reader over mmap.
 *
 * Plain C, no PostgreSQL headers.  ds_gguf_open() maps the file read-only and
 * validates every count, type, length, dimension, offset and size before it
 * is used; a hostile or truncated file yields DS_ERR_FORMAT with a message,
 * never an out-of-bounds read.  Everything handed out (strings, array data,
 * tensor data) points into the mapping and lives until ds_gguf_close().
 */
#ifndef DS_GGUF_H
#define DS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum ds_gguf_type
{
	DS_GGUF_UINT8 = 0,
	DS_GGUF_INT8 = 1,
	DS_GGUF_UINT16 = 2,
	DS_GGUF_INT16 = 3,
	DS_GGUF_UINT32 = 4,
	DS_GGUF_INT32 = 5,
	DS_GGUF_FLOAT32 = 6,
	DS_GGUF_BOOL = 7,
	DS_GGUF_STRING = 8,
	DS_GGUF_ARRAY = 9,
	DS_GGUF_UINT64 = 10,
	DS_GGUF_INT64 = 11,
	DS_GGUF_FLOAT64 = 12
} ds_gguf_type;

/* A string inside the mapping: not NUL-terminated. */
typedef struct ds_str
{
	const char *ptr;
	uint64_t	len;
} ds_str;

#define DS_MAX_DIMS 4

/* One tensor: ne[0] is the innermost (contiguous) dimension, as in ggml. */
typedef struct ds_tensor
{
	char		name[96];		/* NUL-terminated copy of the tensor name */
	int			type;			/* ggml type id, see quant.h (DS_TYPE_*) */
	int			n_dims;
	int64_t		ne[DS_MAX_DIMS];	/* unused dims are 1 */
	uint64_t	n_elements;
	const void *data;			/* inside the mapping, aligned to general.alignment */
	size_t		nbytes;
} ds_tensor;

typedef struct ds_gguf ds_gguf;

/* Open and validate; on failure *out is NULL and err holds the reason. */
int			ds_gguf_open(const char *path, ds_gguf **out, char *err);
void		ds_gguf_close(ds_gguf *g);

/* Metadata.  Getters return false when the key is absent or of another type. */
int			ds_gguf_n_kv(const ds_gguf *g);
ds_str		ds_gguf_kv_key(const ds_gguf *g, int i);
ds_gguf_type ds_gguf_kv_type(const ds_gguf *g, int i);
int			ds_gguf_find_key(const ds_gguf *g, const char *key);	/* index or -1 */

/* Integer getters accept any integer type whose value fits the target. */
bool		ds_gguf_get_u32(const ds_gguf *g, const char *key, uint32_t *out);
bool		ds_gguf_get_i64(const ds_gguf *g, const char *key, int64_t *out);
bool		ds_gguf_get_f32(const ds_gguf *g, const char *key, float *out);	/* FLOAT32 or FLOAT64 */
bool		ds_gguf_get_bool(const ds_gguf *g, const char *key, bool *out);
bool		ds_gguf_get_str(const ds_gguf *g, const char *key, ds_str *out);

/*
 * Arrays.  For numeric arrays *data points at n packed little-endian values of
 * elem_type inside the mapping (possibly unaligned: read with memcpy).  For
 * string arrays use ds_gguf_get_str_arr, which returns a table built and
 * validated at open time.
 */
bool		ds_gguf_get_arr(const ds_gguf *g, const char *key, ds_gguf_type *elem_type,
							uint64_t *n, const void **data);
bool		ds_gguf_get_str_arr(const ds_gguf *g, const char *key, uint64_t *n,
								const ds_str **strs);

/* Tensors. */
int			ds_gguf_n_tensors(const ds_gguf *g);
const ds_tensor *ds_gguf_tensor_at(const ds_gguf *g, int i);
const ds_tensor *ds_gguf_find_tensor(const ds_gguf *g, const char *name);	/* NULL if absent */

/* Size of the mapped file in bytes. */
size_t		ds_gguf_file_size(const ds_gguf *g);

#endif							/* DS_GGUF_H */
