/*
 * utf8.h -- UTF-8 validation shared by the tokenizer and the engine.
 */
#ifndef DS_UTF8_H
#define DS_UTF8_H

#include <stddef.h>

/*
 * Length of the UTF-8 character at s (n >= 1 bytes available): > 0 when it is
 * complete and valid (shortest form, no surrogates, at most U+10FFFF), 0 when
 * it is a valid but incomplete start, -1 when it is invalid.
 */
int			ds_utf8_char(const unsigned char *s, size_t n);

#endif							/* DS_UTF8_H */
