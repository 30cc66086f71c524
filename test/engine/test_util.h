/*
 * test_util.h -- tiny helpers shared by the engine tests.
 *
 * Each test program prints one line per check that fails, a summary, and
 * exits 0 (pass), 1 (fail) or 77 (skipped: fixtures absent).  Fixtures are
 * found through $DS_SHARED, else ../shared relative to the repository root
 * (the tests run from the root).
 */
#ifndef DS_TEST_UTIL_H
#define DS_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEST_SKIP_EXIT 77

static int	t_checks;
static int	t_failures;

#define CHECK(cond, ...) \
	do { \
		t_checks++; \
		if (!(cond)) \
		{ \
			t_failures++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fprintf(stderr, "\n"); \
		} \
	} while (0)

/* Directory of the shared fixtures, or NULL (and a loud message) when absent. */
static inline const char *
t_shared_dir(void)
{
	static char buf[4096];
	const char *env = getenv("DS_SHARED");
	struct stat st;

	if (env != NULL && *env != '\0')
		snprintf(buf, sizeof(buf), "%s", env);
	else
		snprintf(buf, sizeof(buf), "../shared");
	if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
	{
		fprintf(stderr, "SKIP: shared fixtures not found at %s (set DS_SHARED)\n", buf);
		return NULL;
	}
	return buf;
}

/* Read a whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
static inline char *
t_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t) n;
	return buf;
}

/* Print the summary and return the exit status. */
static inline int
t_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, t_checks, t_failures);
	return t_failures ? 1 : 0;
}

#endif							/* DS_TEST_UTIL_H */
