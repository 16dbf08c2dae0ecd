/*
 * mem: hand back the memory that start-up used and the loop does not need.
 */
#ifndef BATON_MEM_H
#define BATON_MEM_H

#include <stddef.h>

/*
 * Once, when set-up is over and before the loop: returns the free heap to the kernel
 * (malloc_trim), and unmaps the pages of baton's own code and read-only data that start-up
 * touched (glibc's start, option parsing, the sandbox and socket set-up). Those pages stay in
 * the page cache: what the loop runs faults back in on first use, so PID 1's resident memory
 * is what it uses, not what it once used. Only pages that are still the file's are dropped
 * (a page written to, such as a debugger's breakpoint, is kept), and nothing writable is
 * touched. Best effort: returns the number of bytes unmapped, or -errno when /proc is not
 * there to tell which pages are safe to drop (nothing is then dropped but the heap).
 */
long mem_release_startup(void);

#endif
