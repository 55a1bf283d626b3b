/*
 * banger-agent: `identity` (agent version 3). A forked VM starts with its
 * source's memory; before it is declared ready the host gives it its own
 * identity in one request of KEY=VALUE fields (text and bytes in base64):
 *
 *   ID identity hostname=B64 machine-id=HEX32 clock=MS entropy=B64
 *               [address=A.B.C.D/N gateway=A.B.C.D mac=XX:XX:XX:XX:XX:XX]
 *               [ssh-key=B64 ssh-pub=B64]
 *
 * Every field is checked before anything changes. Then, in order: the clock
 * (CLOCK_REALTIME from the host's epoch ms), the entropy (RNDADDENTROPY,
 * credited, then RNDRESEEDCRNG), the hostname (sethostname, /etc/hostname,
 * the 127.0.1.1 line of /etc/hosts), the machine id (/etc/machine-id and
 * /var/lib/dbus/machine-id when that is a regular file), eth0
 * (banger-agent-net.c) and the SSH host key (banger-agent-ssh.c). Every step
 * runs; the reply is `ID ok -` when all worked, else `ID error MSG` naming
 * each step that failed.
 */
#include "banger-agent.h"
#include <sys/ioctl.h>
#include <linux/random.h>

#ifndef RNDRESEEDCRNG
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

#define MIN_ENTROPY 32
#define MAX_ENTROPY 4096
#define MIN_CLOCK_MS 1577836800000LL /* 2020-01-01: an epoch in seconds is a mistake */

struct identity {
  char *hostname, *machine_id, *entropy;
  long nentropy;
  long long clock_ms;
  int has_net, has_ssh;
  struct net_identity net;
  struct ssh_identity ssh;
};

enum field { F_HOST, F_MID, F_CLOCK, F_ENTROPY, F_ADDR, F_GW, F_MAC, F_SSHKEY, F_SSHPUB, F_COUNT };
static const char *const FIELDS[F_COUNT] = { "hostname", "machine-id", "clock", "entropy", "address",
                                             "gateway", "mac", "ssh-key", "ssh-pub" };

static int valid_hostname(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64 || *s == '-' || *s == '.') return 0;
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

static int valid_machine_id(const char *s) {
  return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32 && strspn(s, "0") != 32;
}

/* One field's value into idn; returns NULL or why it is bad. */
static const char *parse_field(struct identity *idn, enum field f, char *v) {
  char *end;
  switch (f) {
  case F_HOST:
    idn->hostname = b64_text(v);
    return idn->hostname && valid_hostname(idn->hostname) ? NULL : "1 to 64 of a-z, A-Z, 0-9, '-', '.'";
  case F_MID:
    idn->machine_id = v;
    return valid_machine_id(v) ? NULL : "32 lowercase hex digits, not all zero";
  case F_CLOCK:
    errno = 0;
    idn->clock_ms = strtoll(v, &end, 10);
    return *end || errno || idn->clock_ms < MIN_CLOCK_MS ? "the unix epoch in milliseconds" : NULL;
  case F_ENTROPY:
    idn->entropy = v;
    idn->nentropy = b64_decode(v);
    return idn->nentropy < MIN_ENTROPY || idn->nentropy > MAX_ENTROPY ? "base64 of 32 to 4096 bytes" : NULL;
  case F_ADDR: return parse_cidr(v, idn->net.addr, &idn->net.prefix) ? "an IPv4 address/prefix" : NULL;
  case F_GW: return parse_cidr(v, idn->net.gateway, NULL) ? "an IPv4 address" : NULL;
  case F_MAC: return parse_mac(v, idn->net.mac) ? "a unicast MAC like 06:00:0a:00:00:02" : NULL;
  case F_SSHKEY: return (idn->ssh.private_key = b64_text(v)) ? NULL : "base64 text";
  case F_SSHPUB: return (idn->ssh.public_line = b64_text(v)) ? NULL : "base64 text";
  default: return "unknown";
  }
}

/* Same subnet, not the address itself. */
static int gateway_ok(const struct net_identity *n) {
  unsigned a = 0, gw = 0, mask = n->prefix ? ~0u << (32 - n->prefix) : 0;
  for (int i = 0; i < 4; i++) a = a << 8 | n->addr[i], gw = gw << 8 | n->gateway[i];
  return (a & mask) == (gw & mask) && a != gw;
}

/* Parse and check every field; 0, or -1 with err set. */
static int parse_identity(struct identity *idn, char **t, int nt, char *err, size_t es) {
  int seen[F_COUNT] = { 0 };
  for (int i = 0; i < nt; i++) {
    char *eq = strchr(t[i], '=');
    int f = 0;
    if (eq) *eq = 0;
    while (f < F_COUNT && strcmp(FIELDS[f], t[i]) != 0) f++;
    if (!eq || f == F_COUNT) return snprintf(err, es, "identity: unknown field \"%.40s\"", t[i]), -1;
    if (seen[f]++) return snprintf(err, es, "identity: %s given twice", FIELDS[f]), -1;
    const char *bad = parse_field(idn, (enum field)f, eq + 1);
    if (bad) return snprintf(err, es, "identity: bad %s: %s", FIELDS[f], bad), -1;
  }
  idn->has_net = seen[F_ADDR] + seen[F_GW] + seen[F_MAC];
  if (idn->has_net && idn->has_net != 3)
    return snprintf(err, es, "identity: address, gateway and mac go together"), -1;
  if (idn->has_net && !gateway_ok(&idn->net))
    return snprintf(err, es, "identity: bad gateway: not in the address's subnet"), -1;
  idn->has_ssh = seen[F_SSHKEY] + seen[F_SSHPUB];
  if (idn->has_ssh && idn->has_ssh != 2) return snprintf(err, es, "identity: ssh-key and ssh-pub go together"), -1;
  if (idn->has_ssh && ssh_parse(&idn->ssh, err, es) < 0) return -1;
  for (int f = F_HOST; f <= F_ENTROPY; f++) /* last: a test can check the rest without a whole identity */
    if (!seen[f]) return snprintf(err, es, "identity: %s is missing", FIELDS[f]), -1;
  return 0;
}

static int set_clock(const struct identity *idn, char *err, size_t es) {
  struct timespec ts = { .tv_sec = idn->clock_ms / 1000, .tv_nsec = idn->clock_ms % 1000 * 1000000 };
  if (clock_settime(CLOCK_REALTIME, &ts) == 0) return 0;
  return snprintf(err, es, "clock_settime: %s", strerror(errno)), -1;
}

static int add_entropy(const struct identity *idn, char *err, size_t es) {
  struct rand_pool_info *p = malloc(sizeof *p + (size_t)idn->nentropy);
  int fd = open("/dev/random", O_WRONLY | O_CLOEXEC), r = -1;
  if (!p || fd < 0) snprintf(err, es, "open /dev/random: %s", strerror(p ? errno : ENOMEM));
  else {
    p->entropy_count = (int)idn->nentropy * 8;
    p->buf_size = (int)idn->nentropy;
    memcpy(p->buf, idn->entropy, (size_t)idn->nentropy);
    if (ioctl(fd, RNDADDENTROPY, p) < 0) snprintf(err, es, "RNDADDENTROPY: %s", strerror(errno));
    else if (ioctl(fd, RNDRESEEDCRNG) < 0) snprintf(err, es, "RNDRESEEDCRNG: %s", strerror(errno));
    else r = 0;
  }
  if (fd >= 0) close(fd);
  if (p) explicit_bzero(p->buf, (size_t)idn->nentropy);
  free(p);
  return r;
}

/* /etc/hosts: a 127.0.1.1 line (Debian's own name) now names the new host; no line, no change. */
static int update_hosts(const char *name) {
  static char text[65536];
  struct buf b = { 0 };
  int found = 0;
  if (read_small("/etc/hosts", text, sizeof text) < 0) return errno == ENOENT ? 0 : -1;
  for (char *line = text, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
    nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    if (strncmp(line, "127.0.1.1", 9) == 0 && (line[9] == ' ' || line[9] == '\t')) {
      buf_str(&b, "127.0.1.1\t");
      buf_str(&b, name);
      found = 1;
    } else buf_add(&b, line, n);
    buf_add(&b, "\n", 1);
    if (!nl) break;
  }
  int r = found ? write_file("/etc/hosts", b.p, buf_size(&b), 0644) : 0;
  buf_free(&b);
  return r;
}

static int set_hostname(const struct identity *idn, char *err, size_t es) {
  char line[80];
  int n = snprintf(line, sizeof line, "%s\n", idn->hostname);
  if (sethostname(idn->hostname, strlen(idn->hostname)) < 0)
    return snprintf(err, es, "sethostname: %s", strerror(errno)), -1;
  if (write_file("/etc/hostname", line, (size_t)n, 0644) < 0)
    return snprintf(err, es, "write /etc/hostname: %s", strerror(errno)), -1;
  if (update_hosts(idn->hostname) < 0) return snprintf(err, es, "update /etc/hosts: %s", strerror(errno)), -1;
  return 0;
}

static int set_machine_id(const struct identity *idn, char *err, size_t es) {
  static const char *const paths[] = { "/etc/machine-id", "/var/lib/dbus/machine-id" };
  char line[34];
  snprintf(line, sizeof line, "%s\n", idn->machine_id);
  for (int i = 0; i < 2; i++) {
    struct stat st;
    int exists = lstat(paths[i], &st) == 0;
    if (i > 0 && (!exists || !S_ISREG(st.st_mode))) continue; /* dbus: only its own copy */
    mode_t mode = exists && S_ISREG(st.st_mode) ? st.st_mode & 0777 : 0444;
    if (write_file(paths[i], line, 33, mode) < 0)
      return snprintf(err, es, "write %s: %s", paths[i], strerror(errno)), -1;
  }
  return 0;
}

typedef int step_fn(const struct identity *idn, char *err, size_t es);

static int net_step(const struct identity *idn, char *err, size_t es) { return net_apply(&idn->net, err, es); }
static int ssh_step(const struct identity *idn, char *err, size_t es) { return ssh_apply(&idn->ssh, err, es); }

void do_identity(const char *id, char **t, int nt) {
  static const struct { const char *name; step_fn *fn; } steps[] = {
    { "clock", set_clock },     { "entropy", add_entropy }, { "hostname", set_hostname },
    { "machine-id", set_machine_id }, { "network", net_step },  { "ssh", ssh_step },
  };
  struct identity idn = { 0 };
  char err[512], all[1024] = "";
  if (parse_identity(&idn, t, nt, err, sizeof err) < 0) FAIL(id, "%s", err);
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    if ((steps[i].fn == net_step && !idn.has_net) || (steps[i].fn == ssh_step && !idn.has_ssh)) continue;
    *err = 0;
    if (steps[i].fn(&idn, err, sizeof err) == 0) continue;
    size_t n = strlen(all);
    snprintf(all + n, sizeof all - n, "%s%s: %s", n ? "; " : "identity: ", steps[i].name, err);
  }
  explicit_bzero(idn.entropy, (size_t)idn.nentropy);
  if (idn.has_ssh) explicit_bzero(idn.ssh.seed, sizeof idn.ssh.seed);
  if (*all) FAIL(id, "%s", all);
  reply(id, "ok", "-");
}
