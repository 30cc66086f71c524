/*
 * gguf.c -- read-only GGUF reader over mmap.
 *
 * The file is mapped once and parsed front to back by a cursor that checks
 * every read against the file size.  Counts are bounded by the bytes left
 * before anything is allocated, sizes are multiplied with overflow checks,
 * and every tensor's data range must lie inside the data section.  String
 * arrays (the vocabulary) are parsed once into a malloc'd table; everything
 * else points into the mapping.
 *
 * Layout (little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x   { string key, u32 type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to general.alignment, then the data section
 * where a string is u64 length + bytes, and an array value is
 * u32 elem_type, u64 n, n values.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT (1u << 20)

/* One metadata entry. */
typedef struct gguf_kv
{
	ds_str		key;
	ds_gguf_type type;
	const uint8_t *val;			/* scalar value, or array payload, in the mapping */
	ds_str		str;			/* type STRING: the value */
	ds_gguf_type elem_type;		/* type ARRAY: element type */
	uint64_t	n;				/* type ARRAY: element count */
	ds_str	   *strs;			/* array of STRING: malloc'd table of n */
} gguf_kv;

struct ds_gguf
{
	const uint8_t *base;		/* the mapping */
	size_t		size;			/* file size */
	uint32_t	version;
	uint32_t	alignment;
	int			n_kv;
	gguf_kv    *kv;				/* [n_kv] */
	int			n_tensors;
	ds_tensor  *tensors;		/* [n_tensors] */
	size_t		data_offset;	/* start of the data section */
};

/* Bounds-checked reader over the mapping. */
typedef struct cursor
{
	const uint8_t *base;
	size_t		size;
	size_t		pos;
	char	   *err;
} cursor;

/* Bytes of one scalar value of a metadata type; 0 for STRING/ARRAY/unknown. */
static size_t
scalar_size(uint32_t type)
{
	switch (type)
	{
		case DS_GGUF_UINT8:
		case DS_GGUF_INT8:
		case DS_GGUF_BOOL:
			return 1;
		case DS_GGUF_UINT16:
		case DS_GGUF_INT16:
			return 2;
		case DS_GGUF_UINT32:
		case DS_GGUF_INT32:
		case DS_GGUF_FLOAT32:
			return 4;
		case DS_GGUF_UINT64:
		case DS_GGUF_INT64:
		case DS_GGUF_FLOAT64:
			return 8;
	}
	return 0;
}

/* Claim n bytes at the cursor; DS_ERR_FORMAT if they run past the end. */
static int
take(cursor *c, uint64_t n, const uint8_t **p, const char *what)
{
	if (n > c->size - c->pos)
		return ds_error(c->err, DS_ERR_FORMAT,
						"truncated GGUF file: %s at offset %zu needs %llu bytes, %zu left",
						what, c->pos, (unsigned long long) n, c->size - c->pos);
	if (p != NULL)
		*p = c->base + c->pos;
	c->pos += (size_t) n;
	return DS_OK;
}

/* Read a little-endian u32. */
static int
read_u32(cursor *c, uint32_t *v, const char *what)
{
	const uint8_t *p = NULL;
	int			rc = take(c, 4, &p, what);

	if (rc == DS_OK)
		memcpy(v, p, 4);
	return rc;
}

/* Read a little-endian u64. */
static int
read_u64(cursor *c, uint64_t *v, const char *what)
{
	const uint8_t *p = NULL;
	int			rc = take(c, 8, &p, what);

	if (rc == DS_OK)
		memcpy(v, p, 8);
	return rc;
}

/* Read a length-prefixed string; its bytes stay in the mapping. */
static int
read_str(cursor *c, ds_str *s, const char *what)
{
	const uint8_t *p = NULL;
	uint64_t	len;
	int			rc;

	if ((rc = read_u64(c, &len, what)) != DS_OK)
		return rc;
	if ((rc = take(c, len, &p, what)) != DS_OK)
		return rc;
	s->ptr = (const char *) p;
	s->len = len;
	return DS_OK;
}

/* Does a mapped string equal a NUL-terminated one? */
static bool
str_eq(ds_str s, const char *z)
{
	size_t		n = strlen(z);

	return s.len == n && memcmp(s.ptr, z, n) == 0;
}

/* Parse the n strings of a string array into a malloc'd table. */
static int
read_str_array(cursor *c, gguf_kv *kv)
{
	/* every string costs at least its 8-byte length */
	if (kv->n > (c->size - c->pos) / 8)
		return ds_error(c->err, DS_ERR_FORMAT,
						"GGUF key \"%.*s\": string array of %llu entries cannot fit in the file",
						(int) kv->key.len, kv->key.ptr, (unsigned long long) kv->n);
	kv->strs = malloc((size_t) (kv->n ? kv->n : 1) * sizeof(ds_str));
	if (kv->strs == NULL)
		return ds_error(c->err, DS_ERR_NOMEM, "out of memory for a string array of %llu entries",
						(unsigned long long) kv->n);
	for (uint64_t i = 0; i < kv->n; i++)
	{
		int			rc = read_str(c, &kv->strs[i], "string array entry");

		if (rc != DS_OK)
			return rc;
	}
	return DS_OK;
}

/* Parse an array value: element type, count, then the packed elements. */
static int
read_array(cursor *c, gguf_kv *kv)
{
	uint32_t	et;
	size_t		esize;
	int			rc;

	if ((rc = read_u32(c, &et, "array element type")) != DS_OK ||
		(rc = read_u64(c, &kv->n, "array length")) != DS_OK)
		return rc;
	kv->elem_type = (ds_gguf_type) et;
	kv->val = c->base + c->pos;
	if (et == DS_GGUF_STRING)
		return read_str_array(c, kv);
	esize = scalar_size(et);
	if (esize == 0)
		return ds_error(c->err, DS_ERR_FORMAT,
						"GGUF key \"%.*s\": unsupported array element type %u",
						(int) kv->key.len, kv->key.ptr, et);
	if (kv->n > (c->size - c->pos) / esize)
		return ds_error(c->err, DS_ERR_FORMAT,
						"GGUF key \"%.*s\": array of %llu elements runs past the end of the file",
						(int) kv->key.len, kv->key.ptr, (unsigned long long) kv->n);
	return take(c, kv->n * esize, NULL, "array data");
}

/* Parse one key/value entry. */
static int
read_kv(cursor *c, gguf_kv *kv)
{
	uint32_t	type;
	size_t		size;
	int			rc;

	if ((rc = read_str(c, &kv->key, "metadata key")) != DS_OK ||
		(rc = read_u32(c, &type, "metadata value type")) != DS_OK)
		return rc;
	kv->type = (ds_gguf_type) type;
	if (type == DS_GGUF_STRING)
		return read_str(c, &kv->str, "metadata string value");
	if (type == DS_GGUF_ARRAY)
		return read_array(c, kv);
	size = scalar_size(type);
	if (size == 0)
		return ds_error(c->err, DS_ERR_FORMAT, "GGUF key \"%.*s\": unknown value type %u",
						(int) kv->key.len, kv->key.ptr, type);
	return take(c, size, &kv->val, "metadata value");
}

/* qsort comparator over metadata keys, for the duplicate check. */
static int
cmp_key(const void *a, const void *b)
{
	const ds_str *x = *(const ds_str *const *) a;
	const ds_str *y = *(const ds_str *const *) b;
	size_t		n = x->len < y->len ? x->len : y->len;
	int			r = memcmp(x->ptr, y->ptr, n);

	if (r != 0)
		return r;
	return (x->len > y->len) - (x->len < y->len);
}

/* Reject a file in which two keys (or two tensor names) are equal. */
static int
check_unique(const ds_str **names, int n, const char *what, char *err)
{
	qsort(names, (size_t) n, sizeof(*names), cmp_key);
	for (int i = 1; i < n; i++)
		if (cmp_key(&names[i - 1], &names[i]) == 0)
			return ds_error(err, DS_ERR_FORMAT, "GGUF file has a duplicate %s \"%.*s\"",
							what, (int) (names[i]->len > 96 ? 96 : names[i]->len),
							names[i]->ptr);
	return DS_OK;
}

/* Check that no two metadata keys are equal. */
static int
check_unique_keys(ds_gguf *g, char *err)
{
	const ds_str **names = malloc((size_t) (g->n_kv ? g->n_kv : 1) * sizeof(*names));
	int			rc;

	if (names == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	for (int i = 0; i < g->n_kv; i++)
		names[i] = &g->kv[i].key;
	rc = check_unique(names, g->n_kv, "metadata key", err);
	free(names);
	return rc;
}

/* Parse the header and all metadata entries. */
static int
read_header(cursor *c, ds_gguf *g, uint64_t *n_tensors)
{
	const uint8_t *magic = NULL;
	uint64_t	n_kv;
	int			rc;

	if ((rc = take(c, 4, &magic, "magic")) != DS_OK)
		return rc;
	if (memcmp(magic, GGUF_MAGIC, 4) != 0)
		return ds_error(c->err, DS_ERR_FORMAT, "not a GGUF file (bad magic)");
	if ((rc = read_u32(c, &g->version, "version")) != DS_OK)
		return rc;
	if (g->version != 2 && g->version != 3)
		return ds_error(c->err, DS_ERR_FORMAT, "unsupported GGUF version %u (2 or 3 expected)",
						g->version);
	if ((rc = read_u64(c, n_tensors, "tensor count")) != DS_OK ||
		(rc = read_u64(c, &n_kv, "metadata count")) != DS_OK)
		return rc;
	/* a key/value entry takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8 */
	if (n_kv > (c->size - c->pos) / 13 || n_kv > INT_MAX)
		return ds_error(c->err, DS_ERR_FORMAT, "GGUF metadata count %llu cannot fit in the file",
						(unsigned long long) n_kv);
	if (*n_tensors > (c->size - c->pos) / 32 || *n_tensors > INT_MAX)
		return ds_error(c->err, DS_ERR_FORMAT, "GGUF tensor count %llu cannot fit in the file",
						(unsigned long long) *n_tensors);
	g->kv = calloc((size_t) (n_kv ? n_kv : 1), sizeof(gguf_kv));
	if (g->kv == NULL)
		return ds_error(c->err, DS_ERR_NOMEM, "out of memory for %llu metadata entries",
						(unsigned long long) n_kv);
	for (uint64_t i = 0; i < n_kv; i++)
	{
		g->n_kv = (int) i + 1;	/* so that close() frees a partial table */
		if ((rc = read_kv(c, &g->kv[i])) != DS_OK)
			return rc;
	}
	return check_unique_keys(g, c->err);
}

/* Take general.alignment (default 32); it must be a power of two. */
static int
read_alignment(ds_gguf *g, char *err)
{
	int			i = ds_gguf_find_key(g, "general.alignment");
	uint32_t	a;

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (i < 0)
		return DS_OK;
	if (!ds_gguf_get_u32(g, "general.alignment", &a))
		return ds_error(err, DS_ERR_FORMAT, "general.alignment is not a 32-bit unsigned integer");
	if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
		return ds_error(err, DS_ERR_FORMAT, "general.alignment %u is not a power of two up to %u",
						a, GGUF_MAX_ALIGNMENT);
	g->alignment = a;
	return DS_OK;
}

/* Read a tensor's dimensions; each must be positive and the product must not overflow. */
static int
read_dims(cursor *c, ds_tensor *t)
{
	uint32_t	n_dims;
	uint64_t	total = 1;
	int			rc;

	if ((rc = read_u32(c, &n_dims, "tensor dimension count")) != DS_OK)
		return rc;
	if (n_dims < 1 || n_dims > DS_MAX_DIMS)
		return ds_error(c->err, DS_ERR_FORMAT, "tensor \"%s\" has %u dimensions (1 to %d allowed)",
						t->name, n_dims, DS_MAX_DIMS);
	t->n_dims = (int) n_dims;
	for (int d = 0; d < DS_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < n_dims; d++)
	{
		uint64_t	ne;

		if ((rc = read_u64(c, &ne, "tensor dimension")) != DS_OK)
			return rc;
		if (ne == 0 || ne > (uint64_t) INT64_MAX)
			return ds_error(c->err, DS_ERR_FORMAT,
							"tensor \"%s\": dimension %u is %lld (1 to 2^63-1 allowed)",
							t->name, d, (long long) ne);
		if (total > (uint64_t) INT64_MAX / ne)
			return ds_error(c->err, DS_ERR_FORMAT, "tensor \"%s\": element count overflows",
							t->name);
		total *= ne;
		t->ne[d] = (int64_t) ne;
	}
	t->n_elements = total;
	return DS_OK;
}

/* Check the type id and work out the tensor's size in bytes. */
static int
check_type(ds_tensor *t, char *err)
{
	const ds_type_traits *tt = ds_type_info(t->type);
	uint64_t	nblocks;

	if (tt == NULL)
		return ds_error(err, DS_ERR_FORMAT, "tensor \"%s\" has unknown type id %d",
						t->name, t->type);
	if (t->ne[0] % tt->block_elems != 0)
		return ds_error(err, DS_ERR_FORMAT,
						"tensor \"%s\": row of %lld elements is not a multiple of the %s block (%d)",
						t->name, (long long) t->ne[0], tt->name, tt->block_elems);
	nblocks = t->n_elements / (uint64_t) tt->block_elems;
	if (nblocks > SIZE_MAX / (uint64_t) tt->block_bytes)
		return ds_error(err, DS_ERR_FORMAT, "tensor \"%s\": byte size overflows", t->name);
	t->nbytes = (size_t) (nblocks * (uint64_t) tt->block_bytes);
	return DS_OK;
}

/* Parse one tensor info; *offset gets its offset inside the data section. */
static int
read_tensor_info(cursor *c, ds_tensor *t, uint64_t *offset)
{
	ds_str		name;
	uint32_t	type;
	int			rc;

	if ((rc = read_str(c, &name, "tensor name")) != DS_OK)
		return rc;
	if (name.len == 0 || name.len >= sizeof(t->name) || memchr(name.ptr, 0, name.len) != NULL)
		return ds_error(c->err, DS_ERR_FORMAT,
						"tensor name of %llu bytes is empty, too long or contains NUL",
						(unsigned long long) name.len);
	memcpy(t->name, name.ptr, name.len);
	t->name[name.len] = '\0';
	if ((rc = read_dims(c, t)) != DS_OK ||
		(rc = read_u32(c, &type, "tensor type")) != DS_OK)
		return rc;
	if (type >= DS_TYPE_COUNT)
		return ds_error(c->err, DS_ERR_FORMAT, "tensor \"%s\" has unknown type id %u",
						t->name, type);
	t->type = (int) type;
	if ((rc = check_type(t, c->err)) != DS_OK)
		return rc;
	return read_u64(c, offset, "tensor offset");
}

/* Place a tensor's data inside the data section, checking alignment and bounds. */
static int
place_tensor(ds_gguf *g, ds_tensor *t, uint64_t offset, char *err)
{
	size_t		avail = g->size - g->data_offset;

	if (offset % g->alignment != 0)
		return ds_error(err, DS_ERR_FORMAT, "tensor \"%s\": data offset %llu is not aligned to %u",
						t->name, (unsigned long long) offset, g->alignment);
	if (offset > avail || t->nbytes > avail - offset)
		return ds_error(err, DS_ERR_FORMAT,
						"tensor \"%s\": data [%llu, +%zu) runs past the end of the file",
						t->name, (unsigned long long) offset, t->nbytes);
	t->data = g->base + g->data_offset + offset;
	return DS_OK;
}

/* Check that no two tensors share a name. */
static int
check_unique_tensors(ds_gguf *g, char *err)
{
	ds_str	   *names = malloc((size_t) (g->n_tensors ? g->n_tensors : 1) * sizeof(ds_str));
	const ds_str **ptrs = malloc((size_t) (g->n_tensors ? g->n_tensors : 1) * sizeof(ds_str *));
	int			rc;

	if (names == NULL || ptrs == NULL)
	{
		free(names);
		free(ptrs);
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < g->n_tensors; i++)
	{
		names[i].ptr = g->tensors[i].name;
		names[i].len = strlen(g->tensors[i].name);
		ptrs[i] = &names[i];
	}
	rc = check_unique(ptrs, g->n_tensors, "tensor name", err);
	free(names);
	free(ptrs);
	return rc;
}

/* Parse the tensor infos, find the data section and place every tensor. */
static int
read_tensors(cursor *c, ds_gguf *g, uint64_t n_tensors)
{
	uint64_t   *offsets;
	int			rc = DS_OK;

	g->tensors = calloc((size_t) (n_tensors ? n_tensors : 1), sizeof(ds_tensor));
	offsets = malloc((size_t) (n_tensors ? n_tensors : 1) * sizeof(uint64_t));
	if (g->tensors == NULL || offsets == NULL)
	{
		free(offsets);
		return ds_error(c->err, DS_ERR_NOMEM, "out of memory for %llu tensor infos",
						(unsigned long long) n_tensors);
	}
	g->n_tensors = (int) n_tensors;
	for (uint64_t i = 0; i < n_tensors && rc == DS_OK; i++)
		rc = read_tensor_info(c, &g->tensors[i], &offsets[i]);
	if (rc == DS_OK)
	{
		/* the data section starts at the next multiple of the alignment */
		size_t		pad = (g->alignment - c->pos % g->alignment) % g->alignment;

		if (n_tensors > 0 && pad > c->size - c->pos)
			rc = ds_error(c->err, DS_ERR_FORMAT, "truncated GGUF file: no data section");
		g->data_offset = n_tensors > 0 ? c->pos + pad : c->pos;
	}
	for (uint64_t i = 0; i < n_tensors && rc == DS_OK; i++)
		rc = place_tensor(g, &g->tensors[i], offsets[i], c->err);
	free(offsets);
	if (rc == DS_OK)
		rc = check_unique_tensors(g, c->err);
	return rc;
}

/* Map the whole file read-only. */
static int
map_file(const char *path, ds_gguf *g, char *err)
{
	struct stat st;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	void	   *p;

	if (fd < 0)
		return ds_error(err, DS_ERR_IO, "could not open \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
	{
		int			e = errno;

		close(fd);
		return ds_error(err, DS_ERR_IO, "could not stat \"%s\": %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 24)
	{
		close(fd);
		return ds_error(err, DS_ERR_FORMAT, "\"%s\" is not a GGUF file (%lld bytes)", path,
						(long long) st.st_size);
	}
	p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return ds_error(err, DS_ERR_IO, "could not map \"%s\": %s", path, strerror(errno));
	g->base = p;
	g->size = (size_t) st.st_size;
	return DS_OK;
}

/* Open, map and validate a GGUF file. */
int
ds_gguf_open(const char *path, ds_gguf **out, char *err)
{
	ds_gguf    *g;
	cursor		c;
	uint64_t	n_tensors = 0;
	int			rc;

	*out = NULL;
	g = calloc(1, sizeof(ds_gguf));
	if (g == NULL)
		return ds_error(err, DS_ERR_NOMEM, "out of memory");
	if ((rc = map_file(path, g, err)) != DS_OK)
	{
		free(g);
		return rc;
	}
	c.base = g->base;
	c.size = g->size;
	c.pos = 0;
	c.err = err;
	if ((rc = read_header(&c, g, &n_tensors)) != DS_OK ||
		(rc = read_alignment(g, err)) != DS_OK ||
		(rc = read_tensors(&c, g, n_tensors)) != DS_OK)
	{
		ds_gguf_close(g);
		return rc;
	}
	*out = g;
	return DS_OK;
}

/* Unmap the file and free the tables. */
void
ds_gguf_close(ds_gguf *g)
{
	if (g == NULL)
		return;
	for (int i = 0; i < g->n_kv; i++)
		free(g->kv[i].strs);
	free(g->kv);
	free(g->tensors);
	if (g->base != NULL)
		munmap((void *) g->base, g->size);
	free(g);
}

/* Number of metadata entries. */
int
ds_gguf_n_kv(const ds_gguf *g)
{
	return g->n_kv;
}

/* Key of entry i (empty when i is out of range). */
ds_str
ds_gguf_kv_key(const ds_gguf *g, int i)
{
	ds_str		none = {"", 0};

	return (i >= 0 && i < g->n_kv) ? g->kv[i].key : none;
}

/* Value type of entry i (UINT8 when i is out of range). */
ds_gguf_type
ds_gguf_kv_type(const ds_gguf *g, int i)
{
	return (i >= 0 && i < g->n_kv) ? g->kv[i].type : DS_GGUF_UINT8;
}

/* Index of a key, or -1. */
int
ds_gguf_find_key(const ds_gguf *g, const char *key)
{
	for (int i = 0; i < g->n_kv; i++)
		if (str_eq(g->kv[i].key, key))
			return i;
	return -1;
}

/* The entry for key, or NULL. */
static const gguf_kv *
find_kv(const ds_gguf *g, const char *key)
{
	int			i = ds_gguf_find_key(g, key);

	return i < 0 ? NULL : &g->kv[i];
}

/* An integer entry as signed/unsigned 64-bit parts; false if not an integer. */
static bool
kv_integer(const gguf_kv *kv, bool *neg, uint64_t *mag)
{
	union
	{
		uint8_t		u8;
		int8_t		i8;
		uint16_t	u16;
		int16_t		i16;
		uint32_t	u32;
		int32_t		i32;
		uint64_t	u64;
		int64_t		i64;
	}			v;
	int64_t		s;

	if (kv == NULL || kv->type == DS_GGUF_STRING || kv->type == DS_GGUF_ARRAY ||
		kv->type == DS_GGUF_FLOAT32 || kv->type == DS_GGUF_FLOAT64 || kv->type == DS_GGUF_BOOL)
		return false;
	memset(&v, 0, sizeof(v));
	memcpy(&v, kv->val, scalar_size(kv->type));
	*neg = false;
	switch (kv->type)
	{
		case DS_GGUF_UINT8:
			*mag = v.u8;
			return true;
		case DS_GGUF_UINT16:
			*mag = v.u16;
			return true;
		case DS_GGUF_UINT32:
			*mag = v.u32;
			return true;
		case DS_GGUF_UINT64:
			*mag = v.u64;
			return true;
		case DS_GGUF_INT8:
			s = v.i8;
			break;
		case DS_GGUF_INT16:
			s = v.i16;
			break;
		case DS_GGUF_INT32:
			s = v.i32;
			break;
		case DS_GGUF_INT64:
			s = v.i64;
			break;
		default:
			return false;
	}
	*neg = s < 0;
	*mag = s < 0 ? (uint64_t) 0 - (uint64_t) s : (uint64_t) s;
	return true;
}

/* An integer key as u32, if it is an integer and fits. */
bool
ds_gguf_get_u32(const ds_gguf *g, const char *key, uint32_t *out)
{
	bool		neg;
	uint64_t	mag;

	if (!kv_integer(find_kv(g, key), &neg, &mag) || neg || mag > UINT32_MAX)
		return false;
	*out = (uint32_t) mag;
	return true;
}

/* An integer key as i64, if it is an integer and fits. */
bool
ds_gguf_get_i64(const ds_gguf *g, const char *key, int64_t *out)
{
	bool		neg;
	uint64_t	mag;

	if (!kv_integer(find_kv(g, key), &neg, &mag))
		return false;
	if (neg)
	{
		if (mag > (uint64_t) INT64_MAX + 1)
			return false;
		*out = mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) mag;
		return true;
	}
	if (mag > (uint64_t) INT64_MAX)
		return false;
	*out = (int64_t) mag;
	return true;
}

/* A FLOAT32 or FLOAT64 key as float. */
bool
ds_gguf_get_f32(const ds_gguf *g, const char *key, float *out)
{
	const gguf_kv *kv = find_kv(g, key);

	if (kv == NULL)
		return false;
	if (kv->type == DS_GGUF_FLOAT32)
	{
		memcpy(out, kv->val, 4);
		return true;
	}
	if (kv->type == DS_GGUF_FLOAT64)
	{
		double		d;

		memcpy(&d, kv->val, 8);
		*out = (float) d;
		return true;
	}
	return false;
}

/* A BOOL key. */
bool
ds_gguf_get_bool(const ds_gguf *g, const char *key, bool *out)
{
	const gguf_kv *kv = find_kv(g, key);

	if (kv == NULL || kv->type != DS_GGUF_BOOL)
		return false;
	*out = kv->val[0] != 0;
	return true;
}

/* A STRING key (points into the mapping, not NUL-terminated). */
bool
ds_gguf_get_str(const ds_gguf *g, const char *key, ds_str *out)
{
	const gguf_kv *kv = find_kv(g, key);

	if (kv == NULL || kv->type != DS_GGUF_STRING)
		return false;
	*out = kv->str;
	return true;
}

/* A numeric array key: element type, count and packed data (false for string arrays). */
bool
ds_gguf_get_arr(const ds_gguf *g, const char *key, ds_gguf_type *elem_type,
				uint64_t *n, const void **data)
{
	const gguf_kv *kv = find_kv(g, key);

	if (kv == NULL || kv->type != DS_GGUF_ARRAY || kv->elem_type == DS_GGUF_STRING)
		return false;
	*elem_type = kv->elem_type;
	*n = kv->n;
	*data = kv->val;
	return true;
}

/* A string array key as the table built at open time. */
bool
ds_gguf_get_str_arr(const ds_gguf *g, const char *key, uint64_t *n, const ds_str **strs)
{
	const gguf_kv *kv = find_kv(g, key);

	if (kv == NULL || kv->type != DS_GGUF_ARRAY || kv->elem_type != DS_GGUF_STRING)
		return false;
	*n = kv->n;
	*strs = kv->strs;
	return true;
}

/* Number of tensors. */
int
ds_gguf_n_tensors(const ds_gguf *g)
{
	return g->n_tensors;
}

/* Tensor i, or NULL when out of range. */
const ds_tensor *
ds_gguf_tensor_at(const ds_gguf *g, int i)
{
	return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

/* Tensor by name, or NULL. */
const ds_tensor *
ds_gguf_find_tensor(const ds_gguf *g, const char *name)
{
	for (int i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

/* Size of the mapped file. */
size_t
ds_gguf_file_size(const ds_gguf *g)
{
	return g->size;
}
