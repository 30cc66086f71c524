/*
 * test_gguf.c -- the GGUF reader on every fixture file and on malformed files.
 *
 * A small valid GGUF is built in memory, with the offset of every field that
 * matters recorded; each malformed case patches one field (or truncates the
 * file) and must be rejected with DS_ERR_FORMAT.  Fixture files must open and
 * agree with their .types.txt listing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "gguf.h"
#include "quant.h"
#include "test_util.h"

/* A growing byte buffer. */
typedef struct buf
{
	uint8_t    *p;
	size_t		n;
	size_t		cap;
} buf;

/* Offsets of the fields the malformed cases patch. */
typedef struct layout
{
	size_t		version,
				n_tensors,
				n_kv;
	size_t		key0_len,
				kv0_type,
				arch_len;
	size_t		align_val;
	size_t		toks_elem_type,
				toks_n,
				tok1_len;
	size_t		farr_n;
	size_t		t1_name_len,
				t1_ndims,
				t1_ne0,
				t1_ne1,
				t1_type,
				t1_off;
	size_t		t2_name,
				t2_ne0,
				t2_type,
				t2_off;
	size_t		data;
} layout;

static char tmpdir[64];
static int	case_no;

static void
put(buf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap)
	{
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static size_t
put_u32(buf *b, uint32_t v)
{
	size_t		at = b->n;

	put(b, &v, 4);
	return at;
}

static size_t
put_u64(buf *b, uint64_t v)
{
	size_t		at = b->n;

	put(b, &v, 8);
	return at;
}

/* A GGUF string; returns the offset of its length field. */
static size_t
put_str(buf *b, const char *s)
{
	size_t		at = put_u64(b, strlen(s));

	put(b, s, strlen(s));
	return at;
}

static void
patch_u32(buf *b, size_t at, uint32_t v)
{
	memcpy(b->p + at, &v, 4);
}

static void
patch_u64(buf *b, size_t at, uint64_t v)
{
	memcpy(b->p + at, &v, 8);
}

/* Build the valid file: 8 keys, an F32 [4,2] tensor and a Q8_0 [64] tensor. */
static buf
build_valid(layout *L)
{
	buf			b = {0};
	float		farr[3] = {1, 2, 3};
	double		f64 = 0.5;
	uint8_t		u8 = 7,
				one = 1;
	int32_t		i32 = -5;

	put(&b, "GGUF", 4);
	L->version = put_u32(&b, 3);
	L->n_tensors = put_u64(&b, 2);
	L->n_kv = put_u64(&b, 8);

	L->key0_len = put_str(&b, "general.architecture");
	L->kv0_type = put_u32(&b, DS_GGUF_STRING);
	L->arch_len = put_str(&b, "llama");
	put_str(&b, "general.alignment");
	put_u32(&b, DS_GGUF_UINT32);
	L->align_val = put_u32(&b, 32);
	put_str(&b, "test.u8");
	put_u32(&b, DS_GGUF_UINT8);
	put(&b, &u8, 1);
	put_str(&b, "test.i32");
	put_u32(&b, DS_GGUF_INT32);
	put(&b, &i32, 4);
	put_str(&b, "tokenizer.ggml.tokens");
	put_u32(&b, DS_GGUF_ARRAY);
	L->toks_elem_type = put_u32(&b, DS_GGUF_STRING);
	L->toks_n = put_u64(&b, 3);
	put_str(&b, "a");
	L->tok1_len = put_str(&b, "bc");
	put_str(&b, "");
	put_str(&b, "test.farr");
	put_u32(&b, DS_GGUF_ARRAY);
	put_u32(&b, DS_GGUF_FLOAT32);
	L->farr_n = put_u64(&b, 3);
	put(&b, farr, sizeof(farr));
	put_str(&b, "test.f64");
	put_u32(&b, DS_GGUF_FLOAT64);
	put(&b, &f64, 8);
	put_str(&b, "test.bool");
	put_u32(&b, DS_GGUF_BOOL);
	put(&b, &one, 1);

	L->t1_name_len = put_str(&b, "t.f32");
	L->t1_ndims = put_u32(&b, 2);
	L->t1_ne0 = put_u64(&b, 4);
	L->t1_ne1 = put_u64(&b, 2);
	L->t1_type = put_u32(&b, DS_TYPE_F32);
	L->t1_off = put_u64(&b, 0);
	L->t2_name = put_str(&b, "t.q80");
	put_u32(&b, 1);
	L->t2_ne0 = put_u64(&b, 64);
	L->t2_type = put_u32(&b, DS_TYPE_Q8_0);
	L->t2_off = put_u64(&b, 32);

	while (b.n % 32 != 0)
		put(&b, "", 1);
	L->data = b.n;
	for (int i = 0; i < 8; i++)
	{
		float		v = (float) i;

		put(&b, &v, 4);
	}
	for (int blk = 0; blk < 2; blk++)
	{
		ds_block_q8_0 q;

		q.d = ds_f32_to_f16(0.25f);
		for (int j = 0; j < 32; j++)
			q.qs[j] = (int8_t) (j - 16);
		put(&b, &q, sizeof(q));
	}
	return b;
}

/* Write n bytes to a fresh temp file and open it. */
static int
open_bytes(const uint8_t *p, size_t n, ds_gguf **g, char *err)
{
	char		path[128];
	FILE	   *f;
	int			rc;

	snprintf(path, sizeof(path), "%s/case%d.gguf", tmpdir, case_no++);
	f = fopen(path, "wb");
	if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n))
		abort();
	fclose(f);
	rc = ds_gguf_open(path, g, err);
	unlink(path);
	return rc;
}

/* The file must be rejected with a format error and a message. */
static void
expect_format(const buf *b, const char *what)
{
	ds_gguf    *g = NULL;
	char		err[DS_ERRLEN] = "";
	int			rc = open_bytes(b->p, b->n, &g, err);

	CHECK(rc == DS_ERR_FORMAT && g == NULL && err[0] != '\0',
		  "%s: expected a format error, got %d (%s)", what, rc, err);
	if (g != NULL)
		ds_gguf_close(g);
	if (getenv("DS_TEST_VERBOSE"))
		printf("  %-40s -> %s\n", what, err);
}

/* Check the valid file's contents through every getter. */
static void
test_valid(void)
{
	layout		L;
	buf			b = build_valid(&L);
	ds_gguf    *g;
	char		err[DS_ERRLEN] = "";
	int			rc = open_bytes(b.p, b.n, &g, err);
	uint32_t	u32;
	int64_t		i64;
	float		f;
	bool		bl;
	ds_str		s;
	uint64_t	n;
	const ds_str *strs;
	ds_gguf_type et;
	const void *data;
	const ds_tensor *t;

	CHECK(rc == DS_OK, "valid file rejected: %s", err);
	if (rc != DS_OK)
		return;
	CHECK(ds_gguf_n_kv(g) == 8, "n_kv");
	CHECK(ds_gguf_get_str(g, "general.architecture", &s) && s.len == 5 &&
		  memcmp(s.ptr, "llama", 5) == 0, "architecture");
	CHECK(ds_gguf_get_u32(g, "test.u8", &u32) && u32 == 7, "u8 as u32");
	CHECK(!ds_gguf_get_u32(g, "test.i32", &u32), "negative i32 must not read as u32");
	CHECK(ds_gguf_get_i64(g, "test.i32", &i64) && i64 == -5, "i32 as i64");
	CHECK(ds_gguf_get_f32(g, "test.f64", &f) && f == 0.5f, "f64 as f32");
	CHECK(!ds_gguf_get_f32(g, "test.u8", &f), "u8 is not a float");
	CHECK(ds_gguf_get_bool(g, "test.bool", &bl) && bl, "bool");
	CHECK(!ds_gguf_get_str(g, "missing.key", &s), "missing key");
	CHECK(ds_gguf_get_str_arr(g, "tokenizer.ggml.tokens", &n, &strs) && n == 3 &&
		  strs[1].len == 2 && memcmp(strs[1].ptr, "bc", 2) == 0 && strs[2].len == 0,
		  "string array");
	CHECK(!ds_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data),
		  "string array through get_arr");
	CHECK(ds_gguf_get_arr(g, "test.farr", &et, &n, &data) && et == DS_GGUF_FLOAT32 &&
		  n == 3, "float array");
	CHECK(ds_gguf_n_tensors(g) == 2, "n_tensors");
	t = ds_gguf_find_tensor(g, "t.q80");
	CHECK(t != NULL && t->type == DS_TYPE_Q8_0 && t->n_elements == 64 && t->nbytes == 68 &&
		  (const uint8_t *) t->data - (const uint8_t *) ds_gguf_tensor_at(g, 0)->data == 32,
		  "q8 tensor");
	t = ds_gguf_find_tensor(g, "t.f32");
	CHECK(t != NULL && t->ne[0] == 4 && t->ne[1] == 2 && t->ne[2] == 1 &&
		  ((const float *) t->data)[5] == 5.0f && ((uintptr_t) t->data % 32) == 0,
		  "f32 tensor");
	CHECK(ds_gguf_file_size(g) == b.n, "file size");
	ds_gguf_close(g);
	free(b.p);
}

/* Every proper prefix of the valid file must be rejected. */
static void
test_truncated(void)
{
	layout		L;
	buf			b = build_valid(&L);
	int			bad = 0;

	for (size_t n = 0; n < b.n; n++)
	{
		ds_gguf    *g = NULL;
		char		err[DS_ERRLEN] = "";
		int			rc = open_bytes(b.p, n, &g, err);

		if (rc != DS_ERR_FORMAT || g != NULL)
		{
			bad++;
			fprintf(stderr, "FAIL truncated at %zu: rc %d (%s)\n", n, rc, err);
		}
		if (g != NULL)
			ds_gguf_close(g);
	}
	t_checks++;
	if (bad)
		t_failures++;
	free(b.p);
}

typedef enum
{
	P32,
	P64
} width;

/* One malformed case: patch one field of the valid file. */
typedef struct patch_case
{
	const char *what;
	size_t		layout_field;	/* offsetof(layout, field) */
	width		w;
	uint64_t	value;
} patch_case;

#define F(f) offsetof(layout, f)

static const patch_case cases[] = {
	{"version 1", F(version), P32, 1},
	{"version 4", F(version), P32, 4},
	{"huge tensor count", F(n_tensors), P64, UINT64_MAX},
	{"tensor count 2^40", F(n_tensors), P64, 1ull << 40},
	{"one tensor too many", F(n_tensors), P64, 3},
	{"huge metadata count", F(n_kv), P64, UINT64_MAX},
	{"metadata count 2^33", F(n_kv), P64, 1ull << 33},
	{"one key too many", F(n_kv), P64, 9},
	{"key length past EOF", F(key0_len), P64, 1ull << 40},
	{"key length 2^64-1", F(key0_len), P64, UINT64_MAX},
	{"unknown value type", F(kv0_type), P32, 13},
	{"value type 2^32-1", F(kv0_type), P32, UINT32_MAX},
	{"string value past EOF", F(arch_len), P64, 100000},
	{"string value length 2^64-8", F(arch_len), P64, UINT64_MAX - 7},
	{"alignment 0", F(align_val), P32, 0},
	{"alignment 3", F(align_val), P32, 3},
	{"alignment 2^31", F(align_val), P32, 1u << 31},
	{"nested array", F(toks_elem_type), P32, DS_GGUF_ARRAY},
	{"array element type 99", F(toks_elem_type), P32, 99},
	{"string array count huge", F(toks_n), P64, UINT64_MAX / 8 + 1},
	{"string array count 2^40", F(toks_n), P64, 1ull << 40},
	{"array string past EOF", F(tok1_len), P64, 1ull << 33},
	{"float array count overflow", F(farr_n), P64, UINT64_MAX / 2},
	{"float array count past EOF", F(farr_n), P64, 100000},
	{"empty tensor name", F(t1_name_len), P64, 0},
	{"tensor name past EOF", F(t1_name_len), P64, 1ull << 50},
	{"n_dims 0", F(t1_ndims), P32, 0},
	{"n_dims 5", F(t1_ndims), P32, 5},
	{"n_dims 2^32-1", F(t1_ndims), P32, UINT32_MAX},
	{"zero dimension", F(t1_ne0), P64, 0},
	{"negative dimension", F(t1_ne1), P64, (uint64_t) -1},
	{"dimension 2^63", F(t1_ne1), P64, 1ull << 63},
	{"element count overflow", F(t1_ne1), P64, 1ull << 62},
	{"data larger than file", F(t1_ne1), P64, 1ull << 30},
	{"unknown type 99", F(t1_type), P32, 99},
	{"removed type 4", F(t1_type), P32, 4},
	{"type 2^32-1", F(t1_type), P32, UINT32_MAX},
	{"tensor offset past EOF", F(t1_off), P64, 1ull << 40},
	{"tensor offset near 2^64", F(t1_off), P64, UINT64_MAX - 31},
	{"misaligned tensor offset", F(t1_off), P64, 1},
	{"misaligned second offset", F(t2_off), P64, 40},
	{"second tensor past EOF", F(t2_off), P64, 64},
	{"q8 row not a block multiple", F(t2_ne0), P64, 48},
	{"unknown type for q8 tensor", F(t2_type), P32, 39},
};

/* Every single-field corruption must be rejected. */
static void
test_patched(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		layout		L;
		buf			b = build_valid(&L);
		size_t		at = *(size_t *) ((char *) &L + cases[i].layout_field);

		if (cases[i].w == P32)
			patch_u32(&b, at, (uint32_t) cases[i].value);
		else
			patch_u64(&b, at, cases[i].value);
		expect_format(&b, cases[i].what);
		free(b.p);
	}
}

/* Cases that are not a single patch: magic, duplicates, empty and missing files. */
static void
test_other(void)
{
	layout		L;
	buf			b = build_valid(&L);
	ds_gguf    *g = NULL;
	char		err[DS_ERRLEN];

	b.p[0] = 'X';
	expect_format(&b, "bad magic");
	b.p[0] = 'G';
	memcpy(b.p + L.t2_name + 8, "t.f32", 5);	/* "t.q80" -> "t.f32" */
	expect_format(&b, "duplicate tensor name");
	free(b.p);

	b = build_valid(&L);
	memcpy(memmem(b.p, b.n, "test.f64", 8), "test.i32", 8);
	expect_format(&b, "duplicate key");
	free(b.p);

	CHECK(open_bytes((const uint8_t *) "", 0, &g, err) == DS_ERR_FORMAT, "empty file");
	CHECK(ds_gguf_open("/nonexistent/x.gguf", &g, err) == DS_ERR_IO && g == NULL,
		  "missing file gives an i/o error");
}

/* Random byte flips in the header: any result but a crash is fine. */
static void
test_fuzz(void)
{
	layout		L;
	buf			b = build_valid(&L);
	uint64_t	s = 0x9e3779b97f4a7c15ull;
	int			ok = 0,
				rejected = 0;

	for (int iter = 0; iter < 3000; iter++)
	{
		buf			c = {0};
		ds_gguf    *g = NULL;
		char		err[DS_ERRLEN];
		int			rc;

		put(&c, b.p, b.n);
		for (int k = 0; k < 1 + iter % 4; k++)
		{
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			c.p[s % L.data] = (uint8_t) (s >> 32);
		}
		rc = open_bytes(c.p, c.n, &g, err);
		if (rc == DS_OK)
		{
			/* whatever opened must be self-consistent */
			for (int i = 0; i < ds_gguf_n_tensors(g); i++)
			{
				const ds_tensor *t = ds_gguf_tensor_at(g, i);
				CHECK(t->nbytes <= ds_gguf_file_size(g), "fuzz: tensor larger than file");
			}
			ds_gguf_close(g);
			ok++;
		}
		else
		{
			CHECK(rc == DS_ERR_FORMAT || rc == DS_ERR_NOMEM, "fuzz: rc %d (%s)", rc, err);
			rejected++;
		}
		free(c.p);
	}
	printf("fuzz: %d opened, %d rejected\n", ok, rejected);
	free(b.p);
}

/* Compare one fixture model with its .types.txt listing. */
static void
check_types_txt(const ds_gguf *g, const char *path)
{
	char	   *txt = t_read_file(path, NULL);
	char	   *line,
			   *save = NULL;
	int			listed = 0;

	if (txt == NULL)
		return;
	for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char		name[96],
					type[16];
		long long	ne[4] = {1, 1, 1, 1};
		int			nd;
		const ds_tensor *t;

		if (line[0] == '=')
			continue;
		nd = sscanf(line, " %95s %15s ne=[%lld, %lld, %lld, %lld]", name, type,
					&ne[0], &ne[1], &ne[2], &ne[3]);
		if (nd < 3)
			continue;
		listed++;
		t = ds_gguf_find_tensor(g, name);
		CHECK(t != NULL, "%s: tensor %s missing", path, name);
		if (t == NULL)
			continue;
		CHECK(strcmp(ds_type_name(t->type), type) == 0, "%s: %s type %s != %s", path, name,
			  ds_type_name(t->type), type);
		CHECK(t->n_dims == nd - 2, "%s: %s n_dims", path, name);
		for (int d = 0; d < 4; d++)
			CHECK(t->ne[d] == ne[d], "%s: %s ne[%d]", path, name, d);
	}
	CHECK(listed == ds_gguf_n_tensors(g), "%s: %d listed, %d in file", path, listed,
		  ds_gguf_n_tensors(g));
	free(txt);
}

/* Open every .gguf in a fixture directory. */
static int
open_dir(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		char		path[4096],
					types[4200];
		size_t		len = strlen(e->d_name);
		ds_gguf    *g;
		char		err[DS_ERRLEN] = "";
		int			rc;

		if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = ds_gguf_open(path, &g, err);
		CHECK(rc == DS_OK, "%s: %s", path, err);
		if (rc != DS_OK)
			continue;
		n++;
		snprintf(types, sizeof(types), "%.*s.types.txt", (int) (strlen(path) - 5), path);
		check_types_txt(g, types);
		ds_gguf_close(g);
	}
	closedir(d);
	return n;
}

/* Every fixture GGUF opens and matches its listing. */
static void
test_fixtures(void)
{
	const char *shared = t_shared_dir();
	char		dir[4200];
	int			n;

	if (shared == NULL)
	{
		printf("SKIP fixture files: shared fixtures not found\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/fixtures/reference/models", shared);
	n = open_dir(dir);
	snprintf(dir, sizeof(dir), "%s/fixtures/tokenizer", shared);
	n += open_dir(dir);
	CHECK(n >= 8, "expected at least 8 fixture GGUFs, opened %d", n);
	printf("fixtures: %d GGUF files opened\n", n);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds_gguf_XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	test_valid();
	test_truncated();
	test_patched();
	test_other();
	test_fuzz();
	test_fixtures();
	rmdir(tmpdir);
	return t_finish("test_gguf");
}
