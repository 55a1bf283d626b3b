/*
 * banger-agent: health (uptime, load, memory, disks), ports (TCP listeners
 * from /proc/net/tcp{,6}) and sync (flush every filesystem before the host
 * saves the VM's state, so the disks are consistent on their own).
 */
#include "banger-agent.h"
#include <arpa/inet.h>
#include <sys/statvfs.h>

#define MAX_PORTS 1024

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

void do_health(const char *id) {
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

void do_ports(const char *id) {
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

/* sync(), then syncfs() of / and /root so their errors are seen (sync() reports none). */
void do_sync(const char *id) {
  sync();
  static const char *mounts[] = { "/", "/root" };
  for (size_t i = 0; i < sizeof mounts / sizeof *mounts; i++) {
    int fd = open(mounts[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      FAIL(id, "sync: cannot open %s: %s", mounts[i], strerror(errno));
    }
    int r = syncfs(fd), e = errno;
    close(fd);
    if (r < 0) FAIL(id, "sync: syncfs %s: %s", mounts[i], strerror(e));
  }
  reply(id, "ok", "-");
}
