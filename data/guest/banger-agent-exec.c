/*
 * banger-agent: commands. exec and exec-pty fork and exec in their own
 * process group (or session, on a pty); stdin, kill and resize act on a
 * running command; the main loop moves their output and reports their exit.
 */
#include "banger-agent.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>

#define STDIN_MAX (4 * 1024 * 1024)   /* stdin queued for one command */
#define MAX_ENV 256
#define GRACE_MS 300                  /* wait for the pipes' EOF after the command exits */

extern char **environ;

struct kid *find_kid(const char *id) {
  for (int i = 0; i < MAX_KIDS; i++)
    if (g.kids[i].pid && !g.kids[i].orphan && strcmp(g.kids[i].id, id) == 0) return &g.kids[i];
  return NULL;
}

void kill_group(struct kid *k, int sig) {
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

static void exec_run(const char *id, char **t, int nt, struct winsize *ws) {
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

void do_exec(const char *id, char **t, int nt) { exec_run(id, t, nt, NULL); }

void do_stdin(const char *id, char **t, int nt, int eof) {
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

void do_kill(const char *id, char **t, int nt) {
  struct kid *k = find_kid(id);
  char *end;
  long sig = nt == 1 ? strtol(t[0], &end, 10) : -1;
  if (sig < 1 || sig > 64 || *end) FAIL(id, "malformed kill request");
  if (k) kill_group(k, (int)sig);
  else xfer_cancel(id);
}

void do_exec_pty(const char *id, char **t, int nt) {
  struct winsize ws;
  if (nt < 2 || parse_winsize(t[0], t[1], &ws) < 0) FAIL(id, "malformed exec-pty request");
  exec_run(id, t + 2, nt - 2, &ws);
}

void do_resize(const char *id, char **t, int nt) {
  struct kid *k = find_kid(id);
  struct winsize ws;
  if (nt != 2 || parse_winsize(t[0], t[1], &ws) < 0) FAIL(id, "malformed resize request");
  if (k && k->pty && k->out >= 0) ioctl(k->out, TIOCSWINSZ, &ws);
}

/* ---- the children's pipes and exit ---- */

void kid_read(struct kid *k, int *fd, const char *tag) {
  static char tmp[CHUNK];
  ssize_t n = read(*fd, tmp, sizeof tmp);
  if (n > 0) {
    if (!k->orphan) reply_data(k->id, tag, tmp, (size_t)n);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close_fd(fd);
  }
}

void kid_write(struct kid *k) {
  while (k->in >= 0 && buf_size(&k->inq) > 0) {
    ssize_t n = write(k->in, k->inq.p + k->inq.off, buf_size(&k->inq));
    if (n > 0) k->inq.off += (size_t)n;
    else if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    else close_fd(&k->in); /* EPIPE: it stopped reading */
  }
  if (k->in_eof || k->orphan) close_fd(&k->in);
}

void reap(void) {
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
void kid_finish(struct kid *k) {
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
