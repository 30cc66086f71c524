/*
 * utf8.c -- UTF-8 validation shared by the tokenizer and the engine.
 */
#include "utf8.h"

/* Length of the UTF-8 character at s: > 0 valid, 0 incomplete, -1 invalid. */
int
ds_utf8_char(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int			len;
	unsigned char lo = 0x80,
				hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return -1;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	for (int i = 1; i < len; i++)
	{
		if ((size_t) i >= n)
			return 0;
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF))
			return -1;
	}
	return len;
}
