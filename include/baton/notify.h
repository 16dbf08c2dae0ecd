/*
 * notify: the receiving end of the sd_notify protocol (`--ready notify`).
 *
 * baton opens one datagram socket, exports its address to every worker as NOTIFY_SOCKET,
 * and reads "READY=1", "STATUS=...", "MAINPID=..." and "STOPPING=1" from it. The sender is
 * identified by the kernel (SCM_CREDENTIALS), never by what the message claims.
 *
 * Matching a sender to a worker is the caller's job, and the sender is often not the worker
 * itself: `systemd-notify --ready` in a shell script, or a language runtime's helper, sends
 * from a child process. The caller should accept a message when the sender pid is
 *   - the worker's pid,
 *   - the MAINPID the worker announced earlier, or
 *   - a member of the worker's process group: ntf_sender_group(sender) == worker pid (each
 *     worker leads its own group, and children stay in it unless they call setsid/setpgid).
 * Anything else (a process from another pid namespace shows as pid 0 and is dropped here) is
 * ignored.
 */
#ifndef BATON_NOTIFY_H
#define BATON_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Datagrams larger than this are rejected whole, as systemd does (its limit is the same). */
#define NTF_DGRAM_MAX 4096
/* STATUS= text is cut to this many bytes (including the NUL), for baton's log. */
#define NTF_STATUS_MAX 256

struct ntf_msg {
	pid_t sender;     /* from SCM_CREDENTIALS (0 from ntf_parse alone) */
	bool ready;       /* READY=1 */
	bool stopping;    /* STOPPING=1 */
	bool reloading;   /* RELOADING=1 */
	bool watchdog;    /* WATCHDOG=1: a heartbeat for --watchdog */
	bool has_status;  /* STATUS= was present (possibly empty) */
	char status[NTF_STATUS_MAX]; /* control characters replaced by ' ' */
	pid_t mainpid;    /* MAINPID=n, or 0 if absent */
};

/*
 * Open the socket: SOCK_DGRAM, close-on-exec, non-blocking, SO_PASSCRED on (so the kernel
 * attaches every sender's pid, whether or not the sender sends credentials itself).
 *
 * dir NULL (the normal case): an abstract socket with a kernel-chosen unique name, exported
 * as "@NAME". libsystemd, go-systemd, the Python and Rust sd_notify clients and
 * systemd-notify all accept the '@' form. An abstract name needs no writable directory (a
 * read-only root file system works), leaves no file to clean up, and has no file mode, so
 * workers running as another user can send to it; the credentials check replaces the file
 * permission check. Letting the kernel pick the name avoids clashes between containers that
 * share a network namespace (a Kubernetes pod), where every baton is PID 1.
 * If the abstract socket cannot be made, "/run" and then "/tmp" are tried as for a dir.
 *
 * dir given: a socket file "DIR/baton-notify-XXXXXXXX" (random suffix), mode 0666 for the
 * same reason as above; exported as its absolute path. ntf_close removes it.
 *
 * Returns 0 with the NOTIFY_SOCKET value in path_out and the fd in *fd_out, or -errno
 * (-ENAMETOOLONG when path_out or the socket address cannot hold the name).
 */
int ntf_open(const char *dir, char *path_out, size_t len, int *fd_out);

/* Close the socket and remove its file (nothing to remove for an '@' address). NULL-safe. */
void ntf_close(int fd, const char *path);

/*
 * Read one datagram. Returns
 *   0        a well-formed message from a known sender, in *msg;
 *   -EAGAIN  the queue is empty: stop reading until the fd is readable again;
 *   -EBADMSG one datagram was read and dropped (larger than NTF_DGRAM_MAX, no credentials
 *            or pid 0, or malformed): keep reading;
 *   other    -errno from recvmsg.
 * File descriptors sent along (FDSTORE=1, the BARRIER=1 of `systemd-notify`) are closed at
 * once: baton stores none, and closing the barrier's fd is what tells the sender that
 * everything before it was read.
 */
int ntf_recv(int fd, struct ntf_msg *msg);

/*
 * Parse the text of one datagram: assignments separated by newlines, empty lines allowed.
 * Known: READY=1, STOPPING=1, RELOADING=1 (other values are ignored, as systemd does),
 * STATUS=text, MAINPID=n (decimal, 2..INT_MAX). Unknown variables are ignored. Malformed
 * (-EINVAL, *msg cleared): empty input, a NUL byte, a line without '=' or with an empty
 * name, a bad MAINPID. Pure; sets msg->sender to 0.
 */
int ntf_parse(const char *buf, size_t len, struct ntf_msg *msg);

/*
 * The process group of sender (getpgid), to match a notification sent by a child of a
 * worker; -errno (-ESRCH when the sender is gone) otherwise.
 */
pid_t ntf_sender_group(pid_t sender);

#endif
