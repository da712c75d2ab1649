// Socket calls whose ancillary data (CMSG_* macros) Swift cannot express.
#define _GNU_SOURCE
#include "csystemd.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

ssize_t graced_recv_notify(int fd, char *buffer, size_t size, pid_t *pid, uid_t *uid,
                           gid_t *gid, int *fds, int max_fds, int *nfds) {
    union {
        struct cmsghdr align;
        char data[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 64)];
    } control;
    struct iovec iov = { .iov_base = buffer, .iov_len = size };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    memset(&control, 0, sizeof(control));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &control;
    msg.msg_controllen = sizeof(control);
    *pid = 0;
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    *nfds = 0;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            *pid = cred.pid;
            *uid = cred.uid;
            *gid = cred.gid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *received = (int *)CMSG_DATA(c);
            for (int i = 0; i < count; i++) {
                if (*nfds < max_fds) fds[(*nfds)++] = received[i];
                else close(received[i]);  // never leak what we cannot hand back
            }
        }
    }
    if (msg.msg_flags & MSG_TRUNC) { errno = EMSGSIZE; return -2; }
    return n;
}

int graced_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int graced_notify_with_fds(const char *state, const int *fds, unsigned nfds) {
    return sd_pid_notify_with_fds(0, 0, state, fds, nfds);
}

int graced_make_sigset(sigset_t *set, const int *signals, int count) {
    if (sigemptyset(set) != 0) return -1;
    for (int i = 0; i < count; i++) {
        if (sigaddset(set, signals[i]) != 0) return -1;
    }
    return 0;
}
