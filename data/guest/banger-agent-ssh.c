/*
 * banger-agent: a fork's SSH host key. The host pins the key it generated, so
 * the guest must serve exactly it: the key is parsed (unencrypted OpenSSH
 * ed25519, matching the public line) before anything changes, then written to
 * /etc/ssh/ssh_host_ed25519_key (0600) and .pub (0644). The running servers
 * (listeners: a process whose parent is not of its kind) pick it up:
 *   - OpenSSH sshd: SIGHUP (it re-executes itself and reads its keys again);
 *   - dropbear: its ed25519 key file (each -r FILE naming ed25519, else
 *     /etc/dropbear/dropbear_ed25519_host_key) gets the key in dropbear's
 *     format, then SIGTERM: the init that runs it (inittab respawn, runit,
 *     systemd Restart=) starts it again; when nothing has after 5 s the agent
 *     starts it itself with the same command line.
 * The step ends once every port the old listener had is listening again on a
 * new socket (5 s, plus 5 s after a restart by the agent). No sshd: files only.
 */
#include "banger-agent.h"
#include <signal.h>
#include <sys/wait.h>

#define KEY_PATH "/etc/ssh/ssh_host_ed25519_key"
#define DROPBEAR_DEFAULT "/etc/dropbear/dropbear_ed25519_host_key"
#define MAX_SERVERS 8
#define MAX_LISTEN 16
#define WAIT_MS 5000

/* ---- parsing the OpenSSH key ---- */

struct rd { const unsigned char *p; size_t n; };

static int rd_u32(struct rd *r, unsigned *v) {
  if (r->n < 4) return -1;
  *v = (unsigned)r->p[0] << 24 | (unsigned)r->p[1] << 16 | (unsigned)r->p[2] << 8 | r->p[3];
  r->p += 4, r->n -= 4;
  return 0;
}

/* A length-prefixed string; with want != NULL it must equal that text. */
static int rd_str(struct rd *r, struct rd *out, const char *want) {
  unsigned n;
  if (rd_u32(r, &n) < 0 || n > r->n) return -1;
  *out = (struct rd){ r->p, n };
  r->p += n, r->n -= n;
  return want && (strlen(want) != n || memcmp(out->p, want, n) != 0) ? -1 : 0;
}

/* The public key blob: string "ssh-ed25519", string of 32 bytes. */
static int rd_pub(struct rd *r, unsigned char pub[32]) {
  struct rd s;
  if (rd_str(r, &s, "ssh-ed25519") < 0 || rd_str(r, &s, NULL) < 0 || s.n != 32) return -1;
  memcpy(pub, s.p, 32);
  return 0;
}

/* The base64 body between the PEM armour lines, decoded into a new buffer. */
static long pem_body(const char *text, char **out) {
  static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----", end[] = "-----END OPENSSH PRIVATE KEY-----";
  const char *a = strstr(text, begin), *b = a ? strstr(a, end) : NULL;
  if (!b) return -1;
  char *d = *out = malloc((size_t)(b - a) + 1), *o = d;
  if (!d) return -1;
  for (const char *p = a + sizeof begin - 1; p < b; p++)
    if (!strchr(" \t\r\n", *p)) *o++ = *p;
  *o = 0;
  return b64_decode(d);
}

static const char *parse_private(struct ssh_identity *s, struct rd r) {
  struct rd x, priv;
  unsigned nkeys, c1, c2;
  unsigned char pub2[32];
  if (r.n < 15 || memcmp(r.p, "openssh-key-v1", 15) != 0) return "not an OpenSSH private key";
  r.p += 15, r.n -= 15;
  if (rd_str(&r, &x, "none") < 0 || rd_str(&r, &x, "none") < 0) return "an encrypted key";
  if (rd_str(&r, &x, "") < 0 || rd_u32(&r, &nkeys) < 0 || nkeys != 1) return "not one key";
  if (rd_str(&r, &x, NULL) < 0 || rd_pub(&x, s->pub) < 0) return "not an ed25519 key";
  if (rd_str(&r, &x, NULL) < 0 || rd_u32(&x, &c1) < 0 || rd_u32(&x, &c2) < 0 || c1 != c2) return "damaged";
  if (rd_pub(&x, pub2) < 0 || rd_str(&x, &priv, NULL) < 0 || priv.n != 64) return "damaged";
  if (memcmp(pub2, s->pub, 32) != 0 || memcmp(priv.p + 32, s->pub, 32) != 0) return "damaged";
  memcpy(s->seed, priv.p, 32);
  return NULL;
}

int ssh_parse(struct ssh_identity *s, char *err, size_t es) {
  char *bin = NULL;
  long n = pem_body(s->private_key, &bin);
  const char *bad = n < 0 ? "not an OpenSSH private key" : parse_private(s, (struct rd){ (unsigned char *)bin, (size_t)n });
  if (bin) explicit_bzero(bin, n > 0 ? (size_t)n : 0), free(bin);
  if (bad) return snprintf(err, es, "identity: bad ssh-key: %s", bad), -1;
  /* ssh-pub: "ssh-ed25519 BASE64 [comment]", the same key */
  char blob[256];
  unsigned char pub[32];
  size_t len = strcspn(s->public_line + 12, " \t\r\n");
  int ok = strncmp(s->public_line, "ssh-ed25519 ", 12) == 0 && len < sizeof blob && !strpbrk(s->public_line, "\r\n");
  if (ok) {
    memcpy(blob, s->public_line + 12, len), blob[len] = 0;
    long bn = b64_decode(blob);
    struct rd r = { (unsigned char *)blob, bn < 0 ? 0 : (size_t)bn };
    ok = bn > 0 && rd_pub(&r, pub) == 0 && r.n == 0;
  }
  if (!ok) return snprintf(err, es, "identity: bad ssh-pub: not one line \"ssh-ed25519 KEY [comment]\""), -1;
  if (memcmp(pub, s->pub, 32) != 0) return snprintf(err, es, "identity: ssh-pub is not the key of ssh-key"), -1;
  return 0;
}

/* ---- the running servers ---- */

struct lsock { unsigned port; int v6; unsigned long inode; };

struct server {
  pid_t pid;
  int dropbear;
  struct lsock listen[MAX_LISTEN];
  int nlisten;
};

static int comm_of(pid_t pid, char *out, size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  if (read_small(path, out, n) < 0) return -1;
  out[strcspn(out, "\n")] = 0;
  return 0;
}

static pid_t parent_of(pid_t pid) {
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_small(path, text, sizeof text) < 0) return -1;
  const char *p = strrchr(text, ')'); /* comm may hold spaces */
  int ppid;
  return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* Every TCP socket listening now, from /proc/net/tcp and tcp6. */
static int listening(struct lsock *out, int max) {
  int n = 0;
  for (int v6 = 0; v6 < 2; v6++) {
    FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "re");
    char line[512];
    while (f && fgets(line, sizeof line, f) && n < max) {
      unsigned port, state;
      unsigned long inode;
      if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*d %lu", &port, &state,
                 &inode) == 3 && state == 0x0A)
        out[n++] = (struct lsock){ port, v6, inode };
    }
    if (f) fclose(f);
  }
  return n;
}

/* The listening sockets among PID's open files. */
static void server_sockets(struct server *s) {
  static struct lsock all[1024];
  int n = listening(all, 1024);
  char dir[64], link[320], target[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)s->pid);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) && s->nlisten < MAX_LISTEN) {
    snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
    ssize_t len = readlink(link, target, sizeof target - 1);
    unsigned long inode;
    if (len <= 0 || (target[len] = 0, sscanf(target, "socket:[%lu]", &inode) != 1)) continue;
    for (int i = 0; i < n && s->nlisten < MAX_LISTEN; i++)
      if (all[i].inode == inode) s->listen[s->nlisten++] = all[i];
  }
  if (d) closedir(d);
}

/* sshd and dropbear listeners: processes of that name whose parent is not of it. */
static int find_servers(struct server *out) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)) && n < MAX_SERVERS) {
    char comm[64], pcomm[64];
    pid_t pid = (pid_t)atoi(e->d_name);
    if (pid <= 0 || comm_of(pid, comm, sizeof comm) < 0) continue;
    int dropbear = strcmp(comm, "dropbear") == 0;
    if (!dropbear && strcmp(comm, "sshd") != 0) continue;
    pid_t ppid = parent_of(pid);
    if (ppid > 0 && comm_of(ppid, pcomm, sizeof pcomm) == 0 && strcmp(pcomm, comm) == 0) continue;
    out[n] = (struct server){ .pid = pid, .dropbear = dropbear };
    server_sockets(&out[n++]);
  }
  if (d) closedir(d);
  return n;
}

/* PID's command line as an argv (in buf); returns argc, 0 when unreadable. */
static int cmdline_of(pid_t pid, char *buf, size_t size, char **argv, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC), argc = 0;
  ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  for (char *p = buf; p < buf + n && argc < max - 1; p += strlen(p) + 1) argv[argc++] = p;
  argv[argc] = NULL;
  return argc;
}

/* dropbear's key format: string "ssh-ed25519", string of 64 bytes (seed, public key). */
static int write_dropbear_key(const char *path, const struct ssh_identity *s) {
  unsigned char k[83] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 64 };
  memcpy(k + 19, s->seed, 32);
  memcpy(k + 51, s->pub, 32);
  int r = write_file(path, k, sizeof k, 0600);
  explicit_bzero(k, sizeof k);
  return r;
}

/* dropbear's ed25519 key files: each -r FILE naming ed25519, else the default path. */
static int dropbear_keys(pid_t pid, const struct ssh_identity *s, char *err, size_t es) {
  static char buf[4096];
  char *argv[64];
  int argc = cmdline_of(pid, buf, sizeof buf, argv, 64), given = 0;
  for (int i = 1; i < argc; i++) {
    const char *file = strcmp(argv[i], "-r") == 0 && i + 1 < argc ? argv[++i]
                       : strncmp(argv[i], "-r", 2) == 0 && argv[i][2] ? argv[i] + 2 : NULL;
    if (!file || !strstr(file, "ed25519")) continue;
    given = 1;
    if (strcmp(file, KEY_PATH) == 0) continue; /* it reads the OpenSSH file itself */
    if (write_dropbear_key(file, s) < 0) return snprintf(err, es, "write %s: %s", file, strerror(errno)), -1;
  }
  if (!given && write_dropbear_key(DROPBEAR_DEFAULT, s) < 0)
    return snprintf(err, es, "write " DROPBEAR_DEFAULT ": %s", strerror(errno)), -1;
  return 0;
}

/* Start argv detached (a grandchild of the agent, adopted by init). */
static void relaunch(char **argv) {
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (fork() == 0) {
      int null = open("/dev/null", O_RDWR);
      for (int fd = 0; null >= 0 && fd < 3; fd++) dup2(null, fd);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      execv(argv[0], argv);
    }
    _exit(0);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
}

/* 1 once each of the server's old ports listens on a socket it did not have. */
static int back(const struct server *s) {
  static struct lsock now[1024];
  int n = listening(now, 1024);
  for (int i = 0; i < s->nlisten; i++) {
    int found = 0;
    for (int j = 0; j < n && !found; j++) {
      int old = 0;
      for (int k = 0; k < s->nlisten; k++) old |= now[j].inode == s->listen[k].inode;
      found = !old && now[j].port == s->listen[i].port && now[j].v6 == s->listen[i].v6;
    }
    if (!found) return 0;
  }
  return 1;
}

static int wait_back(const struct server *s) {
  for (long long end = now_ms() + WAIT_MS; !back(s); usleep(20000))
    if (now_ms() > end) return 0;
  return 1;
}

/* Make one listener serve the new key, and wait until it listens again. */
static int reload(const struct server *s, const struct ssh_identity *id, char *err, size_t es) {
  static char buf[4096];
  char *argv[64], exe[PATH_MAX], link[64];
  const char *name = s->dropbear ? "dropbear" : "sshd";
  snprintf(link, sizeof link, "/proc/%d/exe", (int)s->pid);
  ssize_t n = readlink(link, exe, sizeof exe - 1);
  int argc = cmdline_of(s->pid, buf, sizeof buf, argv, 64);
  if (s->dropbear && dropbear_keys(s->pid, id, err, es) < 0) return -1;
  if (kill(s->pid, s->dropbear ? SIGTERM : SIGHUP) < 0)
    return snprintf(err, es, "signal %s (pid %d): %s", name, (int)s->pid, strerror(errno)), -1;
  if (wait_back(s)) return 0;
  if (s->dropbear && n > 0 && argc > 0) { /* nothing restarted it */
    exe[n] = 0;
    argv[0] = exe;
    relaunch(argv);
    if (wait_back(s)) return 0;
  }
  unsigned port = s->nlisten ? s->listen[0].port : 0;
  return snprintf(err, es, "%s (pid %d) did not listen on port %u again", name, (int)s->pid, port), -1;
}

int ssh_apply(const struct ssh_identity *s, char *err, size_t es) {
  char pub[1024];
  int n = snprintf(pub, sizeof pub, "%s\n", s->public_line);
  size_t klen = strlen(s->private_key);
  char *key = malloc(klen + 2);
  if (!key) return snprintf(err, es, "out of memory"), -1;
  memcpy(key, s->private_key, klen);
  if (klen == 0 || key[klen - 1] != '\n') key[klen++] = '\n';
  if (mkdir("/etc/ssh", 0755) < 0 && errno != EEXIST) return free(key), snprintf(err, es, "mkdir /etc/ssh: %s", strerror(errno)), -1;
  int r = write_file(KEY_PATH, key, klen, 0600);
  explicit_bzero(key, klen), free(key);
  if (r < 0) return snprintf(err, es, "write " KEY_PATH ": %s", strerror(errno)), -1;
  if (n >= (int)sizeof pub || write_file(KEY_PATH ".pub", pub, (size_t)n, 0644) < 0)
    return snprintf(err, es, "write " KEY_PATH ".pub: %s", strerror(errno)), -1;
  struct stat st;
  if (lstat(DROPBEAR_DEFAULT, &st) == 0 && S_ISREG(st.st_mode) && write_dropbear_key(DROPBEAR_DEFAULT, s) < 0)
    return snprintf(err, es, "write " DROPBEAR_DEFAULT ": %s", strerror(errno)), -1;
  static struct server servers[MAX_SERVERS];
  int count = find_servers(servers);
  for (int i = 0; i < count; i++)
    if (reload(&servers[i], s, err, es) < 0) return -1;
  return 0;
}
