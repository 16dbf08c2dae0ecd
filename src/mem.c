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
 *
 * Everything is found first and dropped last, in one loop that makes its system calls
 * itself: code that ran after a drop (the madvise wrapper, dl_iterate_phdr, the pagemap
 * reads) would fault its 64 kB back in at once.
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
#include <sys/syscall.h>
#include <unistd.h>

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_FILE (UINT64_C(1) << 61) /* file page or shared anonymous: not a private copy */

#define MAX_SPANS 32
#define MAX_RUNS 256

/* How far below the dropping frame the dead stack is given back, and what is left alone
 * there (the frame itself makes no call that needs stack). */
#define STACK_SPAN (1u << 20)
#define STACK_MARGIN 256u

struct run {
	uintptr_t lo, hi;
};

struct release {
	int pagemap;
	uintptr_t page;
	struct run spans[MAX_SPANS];
	size_t n_spans;
	struct run runs[MAX_RUNS];
	size_t n_runs;
};

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
	for (int i = 0; i < info->dlpi_phnum && rel->n_spans < MAX_SPANS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo, hi;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_filesz;
		if (relro_hi > lo && relro_lo < hi)
			continue; /* not worth splitting: never the case with GNU ld's layout */
		lo = (lo + rel->page - 1) & ~(rel->page - 1);
		hi &= ~(rel->page - 1);
		if (lo < hi)
			rel->spans[rel->n_spans++] = (struct run){ lo, hi };
	}
	return 0;
}

static void add_run(struct release *rel, uintptr_t lo, uintptr_t hi)
{
	if (rel->n_runs > 0 && rel->runs[rel->n_runs - 1].hi == lo)
		rel->runs[rel->n_runs - 1].hi = hi;
	else if (rel->n_runs < MAX_RUNS)
		rel->runs[rel->n_runs++] = (struct run){ lo, hi };
}

/* The resident pages of [lo, hi) that are still the file's, as runs. */
static void find_runs(struct release *rel, uintptr_t lo, uintptr_t hi)
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
				add_run(rel, run, a);
				run = 0;
			}
		}
	}
	if (run)
		add_run(rel, run, hi);
}

static inline __attribute__((always_inline)) long sys_madvise(uintptr_t addr, size_t len)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_madvise), "D"(addr), "S"(len), "d"((long)MADV_DONTNEED)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_madvise;
	register long x0 __asm__("x0") = (long)addr;
	register long x1 __asm__("x1") = (long)len;
	register long x2 __asm__("x2") = MADV_DONTNEED;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
#else
	return madvise((void *)addr, len, MADV_DONTNEED) < 0 ? -errno : 0;
#endif
}

/*
 * The drops, and then the stack below this frame, which is dead: start-up went deeper
 * (option parsing, log lines, the sandbox's set-up) than the loop will. Only this process
 * uses this stack (no threads, no alternate signal stack, no signal handler runs: signals
 * are blocked and read from a signalfd), and this frame calls nothing. The span below the
 * stack is a gap of at least 128 MB to the next mapping: the kernel answers ENOMEM for the
 * part of it that is not mapped and drops the rest.
 */
static __attribute__((noinline)) long drop_runs(const struct run *runs, size_t n, uintptr_t page)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t hi = (sp - STACK_MARGIN) & ~(page - 1);
	long dropped = 0;

	for (size_t i = 0; i < n; i++)
		if (sys_madvise(runs[i].lo, runs[i].hi - runs[i].lo) == 0)
			dropped += (long)(runs[i].hi - runs[i].lo);
	if (hi > STACK_SPAN)
		(void)sys_madvise(hi - STACK_SPAN, STACK_SPAN);
	return dropped;
}

long mem_release_startup(void)
{
	struct release rel = { .page = (uintptr_t)sysconf(_SC_PAGESIZE) };

	malloc_trim(0);
	rel.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (rel.pagemap < 0)
		return -errno;
	dl_iterate_phdr(each_object, &rel);
	for (size_t i = 0; i < rel.n_spans; i++)
		find_runs(&rel, rel.spans[i].lo, rel.spans[i].hi);
	close(rel.pagemap);
	return drop_runs(rel.runs, rel.n_runs, rel.page);
}
