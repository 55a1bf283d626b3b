/*
 * banger-agent: what its source files share (one static binary; the protocol
 * is described in banger-agent.c). Build:
 *   gcc -static -O2 -Wall -Wextra -o banger-agent banger-agent*.c
 */
#ifndef BANGER_AGENT_H
#define BANGER_AGENT_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#define AGENT_VERSION "3"
#define MAX_LINE (1024 * 1024)        /* longest request line */
#define OUT_HIGH (1024 * 1024)        /* above: stop reading the commands' output */
#define OUT_MAX (8 * 1024 * 1024)     /* above: stop reading requests */
#define CHUNK 32768
#define MAX_KIDS 64

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

struct agent {
  enum mode mode;
  int dev, listen_fd, chan, sigfd, skipping, auto_mode;
  struct buf in, out;
  struct kid kids[MAX_KIDS];
};

extern struct agent g;

/* banger-agent-util.c: log, clock, buffers, base64, replies, small files */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long now_ms(void);
size_t buf_size(const struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *d, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_free(struct buf *b);
void buf_b64(struct buf *b, const unsigned char *s, size_t n);
long b64_decode(char *s);
char *b64_text(char *s);
void reply(const char *id, const char *tag, const char *text);
void reply_data(const char *id, const char *tag, const void *d, size_t n);
void reply_error(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int read_small(const char *path, char *out, size_t size);
int write_file(const char *path, const void *data, size_t n, mode_t mode);
void close_fd(int *fd);

#define FAIL(...)             \
  do {                        \
    reply_error(__VA_ARGS__); \
    return;                   \
  } while (0)

/* banger-agent-info.c: health, ports, sync */
void do_health(const char *id);
void do_ports(const char *id);
void do_sync(const char *id);

/* banger-agent-exec.c: commands */
struct kid *find_kid(const char *id);
void kill_group(struct kid *k, int sig);
void do_exec(const char *id, char **t, int nt);
void do_exec_pty(const char *id, char **t, int nt);
void do_resize(const char *id, char **t, int nt);
void do_stdin(const char *id, char **t, int nt, int eof);
void do_kill(const char *id, char **t, int nt);
void kid_read(struct kid *k, int *fd, const char *tag);
void kid_write(struct kid *k);
void reap(void);
void kid_finish(struct kid *k);

/* banger-agent-files.c: get, credit, put, pent, pdata, pend */
int xfer_verb(const char *id, const char *verb, char **t, int nt);
int xfer_cancel(const char *id);
void xfer_end_all(void);
void xfer_pump(void);
int xfer_busy(void);

/* banger-agent-identity.c: a fork's new identity */
void do_identity(const char *id, char **t, int nt);

/* banger-agent-net.c: eth0's MAC, address and default route */
struct net_identity {
  unsigned char mac[6];
  unsigned char addr[4], gateway[4];
  int prefix;
};
int parse_mac(const char *s, unsigned char mac[6]);
int parse_cidr(const char *s, unsigned char addr[4], int *prefix);
int net_apply(const struct net_identity *n, char *err, size_t errsize);

/* banger-agent-ssh.c: the host key and the running sshd */
struct ssh_identity {
  char *private_key, *public_line;
  unsigned char seed[32], pub[32];
};
int ssh_parse(struct ssh_identity *s, char *err, size_t errsize);
int ssh_apply(const struct ssh_identity *s, char *err, size_t errsize);

#endif
