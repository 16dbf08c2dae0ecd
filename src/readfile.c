/*
 * readfile: small files read whole (see include/baton/readfile.h).
 */
#include "baton/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t rf_read_at(int dirfd, const char *name, char *buf, size_t len)
{
	int fd;
	ssize_t n;

	if (len == 0)
		return -EINVAL;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}
