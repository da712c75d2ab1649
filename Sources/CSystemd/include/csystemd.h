#ifndef GRACED_CSYSTEMD_H
#define GRACED_CSYSTEMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

/// What one worker gets. Every pointer must stay valid for the call; nothing here is
/// allocated or freed by graced_spawn, because the child may only call
/// async-signal-safe functions between fork and exec.
typedef struct graced_spawn_request {
    /// Absolute path of the executable (the parent resolved PATH).
    const char *path;
    char *const *argv;
    char *const *envp;
    /// Points into one string of envp ("LISTEN_PID=" followed by room for 20 digits);
    /// the child writes its own pid there. NULL: no LISTEN_PID.
    char *listen_pid_digits;
    /// These fds become 3, 4, ... in the child, in this order; nothing else above 2 survives.
    const int *fds;
    int nfds;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// NULL: inherit graced's working directory.
    const char *directory;
    /// Non-zero: drop to uid/gid with exactly `groups` as supplementary groups.
    int change_ids;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
    /// Signal the child receives when graced dies (0: none). Armed after the uid change,
    /// since the kernel clears it on credential changes.
    int parent_death_signal;
    /// graced's pid, to detect that graced died before the signal was armed.
    pid_t parent_pid;
    /// Non-zero: set RLIMIT_NOFILE to `nofile` (graced raised its own soft limit; the
    /// worker gets the one graced started with, as systemd does).
    int set_nofile;
    struct rlimit nofile;
} graced_spawn_request;

/// Which step of the child failed, reported with its errno.
typedef enum graced_spawn_step {
    GRACED_SPAWN_OK = 0,
    GRACED_SPAWN_FORK,
    GRACED_SPAWN_PIPE,
    GRACED_SPAWN_SIGNALS,
    GRACED_SPAWN_SETSID,
    GRACED_SPAWN_STDIO,
    GRACED_SPAWN_FDS,
    GRACED_SPAWN_CHDIR,
    GRACED_SPAWN_SETGROUPS,
    GRACED_SPAWN_SETGID,
    GRACED_SPAWN_SETUID,
    GRACED_SPAWN_PDEATHSIG,
    GRACED_SPAWN_EXEC,
    GRACED_SPAWN_RLIMIT,
} graced_spawn_step;

/// fork + exec as systemd does for socket activation. Returns the child's pid once the
/// exec succeeded; -1 with *error_number and *failed_step when any step failed (the
/// child is then already reaped).
pid_t graced_spawn(const graced_spawn_request *request, int *error_number, int *failed_step);

/// recvmsg on the notify socket: the datagram, the sender's pid/uid (SCM_CREDENTIALS)
/// and any fds passed with it (SCM_RIGHTS; received close-on-exec).
/// Returns the byte count, or -1 with errno.
ssize_t graced_recv_notify(int fd, char *buffer, size_t size, pid_t *pid, uid_t *uid,
                           gid_t *gid, int *fds, int max_fds, int *nfds);

/// SO_PEERCRED of a connected Unix socket.
int graced_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Sends a notify message with fds attached (fd store); wraps sd_pid_notify_with_fds.
int graced_notify_with_fds(const char *state, const int *fds, unsigned nfds);

/// The sigset graced blocks and reads through signalfd.
int graced_make_sigset(sigset_t *set, const int *signals, int count);

/// pipe2(O_CLOEXEC) and F_SETPIPE_SZ: GNU extensions that Swift's Glibc module hides.
int graced_pipe_cloexec(int fds[2]);
int graced_set_pipe_size(int fd, int size);
/// Random bytes from getrandom(2), for unique socket names.
unsigned graced_random_u32(void);

/// accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK.
int graced_accept_cloexec_nonblock(int fd);

#endif
