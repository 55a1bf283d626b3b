/*
 * banger-agent file transfers (agent version 2): `get` streams a tree out as
 * fent/fdata replies paced by the host's credit; `put` writes a tree from
 * pent/pdata/pend requests, never through a symlink, refusing link targets
 * that leave the copy.
 */
#include "banger-agent.h"

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

/* kill on a transfer's id: drop it. Returns 1 when there was one. */
int xfer_cancel(const char *id) {
  struct xfer *x = find_xfer(id);
  if (x) xfer_free(x);
  return x != NULL;
}

/* The host disconnected: drop every transfer. */
void xfer_end_all(void) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (xfers[i].active) xfer_free(&xfers[i]);
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

int xfer_busy(void) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (get_ready(&xfers[i])) return buf_size(&g.out) < OUT_HIGH;
  return 0;
}

/* Run gets while the reply buffer has room (called from the main loop). */
void xfer_pump(void) {
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
int xfer_verb(const char *id, const char *verb, char **t, int nt) {
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

