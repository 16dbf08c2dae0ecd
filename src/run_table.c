/*
 * run_table: the per-worker tables modules keep, grown with the pool (see src/run_int.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run_int.h"

int run_table_reserve(void *table, size_t elem, int *cap, int w, int want)
{
	char **base = table, *grown;
	int n = *cap;

	if (w < *cap)
		return 0;
	if (want <= w)
		want = w + 1;
	while (n < want)
		n = n ? n * 2 : 8;
	grown = realloc(*base, (size_t)n * elem);
	if (!grown)
		return -ENOMEM;
	memset(grown + (size_t)*cap * elem, 0, (size_t)(n - *cap) * elem);
	*base = grown;
	*cap = n;
	return 0;
}
