/*
 * banger-agent: the log, the clock, growable buffers, base64, the reply
 * lines and small-file helpers that every part of the agent uses.
 */
#include "banger-agent.h"

void logmsg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("banger-agent: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- buffers ---- */

size_t buf_size(const struct buf *b) { return b->len - b->off; }

int buf_reserve(struct buf *b, size_t extra) {
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

void buf_add(struct buf *b, const void *d, size_t n) {
  if (buf_reserve(b, n) == 0) {
    memcpy(b->p + b->len, d, n);
    b->len += n;
  }
}

void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_free(struct buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void buf_b64(struct buf *b, const unsigned char *s, size_t n) {
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
long b64_decode(char *s) {
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
char *b64_text(char *s) {
  if (strcmp(s, "-") == 0) return *s = 0, s;
  long n = b64_decode(s);
  return n >= 0 && (size_t)n == strlen(s) ? s : NULL;
}

/* ---- replies ---- */

void reply(const char *id, const char *tag, const char *text) {
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

void reply_data(const char *id, const char *tag, const void *d, size_t n) {
  if (g.chan < 0) return;
  buf_str(&g.out, id);
  buf_add(&g.out, " ", 1);
  buf_str(&g.out, tag);
  buf_add(&g.out, " ", 1);
  buf_b64(&g.out, d, n);
  buf_add(&g.out, "\n", 1);
}

void reply_error(const char *id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  reply_data(id, "error", msg, strlen(msg));
}

/* ---- small files ---- */

int read_small(const char *path, char *out, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, size - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = 0;
  return 0;
}

/* Write DATA to FD from its start; 0 or an errno. */
static int write_all(int fd, const void *data, size_t n) {
  ssize_t w = write(fd, data, n);
  return w == (ssize_t)n ? 0 : w < 0 ? errno : EIO;
}

/* Replace PATH with DATA atomically (a temp file beside it, then rename); a PATH that is a
 * mount point (systemd bind-mounts /etc/machine-id at first boot) is overwritten in place.
 * Returns 0, or -1 with errno. */
int write_file(const char *path, const void *data, size_t n, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.banger-new", path) >= (int)sizeof tmp) return errno = ENAMETOOLONG, -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  int e = write_all(fd, data, n);
  if (!e && fchmod(fd, mode) < 0) e = errno; /* the umask does not apply */
  if (close(fd) < 0 && !e) e = errno;
  if (!e && rename(tmp, path) < 0) e = errno;
  if (e) unlink(tmp);
  if (e == EBUSY && (fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
    e = write_all(fd, data, n);
    if (close(fd) < 0 && !e) e = errno;
  }
  return e ? (errno = e, -1) : 0;
}

void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}
