/*
 * mem: the pages start-up leaves behind (see include/baton/mem.h).
 *
 * A file-backed page is mapped into a process on a fault together with its neighbours that
 * are in the page cache (the kernel's fault-around, 64 kB), so once start-up has run, nearly
 * every page of a static binary's code is resident in PID 1, although the loop uses a small
 * part of it. MADV_DONTNEED on a private file mapping only removes the mappings: the next
 * access maps the page again from the page cache, unchanged. On a page that was written to
 * (copied on write), it would throw the change away: /proc/self/pagemap tells the two apart,
 * and only pages that are still the file's are dropped.
 */
#include "baton/mem.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_FILE (UINT64_C(1) << 61) /* file page or shared anonymous: not a private copy */

struct release {
	int pagemap;
	size_t page;
	long dropped;
};

/* Drop the pages of [lo, hi) that are resident and still the file's. */
static void drop_range(struct release *rel, uintptr_t lo, uintptr_t hi)
{
	uint64_t ent[512];
	uintptr_t run = 0;

	for (uintptr_t a = lo; a < hi;) {
		size_t n = (hi - a) / rel->page;
		ssize_t got;

		if (n > sizeof(ent) / sizeof(ent[0]))
			n = sizeof(ent) / sizeof(ent[0]);
		got = pread(rel->pagemap, ent, n * sizeof(ent[0]),
			    (off_t)(a / rel->page * sizeof(ent[0])));
		if (got <= 0)
			break;
		n = (size_t)got / sizeof(ent[0]);
		for (size_t i = 0; i < n; i++, a += rel->page) {
			bool drop = (ent[i] & PM_PRESENT) && (ent[i] & PM_FILE);

			if (drop && !run)
				run = a;
			if (!drop && run) {
				if (madvise((void *)run, a - run, MADV_DONTNEED) == 0)
					rel->dropped += (long)(a - run);
				run = 0;
			}
		}
	}
	if (run && madvise((void *)run, hi - run, MADV_DONTNEED) == 0)
		rel->dropped += (long)(hi - run);
}

/* Each read-only segment of each loaded object, outside its RELRO part (relocated data,
 * private copies by then), rounded inwards to whole pages. */
static int each_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct release *rel = ctx;
	uintptr_t relro_lo = 0, relro_hi = 0;

	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_GNU_RELRO) {
			relro_lo = info->dlpi_addr + ph->p_vaddr;
			relro_hi = relro_lo + ph->p_memsz;
		}
	}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_filesz;
		if (relro_hi > lo && relro_lo < hi)
			continue; /* not worth splitting: never the case with GNU ld's layout */
		lo = (lo + rel->page - 1) & ~(uintptr_t)(rel->page - 1);
		hi &= ~(uintptr_t)(rel->page - 1);
		if (lo < hi)
			drop_range(rel, lo, hi);
	}
	return 0;
}

long mem_release_startup(void)
{
	struct release rel = { .page = (size_t)sysconf(_SC_PAGESIZE) };

	malloc_trim(0);
	rel.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (rel.pagemap < 0)
		return -errno;
	dl_iterate_phdr(each_object, &rel);
	close(rel.pagemap);
	return rel.dropped;
}
