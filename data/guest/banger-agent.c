/*
 * banger-agent: banger's guest agent. One line per message, fields split by
 * one space, binary data in base64; a text field "-" is the empty string
 * (an empty CWD means /root).
 *
 *   requests                                  replies
 *   ID ping                                   ID pong VERSION
 *   ID health                                 ID health JSON
 *   ID ports                                  ID ports JSON
 *   ID exec CWD NENV ENV... ARG0 ARG...       ID out DATA / ID err DATA / ID exit CODE
 *   ID exec-pty ROWS COLS CWD NENV ENV... ARG0 ARG...   (v2: same, on a pty; all output is out)
 *   ID stdin DATA | ID stdin-eof | ID kill N  (nothing, or ID error MSG)
 *   ID resize ROWS COLS                       (v2: the pty's window size)
 *   ID get PATH                               (v2) ID fent T MODE SEC NSEC SIZE REL [TARGET],
 *                                             ID fdata DATA..., ID err MSG (skipped), ID exit 0|1
 *   ID credit N                               (v2) the host took N more bytes of a get's fdata
 *   ID put DEST NAME                          (v2) then ID pent T MODE SEC NSEC REL [TARGET],
 *   ID pdata DATA, ID pend                    ID exit 0 after pend, or ID error MSG
 *   (T: f file, d directory, l symlink; MODE octal; REL and TARGET text fields, REL "-" the root)
 *   ID sync                                   (v3) ID ok -   once sync() and syncfs of / and /root ran
 *   ID identity KEY=VALUE...                  (v3) ID ok -   once every step of banger-agent-identity.c
 *                                             worked, else ID error MSG naming the steps that failed
 *   malformed or failed request               ID error MSG   (0 error MSG without an id)
 *
 * Channel: the virtio-serial port banger.agent (QEMU), else AF_VSOCK port 1024
 * (Firecracker); --device PATH and --unix PATH override. Never the network.
 * Build: gcc -static -O2 -Wall -Wextra -o banger-agent banger-agent*.c
 * (this file: the request dispatch, the channel and the main loop).
 */
#include "banger-agent.h"
#include <poll.h>
#include <signal.h>
#include <linux/vm_sockets.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define PORT_NAME "banger.agent"
#define VSOCK_PORT 1024
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_TOKENS 4100

struct agent g = { .dev = -1, .listen_fd = -1, .chan = -1, .sigfd = -1 };

static int valid_id(const char *s) {
  size_t n = strspn(s, "0123456789");
  return n > 0 && n < 20 && s[n] == 0;
}

static void handle_line(char *line) {
  static char *t[MAX_TOKENS + 1];
  int nt = 0;
  for (char *p = line; nt < MAX_TOKENS;) {
    t[nt++] = p;
    p = strchr(p, ' ');
    if (!p) break;
    *p++ = 0;
  }
  t[nt] = NULL; /* ends exec's argv */
  if (!valid_id(t[0])) FAIL("0", "malformed request: no id");
  const char *id = t[0];
  for (int i = 1; i < nt; i++)
    if (!*t[i]) FAIL(id, "malformed request: empty field");
  if (nt == MAX_TOKENS) FAIL(id, "malformed request: too many fields");
  const char *verb = nt > 1 ? t[1] : "";
  if (strcmp(verb, "ping") == 0 && nt == 2) reply(id, "pong", AGENT_VERSION);
  else if (strcmp(verb, "health") == 0 && nt == 2) do_health(id);
  else if (strcmp(verb, "ports") == 0 && nt == 2) do_ports(id);
  else if (strcmp(verb, "exec") == 0) do_exec(id, t + 2, nt - 2);
  else if (strcmp(verb, "exec-pty") == 0) do_exec_pty(id, t + 2, nt - 2);
  else if (strcmp(verb, "resize") == 0) do_resize(id, t + 2, nt - 2);
  else if (xfer_verb(id, verb, t + 2, nt - 2)) { /* get, put, pent, pdata, pend, credit */ }
  else if (strcmp(verb, "stdin") == 0) do_stdin(id, t + 2, nt - 2, 0);
  else if (strcmp(verb, "stdin-eof") == 0 && nt == 2) do_stdin(id, NULL, 0, 1);
  else if (strcmp(verb, "kill") == 0) do_kill(id, t + 2, nt - 2);
  else if (strcmp(verb, "sync") == 0 && nt == 2) do_sync(id);
  else if (strcmp(verb, "identity") == 0) do_identity(id, t + 2, nt - 2);
  else reply_error(id, "unknown or malformed request \"%.40s\"", verb);
}

/* ---- channel ---- */

static void session_end(void) {
  xfer_end_all();
  for (int i = 0; i < MAX_KIDS; i++) {
    struct kid *k = &g.kids[i];
    if (!k->pid || k->orphan) continue;
    kill_group(k, SIGKILL);
    k->orphan = 1;
  }
  g.in.off = g.in.len = g.out.off = g.out.len = 0;
  g.skipping = 0;
  if (g.mode == M_SOCKET) close(g.chan);
  g.chan = -1;
}

static void process_lines(void) {
  for (;;) {
    char *start = g.in.p + g.in.off;
    char *nl = buf_size(&g.in) ? memchr(start, '\n', buf_size(&g.in)) : NULL;
    if (!nl) break;
    *nl = 0;
    g.in.off = (size_t)(nl + 1 - g.in.p);
    if (nl > start && nl[-1] == '\r') nl[-1] = 0;
    if (g.skipping) g.skipping = 0;
    else if (*start) handle_line(start);
    if (g.chan < 0) return;
  }
  if (buf_size(&g.in) > MAX_LINE) {
    if (!g.skipping) reply_error("0", "request line longer than %d bytes", MAX_LINE);
    g.skipping = 1;
    g.in.off = g.in.len = 0;
  }
}

static void chan_read(void) {
  if (buf_reserve(&g.in, CHUNK) < 0) {
    session_end();
    return;
  }
  ssize_t n = read(g.chan, g.in.p + g.in.len, CHUNK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (n < 0 && errno != ECONNRESET) logmsg("read: %s", strerror(errno));
    session_end(); /* the host disconnected */
    return;
  }
  g.in.len += (size_t)n;
  process_lines();
}

static void chan_write(void) {
  ssize_t n = write(g.chan, g.out.p + g.out.off, buf_size(&g.out));
  if (n > 0) g.out.off += (size_t)n;
  else if (n < 0 && errno != EAGAIN && errno != EINTR) session_end();
}

/* Virtio port without a host: POLLHUP. A host connected: a fresh session. */
static void device_check(void) {
  struct pollfd p = { .fd = g.dev, .events = POLLIN };
  if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) return;
  g.chan = g.dev;
}

static void on_accept(void) {
  int c = accept4(g.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c >= 0) g.chan = c;
}

/* ---- transports ---- */

static int find_port(char *path, size_t size) {
  snprintf(path, size, "/dev/virtio-ports/%s", PORT_NAME);
  if (access(path, F_OK) == 0) return 0;
  DIR *d = opendir("/sys/class/virtio-ports");
  struct dirent *e;
  int found = -1;
  while (d && found < 0 && (e = readdir(d))) {
    char name[300], text[128];
    if (e->d_name[0] == '.') continue;
    snprintf(name, sizeof name, "/sys/class/virtio-ports/%s/name", e->d_name);
    if (read_small(name, text, sizeof text) < 0) continue;
    text[strcspn(text, "\n")] = 0;
    if (strcmp(text, PORT_NAME) == 0) found = snprintf(path, size, "/dev/%s", e->d_name) > 0 ? 0 : -1;
  }
  if (d) closedir(d);
  return found;
}

static int listen_on(int family, const struct sockaddr *addr, socklen_t len) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, addr, len) < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int listen_unix(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof a.sun_path) return errno = ENAMETOOLONG, -1;
  strcpy(a.sun_path, path);
  unlink(path);
  return listen_on(AF_UNIX, (struct sockaddr *)&a, sizeof a);
}

static int listen_vsock(void) {
  struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_port = VSOCK_PORT, .svm_cid = VMADDR_CID_ANY };
  return listen_on(AF_VSOCK, (struct sockaddr *)&a, sizeof a);
}

static void serving(enum mode mode, const char *where) {
  g.mode = mode;
  logmsg("version %s serving on %s", AGENT_VERSION, where);
}

/* Pick the channel: an override, else the virtio port, else vsock (retried every second). */
static void open_transport(const char *device, const char *unix_path) {
  char path[512];
  if (unix_path) {
    if ((g.listen_fd = listen_unix(unix_path)) < 0) {
      logmsg("cannot listen on %s: %s", unix_path, strerror(errno));
      exit(1);
    }
    serving(M_SOCKET, unix_path);
    return;
  }
  for (int warned = 0;; warned = 1, sleep(1)) {
    if (device) snprintf(path, sizeof path, "%s", device);
    if (device || find_port(path, sizeof path) == 0) {
      g.dev = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (g.dev >= 0) {
        serving(M_DEVICE, path);
        return;
      }
      if (!warned) logmsg("cannot open %s: %s (retrying)", path, strerror(errno));
      continue;
    }
    g.listen_fd = listen_vsock();
    if (g.listen_fd >= 0) {
      g.auto_mode = 1;
      serving(M_SOCKET, "vsock port " STR(VSOCK_PORT));
      return;
    }
    if (!warned) logmsg("no virtio port %s and no vsock (%s); retrying", PORT_NAME, strerror(errno));
  }
}

/* Auto mode on vsock with no host: a virtio port that appears late (slow module) wins. */
static void recheck_port(void) {
  static long long next;
  char path[512];
  if (!g.auto_mode || g.mode != M_SOCKET || g.chan >= 0 || now_ms() < next) return;
  next = now_ms() + 1000;
  if (find_port(path, sizeof path) < 0) return;
  int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return;
  close(g.listen_fd);
  g.listen_fd = -1;
  g.dev = fd;
  serving(M_DEVICE, path);
}

/* ---- main loop ---- */

enum what { W_SIG, W_CHAN, W_LISTEN, W_OUT, W_ERR, W_IN };

static int add_fd(struct pollfd *pf, int *map, int n, int fd, short ev, int what) {
  pf[n] = (struct pollfd){ .fd = fd, .events = ev };
  map[n] = what;
  return n + 1;
}

static int poll_timeout(void) {
  if (g.chan >= 0 && xfer_busy()) return 0;
  long long t = g.chan >= 0 ? -1 : g.mode == M_DEVICE ? 100 : g.auto_mode ? 1000 : -1, now = now_ms();
  for (int i = 0; i < MAX_KIDS; i++) {
    struct kid *k = &g.kids[i];
    if (!k->pid || !k->reaped) continue;
    long long left = k->deadline > now ? k->deadline - now : 0;
    if (t < 0 || left < t) t = left;
  }
  return (int)t;
}

static int build_poll(struct pollfd *pf, int *map) {
  int n = add_fd(pf, map, 0, g.sigfd, POLLIN, W_SIG);
  if (g.chan >= 0) {
    short ev = (short)((buf_size(&g.out) < OUT_MAX ? POLLIN : 0) | (buf_size(&g.out) ? POLLOUT : 0));
    n = add_fd(pf, map, n, g.chan, ev, W_CHAN);
  } else if (g.mode == M_SOCKET) {
    n = add_fd(pf, map, n, g.listen_fd, POLLIN, W_LISTEN);
  }
  int room = buf_size(&g.out) < OUT_HIGH;
  for (int i = 0; i < MAX_KIDS; i++) {
    struct kid *k = &g.kids[i];
    if (!k->pid) continue;
    if (k->out >= 0 && (room || k->orphan)) n = add_fd(pf, map, n, k->out, POLLIN, W_OUT + 16 * i);
    if (k->err >= 0 && (room || k->orphan)) n = add_fd(pf, map, n, k->err, POLLIN, W_ERR + 16 * i);
    if (k->in >= 0 && buf_size(&k->inq)) n = add_fd(pf, map, n, k->in, POLLOUT, W_IN + 16 * i);
  }
  return n;
}

static void dispatch(struct pollfd *p, int what) {
  struct kid *k = &g.kids[what / 16];
  if (!p->revents) return;
  switch (what % 16) {
  case W_SIG: reap(); break;
  case W_LISTEN: on_accept(); break;
  case W_CHAN:
    if (p->fd != g.chan) break;
    if (p->revents & POLLOUT) chan_write();
    if (g.chan >= 0 && (p->revents & (POLLIN | POLLHUP | POLLERR))) chan_read();
    break;
  case W_OUT: if (k->out == p->fd) kid_read(k, &k->out, "out"); break;
  case W_ERR: if (k->err == p->fd) kid_read(k, &k->err, "err"); break;
  case W_IN: if (k->in == p->fd) kid_write(k); break;
  }
}

static void loop(void) {
  static struct pollfd pf[2 + 3 * MAX_KIDS];
  static int map[2 + 3 * MAX_KIDS];
  for (;;) {
    if (g.mode == M_DEVICE && g.chan < 0) device_check();
    for (int i = 0; i < MAX_KIDS; i++)
      if (g.kids[i].pid && g.kids[i].in >= 0 && !buf_size(&g.kids[i].inq)) kid_write(&g.kids[i]);
    int n = build_poll(pf, map);
    if (poll(pf, (nfds_t)n, poll_timeout()) < 0) {
      if (errno != EINTR) logmsg("poll: %s", strerror(errno)), sleep(1);
      continue;
    }
    for (int i = 0; i < n; i++) dispatch(&pf[i], map[i]);
    for (int i = 0; i < MAX_KIDS; i++) kid_finish(&g.kids[i]);
    if (g.chan >= 0) xfer_pump();
    recheck_port();
  }
}

static void setup_process(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) exit(1);
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  g.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (g.sigfd < 0) logmsg("signalfd: %s", strerror(errno)), exit(1);
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) {
    if (write(adj, "-1000", 5) < 0) { /* not root: keep the default */ }
    close(adj);
  }
  for (int i = 0; i < MAX_KIDS; i++) g.kids[i].in = g.kids[i].out = g.kids[i].err = -1;
}

int main(int argc, char **argv) {
  const char *device = NULL, *unix_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
    else if (strcmp(argv[i], "--unix") == 0 && i + 1 < argc) unix_path = argv[++i];
    else if (strcmp(argv[i], "--version") == 0) return puts(AGENT_VERSION), 0;
    else {
      fprintf(stderr, "usage: banger-agent [--device PATH | --unix PATH]\n");
      return 2;
    }
  }
  setup_process();
  open_transport(device, unix_path);
  loop();
  return 0;
}
