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

#include "banger-agent-files.c" /* get, credit, put, pent, pdata, pend */

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
