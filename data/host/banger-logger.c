/*
 * banger-logger: the per-VM log writer. It reads the VMM's output from pipes
 * and appends each stream to its file in one directory, rotating by size:
 * NAME -> NAME.1 -> ... -> NAME.KEEP (rename-based, never truncated in place),
 * so no file exceeds --max bytes and a stream never holds more than
 * max * (keep + 1) bytes on disk. It runs detached beside the VMM, as the
 * VMM's user, and outlives the daemon; it exits when every pipe's writer is
 * gone (the VMM exited).
 *
 * Confinement: everything arrives as inherited fds (the log directory and the
 * pipes); before reading anything it locks itself in with Landlock (write,
 * create and rename regular files beneath the log directory, nothing else on
 * the file system; no TCP; no signals or abstract sockets out) where the
 * kernel has it, a seccomp allowlist of the dozen syscalls it needs, no new
 * privileges, and not dumpable.
 *
 * usage: banger-logger --max BYTES --keep K --dir FD --in FD:NAME [--in FD:NAME]... [--tag TEXT]
 * Diagnostics are written, prefixed "banger-logger: ", to the last --in stream.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_STREAMS 4
#define NAME_MAX_LEN 64
#define BUF_SIZE 65536

struct sink {
  int in;                          /* read end of the pipe, -1 once it hit EOF */
  int out;                         /* the current file, -1 when it could not be opened */
  long long size;                  /* bytes in the current file */
  char name[NAME_MAX_LEN];
};

static struct sink sinks[MAX_STREAMS];
static int nsinks;
static int dirfd_ = -1;
static long long max_bytes;
static int keep;
static char buf[BUF_SIZE];

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void sink_write(struct sink *s, const char *p, size_t n);

/* A diagnostic line, into the last stream's file (the VMM's own log). */
static void diag(const char *msg) {
  char line[256];
  int n = snprintf(line, sizeof line, "banger-logger: %s\n", msg);
  if (n > 0 && nsinks > 0) sink_write(&sinks[nsinks - 1], line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

static void sink_open(struct sink *s) {
  s->out = openat(dirfd_, s->name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  s->size = 0;
  if (s->out < 0) return;
  struct stat st;
  if (fstat(s->out, &st) == 0) s->size = st.st_size;
}

/* NAME.(i) -> NAME.(i+1) for i = keep-1 .. 1, then NAME -> NAME.1, then a new NAME. */
static void sink_rotate(struct sink *s) {
  char from[NAME_MAX_LEN + 16], to[NAME_MAX_LEN + 16];
  if (s->out >= 0) close(s->out);
  s->out = -1;
  for (int i = keep - 1; i >= 1; i--) {
    snprintf(from, sizeof from, "%s.%d", s->name, i);
    snprintf(to, sizeof to, "%s.%d", s->name, i + 1);
    if (renameat(dirfd_, from, dirfd_, to) < 0 && errno != ENOENT) break;
  }
  snprintf(to, sizeof to, "%s.1", s->name);
  int renamed = renameat(dirfd_, s->name, dirfd_, to) == 0;
  sink_open(s);
  if (!renamed && s->out >= 0 && s->size >= max_bytes) {
    /* Neither rotating nor appending keeps the cap: drop this stream's output. */
    close(s->out);
    s->out = -1;
  }
}

/* Append, rotating before the file would pass the cap; a rotation falls on a line end when the chunk has one. */
static void sink_write(struct sink *s, const char *p, size_t n) {
  int tries = 0; /* rotations in a row without writing: the directory refuses, the output is dropped */
  while (n > 0) {
    size_t take = 0;
    if (s->out >= 0 && s->size < max_bytes) {
      long long room = max_bytes - s->size;
      take = n;
      if ((long long)n > room) {
        const char *nl = memrchr(p, '\n', (size_t)room);
        if (nl != NULL) take = (size_t)(nl - p) + 1;
        else take = s->size > 0 ? 0 : (size_t)room; /* a line longer than the cap is split */
      }
    }
    if (take == 0) {
      if (++tries > 2) return;
      sink_rotate(s);
      continue;
    }
    if (write_all(s->out, p, take) < 0) {
      close(s->out);
      s->out = -1;
      return;
    }
    s->size += (long long)take;
    p += take;
    n -= take;
    tries = 0;
  }
}

/* ---- confinement ---- */

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct ll_path_beneath {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_REG (1ULL << 8)

/* Returns the Landlock ABI that now confines us, or 0 when the kernel has none. */
static int landlock(void) {
  long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, 1UL /* VERSION */);
  if (abi <= 0) return 0;
  struct ll_ruleset_attr attr = {0};
  attr.handled_access_fs = (1ULL << 13) - 1; /* ABI 1: every file system access */
  if (abi >= 2) attr.handled_access_fs |= 1ULL << 13; /* REFER */
  if (abi >= 3) attr.handled_access_fs |= 1ULL << 14; /* TRUNCATE */
  if (abi >= 5) attr.handled_access_fs |= 1ULL << 15; /* IOCTL_DEV */
  size_t size = 8;
  if (abi >= 4) {
    attr.handled_access_net = 3; /* BIND_TCP | CONNECT_TCP */
    size = 16;
  }
  if (abi >= 6) {
    attr.scoped = 3; /* ABSTRACT_UNIX_SOCKET | SIGNAL */
    size = 24;
  }
  int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  if (rs < 0) return -1;
  struct ll_path_beneath rule = {LL_FS_WRITE_FILE | LL_FS_REMOVE_FILE | LL_FS_MAKE_REG, dirfd_};
  if (syscall(__NR_landlock_add_rule, rs, 1 /* PATH_BENEATH */, &rule, 0) < 0 ||
      syscall(__NR_landlock_restrict_self, rs, 0) < 0) {
    close(rs);
    return -1;
  }
  close(rs);
  return (int)abi;
}

#if defined(__x86_64__)
#define SC_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SC_ARCH AUDIT_ARCH_AARCH64
#endif

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static int seccomp_allowlist(void) {
#ifdef SC_ARCH
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SC_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_close), ALLOW(__NR_openat),
    ALLOW(__NR_fstat), ALLOW(__NR_newfstatat), ALLOW(__NR_renameat2), ALLOW(__NR_ppoll),
    ALLOW(__NR_fcntl), ALLOW(__NR_exit), ALLOW(__NR_exit_group), ALLOW(__NR_rt_sigreturn),
    ALLOW(__NR_restart_syscall), ALLOW(__NR_brk), ALLOW(__NR_munmap),
#ifdef __NR_renameat
    ALLOW(__NR_renameat),
#endif
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#else
  return -1;
#endif
}

#ifdef BANGER_LOGGER_PROBE
#include <sys/socket.h>
/*
 * Test builds only (-DBANGER_LOGGER_PROBE): once confined, try what a
 * subverted logger would, and say how each attempt ended (test/integration).
 */
static const char *probe_tag; /* the probe writes outside at TAG/../../escaped */

static void probe_report(const char *what, int rc) {
  char m[200];
  snprintf(m, sizeof m, "probe %s: %s", what, rc >= 0 ? "ALLOWED" : strerror(errno));
  diag(m);
}

static void probe(void) {
  char outside[512];
  if (probe_tag == NULL) return;
  snprintf(outside, sizeof outside, "%s/../../escaped", probe_tag);
  probe_report("open outside", openat(AT_FDCWD, outside, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  probe_report("open parent", openat(dirfd_, "../escape", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  probe_report("read passwd", openat(AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC));
  probe_report("socket", socket(AF_INET, SOCK_STREAM, 0));
  probe_report("mkdir", mkdirat(dirfd_, "sub", 0700));
}
#endif

/* ---- arguments ---- */

static void usage(const char *why) {
  char m[200];
  int n = snprintf(m, sizeof m, "banger-logger: %s\nusage: banger-logger --max BYTES --keep K --dir FD --in FD:NAME... [--tag TEXT]\n", why);
  if (n > 0) write_all(2, m, (size_t)(n < (int)sizeof m ? n : (int)sizeof m - 1));
  exit(2);
}

static long long number(const char *s, long long lo, long long hi, const char *what) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) usage(what);
  return v;
}

static int valid_name(const char *n) {
  size_t len = strlen(n);
  if (len == 0 || len >= NAME_MAX_LEN - 8 || n[0] == '.') return 0;
  for (size_t i = 0; i < len; i++)
    if (n[i] == '/') return 0;
  return 1;
}

static void parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage("every option takes a value");
    const char *v = argv[++i];
    if (strcmp(a, "--max") == 0) max_bytes = number(v, 4096, 1LL << 40, "--max must be 4096..2^40 bytes");
    else if (strcmp(a, "--keep") == 0) keep = (int)number(v, 1, 99, "--keep must be 1..99");
    else if (strcmp(a, "--dir") == 0) dirfd_ = (int)number(v, 3, 1023, "--dir must be an fd number 3..1023");
#ifdef BANGER_LOGGER_PROBE
    else if (strcmp(a, "--tag") == 0) probe_tag = v;
#else
    else if (strcmp(a, "--tag") == 0) continue;
#endif
    else if (strcmp(a, "--in") == 0) {
      const char *colon = strchr(v, ':');
      if (colon == NULL || nsinks == MAX_STREAMS) usage("--in is FD:NAME (at most 4 streams)");
      char fdtext[16];
      size_t fl = (size_t)(colon - v);
      if (fl == 0 || fl >= sizeof fdtext) usage("--in FD must be a number");
      memcpy(fdtext, v, fl);
      fdtext[fl] = '\0';
      struct sink *s = &sinks[nsinks++];
      s->in = (int)number(fdtext, 0, 1023, "--in FD must be an fd number");
      if (!valid_name(colon + 1)) usage("--in NAME must be a plain file name");
      strcpy(s->name, colon + 1);
      s->out = -1;
    } else usage("unknown option");
  }
  if (max_bytes == 0 || keep == 0 || dirfd_ < 0 || nsinks == 0) usage("--max, --keep, --dir and --in are required");
}

/* Close every fd we were not told about (an exec through /proc/self/fd/N leaves that N open). */
static void close_others(void) {
  for (int fd = 3; fd < 1024; fd++) {
    int ours = fd == dirfd_;
    for (int i = 0; i < nsinks; i++) ours |= sinks[i].in == fd;
    if (!ours) close(fd);
  }
}

int main(int argc, char **argv) {
  parse(argc, argv);
  close_others();
  struct stat st;
  if (fstat(dirfd_, &st) < 0 || !S_ISDIR(st.st_mode)) usage("--dir is not an open directory");
  for (int i = 0; i < nsinks; i++) {
    int fl = fcntl(sinks[i].in, F_GETFL);
    if (fl < 0) usage("--in FD is not open");
    fcntl(sinks[i].in, F_SETFL, fl & ~O_NONBLOCK);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) usage("cannot set no_new_privs");
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  int abi = landlock();
  if (seccomp_allowlist() < 0) usage("cannot install the seccomp filter");
  for (int i = 0; i < nsinks; i++) sink_open(&sinks[i]);
  if (abi <= 0) diag(abi == 0 ? "the kernel has no Landlock: confined by uid and seccomp only" : "Landlock refused: confined by uid and seccomp only");
#ifdef BANGER_LOGGER_PROBE
  probe();
#endif
  struct pollfd pfd[MAX_STREAMS];
  for (int open_streams = nsinks; open_streams > 0;) {
    for (int i = 0; i < nsinks; i++) pfd[i] = (struct pollfd){.fd = sinks[i].in, .events = POLLIN};
    if (ppoll(pfd, (nfds_t)nsinks, NULL, NULL) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < nsinks; i++) {
      if (sinks[i].in < 0 || pfd[i].revents == 0) continue;
      ssize_t n = read(sinks[i].in, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        close(sinks[i].in);
        sinks[i].in = -1;
        open_streams--;
        continue;
      }
      sink_write(&sinks[i], buf, (size_t)n);
    }
  }
  return 0;
}
