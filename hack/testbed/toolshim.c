/* Client of a node's resident tool helper (hack/testbed/toolsd.py).
 *
 * Installed at a simulated tool's path (/usr/sbin/clpstat, /usr/bin/systemctl, ...). Instead of
 * starting a Python interpreter per command it hands the helper its argv, environment, working
 * directory and its own stdin/stdout/stderr (SCM_RIGHTS), so the tool's output goes straight to
 * the caller's descriptors. It forwards catchable signals, and ends as the tool ended: the same
 * exit code, or killed by the same signal. If the helper is not reachable, or JCB_TOOLS_DIRECT is
 * set, it execs the tool's direct wrapper (one Python process per command, as before).
 *
 * Wire format (SOCK_SEQPACKET, one message): "JCB1", fd mask, tool, cwd, argc, argv..., envc,
 * env... -- each NUL-terminated; then the client may send "K<signo>" messages; the helper answers
 * once with "E<code>" or "S<signo>".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKET_PATH "/run/jcb-toolsd.sock"
#define DIRECT_DIR "/usr/lib/jcb-testbed/direct/"

extern char **environ;
static int sock = -1;
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM};

static void forward(int sig) {
    char msg[16];
    int n = snprintf(msg, sizeof msg, "K%d", sig);
    int saved = errno;
    (void)send(sock, msg, (size_t)n, MSG_NOSIGNAL);
    errno = saved;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void direct(const char *tool, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s", DIRECT_DIR, tool);
    execv(path, argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", tool, path, strerror(errno));
    _exit(127);
}

static size_t add(char *buf, size_t at, const char *s) {
    size_t n = strlen(s) + 1;
    if (buf) memcpy(buf + at, s, n);
    return at + n;
}

static size_t build(char *buf, const char *mask, const char *tool, const char *cwd, int argc, char **argv) {
    char num[32];
    size_t at = 0;
    int envc = 0;
    at = add(buf, at, "JCB1");
    at = add(buf, at, mask);
    at = add(buf, at, tool);
    at = add(buf, at, cwd);
    snprintf(num, sizeof num, "%d", argc - 1);
    at = add(buf, at, num);
    for (int i = 1; i < argc; i++) at = add(buf, at, argv[i]);
    for (char **e = environ; *e; e++) envc++;
    snprintf(num, sizeof num, "%d", envc);
    at = add(buf, at, num);
    for (char **e = environ; *e; e++) at = add(buf, at, *e);
    return at;
}

int main(int argc, char **argv) {
    const char *tool = base_name(argv[0]);
    if (getenv("JCB_TOOLS_DIRECT")) direct(tool, argv);

    /* the descriptors 0-2 the caller has open (a closed one stays closed for the tool); looked at
     * before the socket is made, which would take the lowest closed one */
    int fds[3], nfds = 0;
    char mask[4] = "000";
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) != -1) {
            fds[nfds++] = fd;
            mask[fd] = '1';
        }
    }
    sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, SOCKET_PATH, sizeof addr.sun_path - 1);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) direct(tool, argv);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
    size_t len = build(NULL, mask, tool, cwd, argc, argv);
    char *buf = malloc(len);
    if (!buf) direct(tool, argv);
    build(buf, mask, tool, cwd, argc, argv);

    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        char space[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        msg.msg_control = ctl.space;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    /* a message too big for the socket (a huge environment): run the tool directly */
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) direct(tool, argv);
    free(buf);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);

    char reply[32];
    ssize_t n;
    do {
        n = recv(sock, reply, sizeof reply - 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        fprintf(stderr, "%s: lost the test-bed tool helper (%s)\n", tool, n < 0 ? strerror(errno) : "closed");
        return 125;
    }
    reply[n] = '\0';
    int value = atoi(reply + 1);
    if (reply[0] == 'S') {
        /* die of the same signal the tool died of, so the caller sees the same wait status */
        signal(value, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, value);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(value);
        return 128 + value;
    }
    return value;
}
