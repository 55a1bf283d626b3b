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
 *   malformed or failed request               ID error MSG   (0 error MSG without an id)
 *
 * Channel: the virtio-serial port banger.agent (QEMU), else AF_VSOCK port 1024
 * (Firecracker); --device PATH and --unix PATH override. Never the network.
 * Build: gcc -static -O2 -Wall -Wextra -o banger-agent banger-agent.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#define AGENT_VERSION "2"
#define PORT_NAME "banger.agent"
#define VSOCK_PORT 1024
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_LINE (1024 * 1024)        /* longest request line */
#define OUT_HIGH (1024 * 1024)        /* above: stop reading the commands' output */
#define OUT_MAX (8 * 1024 * 1024)     /* above: stop reading requests */
#define STDIN_MAX (4 * 1024 * 1024)   /* stdin queued for one command */
#define CHUNK 32768
#define MAX_KIDS 64
#define MAX_TOKENS 4100
#define MAX_ENV 256
#define MAX_PORTS 1024
#define GRACE_MS 300                  /* wait for the pipes' EOF after the command exits */

extern char **environ;

struct xfer;
static struct xfer *find_xfer(const char *id);
static void xfer_free(struct xfer *x);
static int xfer_verb(const char *id, const char *verb, char **t, int nt);
static void xfer_pump(void);
static int xfer_busy(void);

struct buf { char *p; size_t off, len, cap; };

struct kid {
  char id[24];
  pid_t pid;            /* 0: free slot */
  int in, out, err;     /* -1 once closed */
  struct buf inq;       /* stdin not yet written */
  int in_eof, reaped, code, orphan, pty;
  long long deadline;
};

enum mode { M_DEVICE, M_SOCKET };

static struct {
  enum mode mode;
  int dev, listen_fd, chan, sigfd, skipping, auto_mode;
  struct buf in, out;
  struct kid kids[MAX_KIDS];
} g = { .dev = -1, .listen_fd = -1, .chan = -1, .sigfd = -1 };

static void logmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("banger-agent: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- buffers ---- */

static size_t buf_size(const struct buf *b) { return b->len - b->off; }

static int buf_reserve(struct buf *b, size_t extra) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + extra <= b->cap) return 0;
  if (b->off > 0) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + extra <= b->cap) return 0;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    logmsg("out of memory");
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void buf_add(struct buf *b, const void *d, size_t n) {
  if (buf_reserve(b, n) == 0) {
    memcpy(b->p + b->len, d, n);
    b->len += n;
  }
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_free(struct buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void buf_b64(struct buf *b, const unsigned char *s, size_t n) {
  if (buf_reserve(b, (n + 2) / 3 * 4) < 0) return;
  char *o = b->p + b->len;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    *o++ = B64[s[i] >> 2];
    *o++ = B64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
    *o++ = B64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
    *o++ = B64[s[i + 2] & 63];
  }
  if (i < n) {
    *o++ = B64[s[i] >> 2];
    *o++ = B64[((s[i] & 3) << 4) | (i + 1 < n ? s[i + 1] >> 4 : 0)];
    *o++ = i + 1 < n ? B64[(s[i + 1] & 15) << 2] : '=';
    *o++ = '=';
  }
  b->len = (size_t)(o - b->p);
}

static int b64_val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decode s in place (NUL-terminated afterwards); returns the length or -1. */
static long b64_decode(char *s) {
  size_t n = strlen(s), j = 0;
  unsigned acc = 0;
  int bits = 0;
  while (n > 0 && s[n - 1] == '=') n--;
  if (strlen(s) % 4 != 0 || strlen(s) - n > 2) return -1;
  for (size_t i = 0; i < n; i++) {
    int v = b64_val((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      s[j++] = (char)((acc >> bits) & 0xff);
    }
  }
  s[j] = 0;
  return (long)j;
}

/* Decode a text field: "-" is the empty string; no NUL bytes inside. */
static char *b64_text(char *s) {
  if (strcmp(s, "-") == 0) return *s = 0, s;
  long n = b64_decode(s);
  return n >= 0 && (size_t)n == strlen(s) ? s : NULL;
}

/* ---- replies ---- */

static void reply(const char *id, const char *tag, const char *text) {
  if (g.chan < 0) return;
  buf_str(&g.out, id);
  buf_add(&g.out, " ", 1);
  buf_str(&g.out, tag);
  if (text) {
    buf_add(&g.out, " ", 1);
    buf_str(&g.out, text);
  }
  buf_add(&g.out, "\n", 1);
}

static void reply_data(const char *id, const char *tag, const void *d, size_t n) {
  if (g.chan < 0) return;
  buf_str(&g.out, id);
  buf_add(&g.out, " ", 1);
  buf_str(&g.out, tag);
  buf_add(&g.out, " ", 1);
  buf_b64(&g.out, d, n);
  buf_add(&g.out, "\n", 1);
}

static void reply_error(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(const char *id, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  reply_data(id, "error", msg, strlen(msg));
}

#define FAIL(...)            \
  do {                       \
    reply_error(__VA_ARGS__); \
    return;                  \
  } while (0)

/* ---- health and ports ---- */

static int read_small(const char *path, char *out, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, size - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = 0;
  return 0;
}

static unsigned long long meminfo(const char *text, const char *key) {
  const char *p = strstr(text, key);
  return p ? strtoull(p + strlen(key), NULL, 10) * 1024ULL : 0;
}

static void json_disk(struct buf *b, const char *mount, int *first) {
  struct statvfs v;
  if (statvfs(mount, &v) < 0) return;
  unsigned long long total = (unsigned long long)v.f_blocks * v.f_frsize;
  unsigned long long used = (unsigned long long)(v.f_blocks - v.f_bfree) * v.f_frsize;
  char s[200];
  snprintf(s, sizeof s, "%s{\"mount\":\"%s\",\"totalBytes\":%llu,\"usedBytes\":%llu}",
           *first ? "" : ",", mount, total, used);
  buf_str(b, s);
  *first = 0;
}

static void do_health(const char *id) {
  char text[8192], s[512];
  double up = 0, l1 = 0, l5 = 0, l15 = 0;
  unsigned long long total = 0, avail = 0;
  if (read_small("/proc/uptime", text, sizeof text) == 0) sscanf(text, "%lf", &up);
  if (read_small("/proc/loadavg", text, sizeof text) == 0) sscanf(text, "%lf %lf %lf", &l1, &l5, &l15);
  if (read_small("/proc/meminfo", text, sizeof text) == 0) {
    total = meminfo(text, "MemTotal:");
    avail = meminfo(text, "MemAvailable:");
  }
  struct buf b = { 0 };
  snprintf(s, sizeof s,
           "{\"uptimeSec\":%.2f,\"load\":[%.2f,%.2f,%.2f],"
           "\"memory\":{\"totalBytes\":%llu,\"availableBytes\":%llu},\"disks\":[",
           up, l1, l5, l15, total, avail);
  buf_str(&b, s);
  int first = 1;
  struct stat r, w;
  json_disk(&b, "/", &first);
  if (stat("/", &r) == 0 && stat("/root", &w) == 0 && r.st_dev != w.st_dev) json_disk(&b, "/root", &first);
  buf_add(&b, "]}", 3); /* with the NUL */
  reply(id, "health", b.p ? b.p : "{}");
  buf_free(&b);
}

struct port { int v6; char addr[INET6_ADDRSTRLEN]; unsigned port; };

static int parse_tcp_line(const char *line, int v6, struct port *p) {
  char hex[40];
  unsigned port, state;
  if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", hex, &port, &state) != 3) return -1;
  if (state != 0x0A || strlen(hex) != (v6 ? 32u : 8u)) return -1; /* 0A: LISTEN */
  unsigned char raw[16];
  for (int w = 0; w < (v6 ? 4 : 1); w++) {
    char word[9];
    memcpy(word, hex + w * 8, 8);
    word[8] = 0;
    unsigned int v = (unsigned int)strtoul(word, NULL, 16); /* the kernel prints host-order words */
    memcpy(raw + w * 4, &v, 4);
  }
  if (!inet_ntop(v6 ? AF_INET6 : AF_INET, raw, p->addr, sizeof p->addr)) return -1;
  p->v6 = v6;
  p->port = port;
  return 0;
}

static int collect_ports(const char *file, int v6, struct port *ports, int n) {
  FILE *f = fopen(file, "re");
  if (!f) return n;
  char line[512];
  while (n < MAX_PORTS && fgets(line, sizeof line, f)) {
    struct port p;
    if (parse_tcp_line(line, v6, &p) < 0) continue;
    int dup = 0;
    for (int i = 0; i < n && !dup; i++)
      dup = ports[i].v6 == v6 && ports[i].port == p.port && strcmp(ports[i].addr, p.addr) == 0;
    if (!dup) ports[n++] = p;
  }
  fclose(f);
  return n;
}

static void do_ports(const char *id) {
  static struct port ports[MAX_PORTS];
  int n = collect_ports("/proc/net/tcp", 0, ports, 0);
  n = collect_ports("/proc/net/tcp6", 1, ports, n);
  struct buf b = { 0 };
  buf_add(&b, "[", 1);
  for (int i = 0; i < n; i++) {
    char s[128];
    snprintf(s, sizeof s, "%s{\"proto\":\"%s\",\"address\":\"%s\",\"port\":%u}", i ? "," : "",
             ports[i].v6 ? "tcp6" : "tcp", ports[i].addr, ports[i].port);
    buf_str(&b, s);
  }
  buf_add(&b, "]", 2); /* with the NUL */
  reply(id, "ports", b.p ? b.p : "[]");
  buf_free(&b);
}

/* ---- commands ---- */

static struct kid *find_kid(const char *id) {
  for (int i = 0; i < MAX_KIDS; i++)
    if (g.kids[i].pid && !g.kids[i].orphan && strcmp(g.kids[i].id, id) == 0) return &g.kids[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void kill_group(struct kid *k, int sig) {
  if (kill(-k->pid, sig) < 0 && !k->reaped) kill(k->pid, sig);
}

/* In the child: own process group, stdio on the pipes, then exec; errors go to errfd. */
static void child_exec(int in, int out, int err, int errfd, const char *cwd, char **argv, char **envp,
                       const char *tty) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (!tty) setpgid(0, 0);
  if (tty) { /* a new session whose controlling terminal is the pty */
    setsid();
    in = out = err = open(tty, O_RDWR);
    if (in < 0 || ioctl(in, TIOCSCTTY, 0) < 0) {
      int e[2] = { 0, errno };
      if (write(errfd, e, sizeof e) < 0) { /* EOF tells the parent */ }
      _exit(127);
    }
  }
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) {
    if (write(adj, "0", 1) < 0) { /* best effort */ }
    close(adj);
  }
  int e[2] = { 1, 0 };
  if (chdir(cwd) == 0) {
    environ = envp;
    execvp(argv[0], argv);
    e[0] = 2;
  }
  e[1] = errno;
  if (write(errfd, e, sizeof e) < 0) { /* the parent sees EOF and a failed command */ }
  _exit(127);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Fork and exec; returns 0, or an errno with *stage 1 (chdir), 2 (exec) or 0 (pipe/fork). */
static int spawn(struct kid *k, const char *cwd, char **argv, char **envp, int *stage) {
  int p[4][2], i, e[2] = { 0, 0 };
  *stage = 0;
  for (i = 0; i < 4; i++) {
    if (pipe2(p[i], O_CLOEXEC) < 0) {
      int saved = errno;
      while (i-- > 0) close(p[i][0]), close(p[i][1]);
      return saved;
    }
  }
  pid_t pid = fork();
  if (pid == 0) child_exec(p[0][0], p[1][1], p[2][1], p[3][1], cwd, argv, envp, NULL);
  int saved = errno;
  close(p[0][0]), close(p[1][1]), close(p[2][1]), close(p[3][1]);
  if (pid > 0) setpgid(pid, pid);
  ssize_t n = pid > 0 ? read(p[3][0], e, sizeof e) : 0;
  close(p[3][0]);
  if (pid < 0 || n == (ssize_t)sizeof e) {
    close(p[0][1]), close(p[1][0]), close(p[2][0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    *stage = pid < 0 ? 0 : e[0];
    return pid < 0 ? saved : e[1];
  }
  k->pid = pid;
  k->in = p[0][1], k->out = p[1][0], k->err = p[2][0];
  set_nonblock(k->in), set_nonblock(k->out), set_nonblock(k->err);
  return 0;
}

/* Fork and exec on a new pty (stdin, stdout and stderr are its slave); same contract as spawn. */
static int spawn_pty(struct kid *k, const char *cwd, char **argv, char **envp, struct winsize *ws, int *stage) {
  int e[2] = { 0, 0 }, ep[2];
  char tty[64];
  *stage = 0;
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return errno;
  if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, tty, sizeof tty) != 0 || pipe2(ep, O_CLOEXEC) < 0) {
    int saved = errno;
    close(m);
    return saved;
  }
  ioctl(m, TIOCSWINSZ, ws);
  pid_t pid = fork();
  if (pid == 0) child_exec(-1, -1, -1, ep[1], cwd, argv, envp, tty);
  int saved = errno;
  close(ep[1]);
  ssize_t n = pid > 0 ? read(ep[0], e, sizeof e) : 0;
  close(ep[0]);
  if (pid < 0 || n == (ssize_t)sizeof e) {
    close(m);
    if (pid > 0) waitpid(pid, NULL, 0);
    *stage = pid < 0 ? 0 : e[0];
    return pid < 0 ? saved : e[1];
  }
  k->pid = pid;
  k->pty = 1;
  k->out = m;
  k->in = fcntl(m, F_DUPFD_CLOEXEC, 0);
  k->err = -1;
  set_nonblock(m);
  return 0;
}

static int parse_winsize(const char *r, const char *c, struct winsize *ws) {
  char *e1, *e2;
  long rows = strtol(r, &e1, 10), cols = strtol(c, &e2, 10);
  if (*e1 || *e2 || rows < 1 || rows > 4096 || cols < 1 || cols > 4096) return -1;
  *ws = (struct winsize){ .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
  return 0;
}

/* env: defaults, then the request's K=V entries (a key given again replaces the default). */
static int build_env(char **envp, char **user, int nuser) {
  static const char *defaults[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    "HOME=/root", "TERM=xterm-256color", "USER=root", "LOGNAME=root",
                                    "SHELL=/bin/sh", "LANG=C.UTF-8" };
  int n = 0;
  for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) envp[n++] = (char *)defaults[i];
  for (int i = 0; i < nuser; i++) {
    char *eq = strchr(user[i], '=');
    if (!eq || eq == user[i]) return -1;
    int j = 0;
    while (j < n && !(strncmp(envp[j], user[i], (size_t)(eq - user[i]) + 1) == 0)) j++;
    envp[j] = user[i];
    if (j == n) n++;
  }
  envp[n] = NULL;
  return n;
}

static void do_exec(const char *id, char **t, int nt, struct winsize *ws) {
  static char *envp[MAX_ENV + 16];
  char *cwd = t[0], *end;
  long nenv = nt >= 2 ? strtol(t[1], &end, 10) : -1;
  if (nenv < 0 || nenv > MAX_ENV || *end || nt < 3 + nenv) FAIL(id, "malformed exec request");
  if (find_kid(id)) FAIL(id, "a command with id %s is running", id);
  struct kid *k = NULL;
  for (int i = 0; i < MAX_KIDS && !k; i++)
    if (!g.kids[i].pid) k = &g.kids[i];
  if (!k) FAIL(id, "too many commands running (%d)", MAX_KIDS);
  for (int i = 0; i < nt; i++)
    if (i != 1 && !b64_text(t[i])) FAIL(id, "exec: field %d is not base64 text", i + 1);
  if (!*cwd) cwd = "/root";
  if (build_env(envp, t + 2, (int)nenv) < 0) FAIL(id, "exec: env entries are KEY=VALUE");
  char **argv = t + 2 + nenv;
  int stage, e = ws ? spawn_pty(k, cwd, argv, envp, ws, &stage) : spawn(k, cwd, argv, envp, &stage);
  if (e) {
    const char *what = stage == 1 ? "cannot enter" : stage == 2 ? "cannot run" : "cannot start";
    FAIL(id, "%s %s: %s", what, stage == 1 ? cwd : argv[0], strerror(e));
  }
  snprintf(k->id, sizeof k->id, "%s", id);
}

static void do_stdin(const char *id, char **t, int nt, int eof) {
  struct kid *k = find_kid(id);
  if (!k) FAIL(id, "no command with id %s is running", id);
  if (eof) {
    k->in_eof = 1;
    return;
  }
  long n = nt == 1 ? b64_decode(t[0]) : -1;
  if (n < 0) FAIL(id, "malformed stdin request");
  if (k->in < 0) return; /* the command closed its input: drop */
  if (buf_size(&k->inq) + (size_t)n > STDIN_MAX) {
    kill_group(k, SIGKILL);
    k->orphan = 1;
    FAIL(id, "stdin overflow: the command did not read its input; killed");
  }
  buf_add(&k->inq, t[0], (size_t)n);
}

static void do_kill(const char *id, char **t, int nt) {
  struct kid *k = find_kid(id);
  char *end;
  long sig = nt == 1 ? strtol(t[0], &end, 10) : -1;
  if (sig < 1 || sig > 64 || *end) FAIL(id, "malformed kill request");
  if (k) kill_group(k, (int)sig);
  else if (find_xfer(id)) xfer_free(find_xfer(id));
}

/* ---- file transfers (get: guest -> host, put: host -> guest) ---- */

#define MAX_XFERS 8
#define MAX_DEPTH 128
#define GET_WINDOW (2 * 1024 * 1024) /* fdata bytes sent ahead of the host's credit */

struct pdir { char *rel; mode_t mode; struct timespec ts[2]; };

struct xfer {
  char id[24];
  int active, put, fd, failed, warned;
  /* get */
  DIR *dirs[MAX_DEPTH];
  size_t rlen[MAX_DEPTH];
  int depth;
  long long sent, allowed;
  char rel[PATH_MAX];
  /* put */
  int parent;
  char root[NAME_MAX + 1];
  mode_t fmode;
  struct timespec fts[2];
  struct pdir *pdirs;
  size_t npdirs, cappdirs;
};

static struct xfer xfers[MAX_XFERS];

static struct xfer *find_xfer(const char *id) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (xfers[i].active && strcmp(xfers[i].id, id) == 0) return &xfers[i];
  return NULL;
}

static void xfer_free(struct xfer *x) {
  close_fd(&x->fd);
  while (x->depth > 0) closedir(x->dirs[--x->depth]);
  if (x->put) close_fd(&x->parent);
  for (size_t i = 0; i < x->npdirs; i++) free(x->pdirs[i].rel);
  free(x->pdirs);
  memset(x, 0, sizeof *x);
  x->fd = x->parent = -1;
}

static struct xfer *xfer_new(const char *id, int put) {
  if (find_kid(id) || find_xfer(id)) return NULL;
  for (int i = 0; i < MAX_XFERS; i++) {
    struct xfer *x = &xfers[i];
    if (x->active) continue;
    memset(x, 0, sizeof *x);
    x->fd = x->parent = -1;
    x->active = 1;
    x->put = put;
    snprintf(x->id, sizeof x->id, "%s", id);
    return x;
  }
  return NULL;
}

static void xfer_warn(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xfer_warn(struct xfer *x, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof msg - 2) n = (int)sizeof msg - 2;
  msg[n++] = '\n';
  x->warned = 1;
  reply_data(x->id, "err", msg, (size_t)n);
}

/* ID fent T MODE SEC NSEC SIZE REL [TARGET] */
static void send_entry(struct xfer *x, char type, const struct stat *st, const char *target) {
  char head[160];
  snprintf(head, sizeof head, "%c %o %lld %ld %lld ", type, (unsigned)(st->st_mode & 07777),
           (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, type == 'f' ? (long long)st->st_size : 0LL);
  buf_str(&g.out, x->id);
  buf_str(&g.out, " fent ");
  buf_str(&g.out, head);
  if (*x->rel) buf_b64(&g.out, (const unsigned char *)x->rel, strlen(x->rel));
  else buf_add(&g.out, "-", 1);
  if (target) {
    buf_add(&g.out, " ", 1);
    buf_b64(&g.out, (const unsigned char *)target, strlen(target));
  }
  buf_add(&g.out, "\n", 1);
}

/* Emit the entry NAME in directory DFD (x->rel already names it) and open what it holds. */
static void get_entry(struct xfer *x, int dfd, const char *name, const struct stat *st) {
  if (S_ISDIR(st->st_mode)) {
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d || x->depth == MAX_DEPTH) {
      if (fd >= 0) close(fd);
      if (d) closedir(d);
      xfer_warn(x, "skipped %s: %s", *x->rel ? x->rel : ".", d ? "too deep" : strerror(errno));
      return;
    }
    send_entry(x, 'd', st, NULL);
    x->rlen[x->depth] = strlen(x->rel);
    x->dirs[x->depth++] = d;
  } else if (S_ISREG(st->st_mode)) {
    x->fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (x->fd < 0) xfer_warn(x, "skipped %s: %s", x->rel, strerror(errno));
    else send_entry(x, 'f', st, NULL);
  } else if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
    if (n <= 0) xfer_warn(x, "skipped %s: %s", x->rel, n < 0 ? strerror(errno) : "empty link");
    else target[n] = 0, send_entry(x, 'l', st, target);
  } else {
    xfer_warn(x, "skipped %s: not a file, directory or symlink", x->rel);
  }
}

/* One step of a get: a chunk of the open file, or the next directory entry. */
static void get_step(struct xfer *x) {
  if (x->fd >= 0) {
    static char tmp[CHUNK];
    long long room = x->allowed - x->sent;
    ssize_t n = read(x->fd, tmp, room < CHUNK ? (size_t)room : sizeof tmp);
    if (n > 0) reply_data(x->id, "fdata", tmp, (size_t)n), x->sent += n;
    else {
      if (n < 0) xfer_warn(x, "short read of %s: %s", x->rel, strerror(errno));
      close_fd(&x->fd);
    }
    return;
  }
  if (x->depth == 0) {
    reply(x->id, "exit", x->warned ? "1" : "0");
    xfer_free(x);
    return;
  }
  DIR *d = x->dirs[x->depth - 1];
  size_t base = x->rlen[x->depth - 1];
  errno = 0;
  struct dirent *e = readdir(d);
  if (!e) {
    closedir(d);
    x->depth--;
    return;
  }
  if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) return;
  x->rel[base] = 0; /* the directory's own path, then this entry's name */
  if (base + strlen(e->d_name) + 2 > sizeof x->rel) return xfer_warn(x, "skipped a name: path too long");
  snprintf(x->rel + base, sizeof x->rel - base, "%s%s", base ? "/" : "", e->d_name);
  struct stat st;
  if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) xfer_warn(x, "skipped %s: %s", x->rel, strerror(errno));
  else get_entry(x, dirfd(d), e->d_name, &st);
}

static int get_ready(const struct xfer *x) {
  return x->active && !x->put && (x->fd < 0 || x->sent < x->allowed);
}

static int xfer_busy(void) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (get_ready(&xfers[i])) return buf_size(&g.out) < OUT_HIGH;
  return 0;
}

/* Run gets while the reply buffer has room (called from the main loop). */
static void xfer_pump(void) {
  for (int i = 0; i < MAX_XFERS; i++)
    for (int steps = 0; steps < 64 && get_ready(&xfers[i]) && buf_size(&g.out) < OUT_HIGH; steps++)
      get_step(&xfers[i]);
}

static void do_get(const char *id, char **t, int nt) {
  if (nt != 1 || !b64_text(t[0]) || !*t[0]) FAIL(id, "malformed get request");
  struct stat st;
  if (stat(t[0], &st) < 0) FAIL(id, "cannot read %s: %s", t[0], strerror(errno));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) FAIL(id, "%s is not a file or directory", t[0]);
  struct xfer *x = xfer_new(id, 0);
  if (!x) FAIL(id, "too many transfers, or id %s is busy", id);
  x->allowed = GET_WINDOW;
  get_entry(x, AT_FDCWD, t[0], &st);
  if (x->fd < 0 && x->depth == 0) { /* the root could not be opened (warned): done */
    reply(id, "exit", "1");
    xfer_free(x);
  }
}

static void do_credit(struct xfer *x, char **t, int nt) {
  char *end;
  long long n = nt == 1 ? strtoll(t[0], &end, 10) : -1;
  if (n < 0 || *end) FAIL(x->id, "malformed credit request");
  x->allowed += n;
}

/* A name is one plain path component. */
static int plain_name(const char *s) {
  return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && strlen(s) <= NAME_MAX;
}

static void do_put(const char *id, char **t, int nt) {
  if (nt != 2 || !b64_text(t[0]) || !*t[0] || !b64_text(t[1]) || !plain_name(t[1]))
    FAIL(id, "malformed put request");
  char *dest = t[0], *name = t[1];
  struct stat st;
  int isdir = stat(dest, &st) == 0 && S_ISDIR(st.st_mode);
  if (!isdir) { /* DEST names the copy itself: its parent must be a directory */
    char *slash = strrchr(dest, '/');
    name = slash ? slash + 1 : dest;
    if (slash == dest) dest = "/";
    else if (slash) *slash = 0;
    else dest = ".";
    if (!plain_name(name)) FAIL(id, "put: the destination must end in a plain name");
  }
  int parent = open(isdir ? t[0] : dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent < 0) FAIL(id, "cannot open the directory %s: %s", isdir ? t[0] : dest, strerror(errno));
  struct xfer *x = xfer_new(id, 1);
  if (!x) {
    close(parent);
    FAIL(id, "too many transfers, or id %s is busy", id);
  }
  x->parent = parent;
  snprintf(x->root, sizeof x->root, "%s", name);
}

/* Walk REL ("" for the copy's root; cut up in place) below the put's parent, never through
 * a symlink: returns an fd of the entry's directory and points *last at its name, or -1. */
static int put_walk(struct xfer *x, char *rel, const char **last) {
  int fd = fcntl(x->parent, F_DUPFD_CLOEXEC, 0);
  const char *name = x->root;
  for (char *p = rel; fd >= 0 && *p;) {
    char *slash = strchr(p, '/');
    if (slash) *slash = 0;
    if (!plain_name(p)) {
      close(fd);
      errno = EINVAL;
      return -1;
    }
    int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(fd);
    fd = next;
    name = p; /* REL is cut at each '/' for good: NAME must stay one component */
    if (!slash) break;
    p = slash + 1;
  }
  *last = name;
  return fd;
}

/* A link target is safe when relative and it never climbs above the copy's root. */
static int safe_target(const char *rel, const char *target) {
  if (!*target || *target == '/') return 0;
  int depth = 0;
  for (const char *p = rel; *p; p++) depth += *p == '/';
  for (const char *p = target; *p;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.') depth--;
    else if (n > 0 && !(n == 1 && p[0] == '.')) depth++;
    if (depth < 0) return 0;
    p += n + (p[n] == '/');
  }
  return 1;
}

static int put_close_file(struct xfer *x) {
  if (x->fd < 0) return 0;
  int bad = fchmod(x->fd, x->fmode) < 0 || futimens(x->fd, x->fts) < 0;
  bad |= close(x->fd) < 0;
  x->fd = -1;
  return bad ? -1 : 0;
}

static int put_file(struct xfer *x, int dfd, const char *name) {
  x->fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (x->fd < 0 && errno == ELOOP && unlinkat(dfd, name, 0) == 0)
    x->fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  return x->fd < 0 ? -1 : 0;
}

static int put_dir(struct xfer *x, int dfd, const char *name, const char *rel) {
  struct stat st;
  if (mkdirat(dfd, name, 0700) < 0) {
    if (errno != EEXIST) return -1;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -1;
    if (!S_ISDIR(st.st_mode)) return errno = EEXIST, -1;
  }
  if (x->npdirs == x->cappdirs) {
    size_t cap = x->cappdirs ? x->cappdirs * 2 : 64;
    struct pdir *p = realloc(x->pdirs, cap * sizeof *p);
    if (!p) return errno = ENOMEM, -1;
    x->pdirs = p, x->cappdirs = cap;
  }
  struct pdir *d = &x->pdirs[x->npdirs++];
  d->rel = strdup(rel);
  d->mode = x->fmode;
  memcpy(d->ts, x->fts, sizeof d->ts);
  return d->rel ? 0 : (errno = ENOMEM, -1);
}

static int put_link(int dfd, const char *name, const char *target) {
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) unlinkat(dfd, name, 0);
  return symlinkat(target, dfd, name);
}

/* ID pent T MODE SEC NSEC REL [TARGET] */
static void do_pent(struct xfer *x, char **t, int nt) {
  char *end, *rel = nt >= 5 ? b64_text(t[4]) : NULL;
  const char *last;
  char type = nt >= 5 ? t[0][0] : 0;
  unsigned long mode = nt >= 5 ? strtoul(t[1], &end, 8) : 0;
  if (!rel || t[0][1] || mode > 07777 || nt != (type == 'l' ? 6 : 5) || !strchr("fdl", type))
    return reply_error(x->id, "malformed pent request"), xfer_free(x);
  if (put_close_file(x) < 0) return reply_error(x->id, "cannot finish a file: %s", strerror(errno)), xfer_free(x);
  x->fmode = (mode_t)mode;
  x->fts[0].tv_nsec = UTIME_OMIT;
  x->fts[1].tv_sec = strtoll(t[2], NULL, 10);
  x->fts[1].tv_nsec = strtol(t[3], NULL, 10);
  char *target = type == 'l' ? b64_text(t[5]) : NULL;
  if (type == 'l' && (!target || !safe_target(rel, target)))
    return reply_error(x->id, "refused the link %s -> %s: it leaves the destination", rel, target ? target : "?"),
           xfer_free(x);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", rel);
  int dfd = put_walk(x, path, &last), r = -1;
  if (dfd >= 0) {
    r = type == 'f' ? put_file(x, dfd, last) : type == 'd' ? put_dir(x, dfd, last, rel) : put_link(dfd, last, target);
    if (r == 0 && type == 'l') utimensat(dfd, last, x->fts, AT_SYMLINK_NOFOLLOW);
  }
  int e = errno;
  if (dfd >= 0) close(dfd);
  if (r < 0) reply_error(x->id, "cannot write %s%s%s: %s", x->root, *rel ? "/" : "", rel, strerror(e)), xfer_free(x);
}

static void do_pdata(struct xfer *x, char **t, int nt) {
  long n = nt == 1 ? b64_decode(t[0]) : -1;
  if (n < 0 || x->fd < 0) return reply_error(x->id, "malformed pdata request"), xfer_free(x);
  for (long off = 0; off < n;) {
    ssize_t w = write(x->fd, t[0] + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return reply_error(x->id, "cannot write: %s", strerror(errno)), xfer_free(x);
    off += w;
  }
}

/* Directories get their modes and mtimes last, deepest first (their writes changed the mtime). */
static void do_pend(struct xfer *x) {
  int bad = put_close_file(x) < 0;
  for (size_t i = x->npdirs; i-- > 0;) {
    const char *last;
    int dfd = put_walk(x, x->pdirs[i].rel, &last);
    if (dfd < 0) continue;
    bad |= fchmodat(dfd, last, x->pdirs[i].mode, 0) < 0;
    bad |= utimensat(dfd, last, x->pdirs[i].ts, AT_SYMLINK_NOFOLLOW) < 0;
    close(dfd);
  }
  if (bad) reply_error(x->id, "cannot set modes or times: %s", strerror(errno));
  else reply(x->id, "exit", "0");
  xfer_free(x);
}

/* The transfer verbs; returns 0 when VERB is none of them. */
static int xfer_verb(const char *id, const char *verb, char **t, int nt) {
  if (strcmp(verb, "get") == 0) return do_get(id, t, nt), 1;
  if (strcmp(verb, "put") == 0) return do_put(id, t, nt), 1;
  int known = strcmp(verb, "credit") == 0 || strcmp(verb, "pent") == 0 || strcmp(verb, "pdata") == 0 ||
              (strcmp(verb, "pend") == 0 && nt == 0);
  if (!known) return 0;
  struct xfer *x = find_xfer(id);
  if (!x || x->put != (verb[0] == 'p')) return reply_error(id, "no transfer with id %s", id), 1;
  if (strcmp(verb, "credit") == 0) do_credit(x, t, nt);
  else if (strcmp(verb, "pent") == 0) do_pent(x, t, nt);
  else if (strcmp(verb, "pdata") == 0) do_pdata(x, t, nt);
  else do_pend(x);
  return 1;
}

static void do_exec_pty(const char *id, char **t, int nt) {
  struct winsize ws;
  if (nt < 2 || parse_winsize(t[0], t[1], &ws) < 0) FAIL(id, "malformed exec-pty request");
  do_exec(id, t + 2, nt - 2, &ws);
}

static void do_resize(const char *id, char **t, int nt) {
  struct kid *k = find_kid(id);
  struct winsize ws;
  if (nt != 2 || parse_winsize(t[0], t[1], &ws) < 0) FAIL(id, "malformed resize request");
  if (k && k->pty && k->out >= 0) ioctl(k->out, TIOCSWINSZ, &ws);
}

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
  else if (strcmp(verb, "exec") == 0) do_exec(id, t + 2, nt - 2, NULL);
  else if (strcmp(verb, "exec-pty") == 0) do_exec_pty(id, t + 2, nt - 2);
  else if (strcmp(verb, "resize") == 0) do_resize(id, t + 2, nt - 2);
  else if (xfer_verb(id, verb, t + 2, nt - 2)) { /* get, put, pent, pdata, pend, credit */ }
  else if (strcmp(verb, "stdin") == 0) do_stdin(id, t + 2, nt - 2, 0);
  else if (strcmp(verb, "stdin-eof") == 0 && nt == 2) do_stdin(id, NULL, 0, 1);
  else if (strcmp(verb, "kill") == 0) do_kill(id, t + 2, nt - 2);
  else reply_error(id, "unknown or malformed request \"%.40s\"", verb);
}

/* ---- channel ---- */

static void session_end(void) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (xfers[i].active) xfer_free(&xfers[i]);
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

/* ---- children's pipes and exit ---- */

static void kid_read(struct kid *k, int *fd, const char *tag) {
  static char tmp[CHUNK];
  ssize_t n = read(*fd, tmp, sizeof tmp);
  if (n > 0) {
    if (!k->orphan) reply_data(k->id, tag, tmp, (size_t)n);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close_fd(fd);
  }
}

static void kid_write(struct kid *k) {
  while (k->in >= 0 && buf_size(&k->inq) > 0) {
    ssize_t n = write(k->in, k->inq.p + k->inq.off, buf_size(&k->inq));
    if (n > 0) k->inq.off += (size_t)n;
    else if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    else close_fd(&k->in); /* EPIPE: it stopped reading */
  }
  if (k->in_eof || k->orphan) close_fd(&k->in);
}

static void reap(void) {
  struct signalfd_siginfo si;
  while (read(g.sigfd, &si, sizeof si) > 0) {}
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_KIDS; i++) {
      struct kid *k = &g.kids[i];
      if (k->pid != pid) continue;
      k->reaped = 1;
      k->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      k->deadline = now_ms() + GRACE_MS;
    }
  }
}

/* Exit is reported once the command exited and its pipes closed (or the grace ended). */
static void kid_finish(struct kid *k) {
  if (!k->pid || !k->reaped) return;
  if ((k->out >= 0 || k->err >= 0) && now_ms() < k->deadline) return;
  for (int i = 0; i < 16 && k->out >= 0; i++) kid_read(k, &k->out, "out");
  for (int i = 0; i < 16 && k->err >= 0; i++) kid_read(k, &k->err, "err");
  close_fd(&k->out), close_fd(&k->err), close_fd(&k->in);
  if (!k->orphan) {
    char code[16];
    snprintf(code, sizeof code, "%d", k->code);
    reply(k->id, "exit", code);
  }
  buf_free(&k->inq);
  memset(k, 0, sizeof *k);
  k->in = k->out = k->err = -1;
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
