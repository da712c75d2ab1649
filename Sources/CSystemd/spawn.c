// The fork/exec helper. Everything between fork() and execve() runs in the child of a
// process that may have other threads, so it calls only async-signal-safe functions
// (signal-safety(7)) and allocates nothing.
#define _GNU_SOURCE
#include "csystemd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void child_fail(int report_fd, int step) {
    int payload[2] = { step, errno };
    ssize_t ignored = write(report_fd, payload, sizeof(payload));
    (void)ignored;
    _exit(127);
}

static void write_decimal(char *out, long value) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0 && n < 22);
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

/// Closes every fd from `first` up, except `keep`.
static int close_from(int first, int keep) {
    long rc = 0;
    if (keep >= first) {
        if (keep > first) rc = syscall(SYS_close_range, (unsigned)first, (unsigned)(keep - 1), 0U);
        if (rc == 0) rc = syscall(SYS_close_range, (unsigned)(keep + 1), ~0U, 0U);
    } else {
        rc = syscall(SYS_close_range, (unsigned)first, ~0U, 0U);
    }
    if (rc == 0) return 0;
    if (errno != ENOSYS) return -1;
    for (int fd = first; fd < 65536; fd++) {
        if (fd != keep) close(fd);
    }
    return 0;
}

static void run_child(const graced_spawn_request *r, int report_fd) {
    // Dispositions and mask are inherited through fork: reset them so the worker starts
    // as if exec'd by a shell (graced blocks SIGCHLD/SIGTERM/... for its signalfd).
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    // glibc refuses its reserved real-time signals (32: thread cancellation, 33: SIGSETXID,
    // which setresuid may use internally). They are reset with the raw system call after
    // the uid change, since an ignored one would still survive exec.
    int reserved[8];
    int nreserved = 0;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (sigaction(sig, &dfl, NULL) != 0 && nreserved < 8) reserved[nreserved++] = sig;
    }
    sigset_t empty;
    sigemptyset(&empty);
    if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) child_fail(report_fd, GRACED_SPAWN_SIGNALS);

    // Own session and process group: a Ctrl-C in graced's terminal is graced's to handle.
    if (setsid() < 0) child_fail(report_fd, GRACED_SPAWN_SETSID);

    // Move everything we still need above the target range first, so that the dup2s
    // below never overwrite a source fd that is still to be moved.
    int floor = 3 + r->nfds;
    int moved_report = fcntl(report_fd, F_DUPFD_CLOEXEC, floor);
    if (moved_report < 0) child_fail(report_fd, GRACED_SPAWN_FDS);
    report_fd = moved_report;

    int stdio[3] = { r->stdin_fd, r->stdout_fd, r->stderr_fd };
    for (int i = 0; i < 3; i++) {
        int moved = fcntl(stdio[i], F_DUPFD_CLOEXEC, floor);
        if (moved < 0) child_fail(report_fd, GRACED_SPAWN_STDIO);
        stdio[i] = moved;
    }
    // At most a few listeners: a fixed array keeps the child allocation-free.
    int sources[256];
    if (r->nfds > 256) { errno = EMFILE; child_fail(report_fd, GRACED_SPAWN_FDS); }
    for (int i = 0; i < r->nfds; i++) {
        sources[i] = fcntl(r->fds[i], F_DUPFD_CLOEXEC, floor);
        if (sources[i] < 0) child_fail(report_fd, GRACED_SPAWN_FDS);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(stdio[i], i) < 0) child_fail(report_fd, GRACED_SPAWN_STDIO);
    }
    for (int i = 0; i < r->nfds; i++) {
        // dup2 leaves the new fd without FD_CLOEXEC: exactly these survive exec.
        if (dup2(sources[i], 3 + i) < 0) child_fail(report_fd, GRACED_SPAWN_FDS);
    }
    if (close_from(floor, report_fd) != 0) child_fail(report_fd, GRACED_SPAWN_FDS);

    if (r->directory != NULL && chdir(r->directory) != 0) child_fail(report_fd, GRACED_SPAWN_CHDIR);

    // Not in signal-safety(7)'s list, but glibc's setrlimit is the bare prlimit64 system
    // call (no lock, no allocation), as in systemd's own fork/exec path.
    if (r->set_nofile && setrlimit(RLIMIT_NOFILE, &r->nofile) != 0)
        child_fail(report_fd, GRACED_SPAWN_RLIMIT);

    if (r->change_ids) {
        if (setgroups((size_t)r->ngroups, r->groups) != 0) child_fail(report_fd, GRACED_SPAWN_SETGROUPS);
        if (setresgid(r->gid, r->gid, r->gid) != 0) child_fail(report_fd, GRACED_SPAWN_SETGID);
        if (setresuid(r->uid, r->uid, r->uid) != 0) child_fail(report_fd, GRACED_SPAWN_SETUID);
    }

    for (int i = 0; i < nreserved; i++) {
        struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } kernel_dfl = { 0 };
        syscall(SYS_rt_sigaction, reserved[i], &kernel_dfl, NULL, sizeof(kernel_dfl.mask));
    }

    if (r->parent_death_signal > 0) {
        if (prctl(PR_SET_PDEATHSIG, (unsigned long)r->parent_death_signal, 0, 0, 0) != 0)
            child_fail(report_fd, GRACED_SPAWN_PDEATHSIG);
        // graced may have died before the prctl: then nobody would ever signal us.
        if (getppid() != r->parent_pid) _exit(0);
    }

    if (r->listen_pid_digits != NULL) write_decimal(r->listen_pid_digits, (long)getpid());

    execve(r->path, r->argv, r->envp);
    child_fail(report_fd, GRACED_SPAWN_EXEC);
}

pid_t graced_spawn(const graced_spawn_request *request, int *error_number, int *failed_step) {
    int report[2];
    *error_number = 0;
    *failed_step = GRACED_SPAWN_OK;
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error_number = errno;
        *failed_step = GRACED_SPAWN_PIPE;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *error_number = errno;
        *failed_step = GRACED_SPAWN_FORK;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        run_child(request, report[1]);
        _exit(127);  // not reached
    }
    close(report[1]);
    // EOF means the exec succeeded (the pipe was close-on-exec); a payload is a failure.
    int payload[2];
    ssize_t got;
    size_t have = 0;
    while (have < sizeof(payload)) {
        got = read(report[0], (char *)payload + have, sizeof(payload) - have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        have += (size_t)got;
    }
    close(report[0]);
    if (have == sizeof(payload)) {
        *failed_step = payload[0];
        *error_number = payload[1];
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -1;
    }
    return pid;
}
