/* Diagnostic only, not part of tsuchi: an LD_PRELOAD shim that sets TCP_NODELAY on every
 * TCP socket right after connect(), to show that tsuchi's send rate against a loopback relay
 * is bound by Nagle's algorithm + delayed ACK (see docs/PERFORMANCE.md).
 *   gcc -O2 -shared -fPIC -o /tmp/nodelay.so bench/nodelay_preload.c -ldl
 *   LD_PRELOAD=/tmp/nodelay.so tsuchi send ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    int rc = real(fd, addr, len);
    if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return rc;
}
