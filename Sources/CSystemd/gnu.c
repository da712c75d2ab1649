// GNU/Linux extensions that Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "csystemd.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

int graced_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int graced_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

unsigned graced_random_u32(void) {
    unsigned value = 0;
    if (getrandom(&value, sizeof(value), GRND_NONBLOCK) != sizeof(value)) value = (unsigned)getpid() * 2654435761u;
    return value;
}

int graced_accept_cloexec_nonblock(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }
