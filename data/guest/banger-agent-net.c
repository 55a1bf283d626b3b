/*
 * banger-agent: eth0's new identity, without shelling out to ip(8). The MAC
 * by ioctl (link down, SIOCSIFHWADDR, link up), the IPv4 addresses and the
 * default route by rtnetlink, /etc/resolv.conf when it names the old gateway
 * (the initrd writes `nameserver GATEWAY` there), then a gratuitous ARP so the
 * bridge and the host's neighbour table learn the new MAC at once instead of
 * when a stale entry times out (the host keeps the old MAC for a reused
 * address for up to its base_reachable_time otherwise).
 */
#include "banger-agent.h"
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define IFACE "eth0"
#define MAX_ADDRS 32

int parse_mac(const char *s, unsigned char mac[6]) {
  unsigned v[6];
  char tail;
  if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return -1;
  for (int i = 0; i < 6; i++) {
    if (s[i * 3 + 2] != (i < 5 ? ':' : 0)) return -1;
    mac[i] = (unsigned char)v[i];
  }
  int zero = !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
  return zero || (mac[0] & 1) ? -1 : 0; /* multicast bit set: not a NIC's address */
}

/* "A.B.C.D/N" (prefix != NULL, N 1..32) or "A.B.C.D" (prefix NULL). */
int parse_cidr(const char *s, unsigned char addr[4], int *prefix) {
  char ip[16], *end;
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  if (n >= sizeof ip || (prefix == NULL) != (slash == NULL)) return -1;
  memcpy(ip, s, n);
  ip[n] = 0;
  if (inet_pton(AF_INET, ip, addr) != 1) return -1;
  if (!prefix) return 0;
  long p = strtol(slash + 1, &end, 10);
  if (*end || end == slash + 1 || p < 1 || p > 32) return -1;
  *prefix = (int)p;
  return 0;
}

/* The current IPv4 default gateway, from /proc/net/route; -1 when there is none. */
static int old_gateway(unsigned char gw[4]) {
  char line[256];
  unsigned dst, via, mask;
  FILE *f = fopen("/proc/net/route", "re");
  int r = -1;
  while (f && r < 0 && fgets(line, sizeof line, f)) {
    if (sscanf(line, "%*s %x %x %*x %*d %*d %*d %x", &dst, &via, &mask) == 3 && dst == 0 && mask == 0 && via)
      memcpy(gw, &via, 4), r = 0; /* the kernel prints the address's bytes as a host-order word */
  }
  if (f) fclose(f);
  return r;
}

static int set_mac(const unsigned char mac[6], char *err, size_t es) {
  struct ifreq ifr = { 0 };
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char *what = "socket";
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", IFACE);
  if (fd >= 0 && (what = "get the flags of " IFACE, ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)) {
    short up = (short)(ifr.ifr_flags | IFF_UP);
    ifr.ifr_flags = (short)(ifr.ifr_flags & ~IFF_UP);
    if ((what = "take " IFACE " down", ioctl(fd, SIOCSIFFLAGS, &ifr) == 0)) {
      ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
      memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
      int set = (what = "set the MAC of " IFACE, ioctl(fd, SIOCSIFHWADDR, &ifr) == 0);
      int e = errno;
      ifr.ifr_flags = up; /* up again even when the MAC was refused */
      if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 && set) what = "bring " IFACE " up", set = 0, e = errno;
      errno = e;
      if (set) what = NULL;
    }
  }
  int e = errno;
  if (fd >= 0) close(fd);
  if (!what) return 0;
  return snprintf(err, es, "%s: %s", what, strerror(e)), -1;
}

/* ---- rtnetlink ---- */

struct nlreq {
  struct nlmsghdr h;
  union { struct ifaddrmsg a; struct rtmsg r; } m;
  char attrs[64];
};

static void nl_attr(struct nlreq *q, unsigned short type, const void *data, size_t n) {
  struct rtattr *a = (struct rtattr *)((char *)q + NLMSG_ALIGN(q->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(n);
  memcpy(RTA_DATA(a), data, n);
  q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send one request; returns 0 on its ACK, else -1 with errno. */
static int nl_talk(int fd, struct nlreq *q) {
  static unsigned seq;
  char buf[8192];
  q->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  q->h.nlmsg_seq = ++seq;
  if (send(fd, q, q->h.nlmsg_len, 0) < 0) return -1;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
      return e ? (errno = e, -1) : 0;
    }
  }
}

static void addr_req(struct nlreq *q, unsigned short type, int ifindex, const unsigned char a[4], int prefix) {
  memset(q, 0, sizeof *q);
  q->h.nlmsg_len = NLMSG_LENGTH(sizeof q->m.a);
  q->h.nlmsg_type = type;
  q->m.a = (struct ifaddrmsg){ .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix,
                               .ifa_index = (unsigned)ifindex };
  nl_attr(q, IFA_LOCAL, a, 4);
  nl_attr(q, IFA_ADDRESS, a, 4);
}

/* The IPv4 addresses of IFINDEX (address and prefix, 5 bytes each); returns how many, or -1. */
static int list_addrs(int fd, int ifindex, unsigned char out[][5]) {
  struct nlreq q = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof q.m.a), .nlmsg_type = RTM_GETADDR,
                            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
                     .m.a = { .ifa_family = AF_INET } };
  static char buf[16384];
  int count = 0;
  if (send(fd, &q, q.h.nlmsg_len, 0) < 0) return -1;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return count;
      if (h->nlmsg_type == NLMSG_ERROR) return errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error, -1;
      struct ifaddrmsg *a = NLMSG_DATA(h);
      if (h->nlmsg_type != RTM_NEWADDR || (int)a->ifa_index != ifindex || count == MAX_ADDRS) continue;
      int len = (int)IFA_PAYLOAD(h);
      for (struct rtattr *r = IFA_RTA(a); RTA_OK(r, len); r = RTA_NEXT(r, len))
        if (r->rta_type == IFA_LOCAL && RTA_PAYLOAD(r) == 4) {
          memcpy(out[count], RTA_DATA(r), 4);
          out[count++][4] = a->ifa_prefixlen;
        }
    }
  }
}

static int set_addr_route(int fd, int ifindex, const struct net_identity *n, const char **what) {
  static unsigned char old[MAX_ADDRS][5];
  struct nlreq q;
  *what = "list the addresses of " IFACE;
  int count = list_addrs(fd, ifindex, old);
  if (count < 0) return -1;
  *what = "remove an old address of " IFACE;
  for (int i = 0; i < count; i++) { /* a primary's removal may take its secondaries along */
    addr_req(&q, RTM_DELADDR, ifindex, old[i], old[i][4]);
    if (nl_talk(fd, &q) < 0 && errno != EADDRNOTAVAIL) return -1;
  }
  *what = "add the address to " IFACE;
  addr_req(&q, RTM_NEWADDR, ifindex, n->addr, n->prefix);
  q.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  if (nl_talk(fd, &q) < 0) return -1;
  *what = "add the default route";
  memset(&q, 0, sizeof q);
  q.h.nlmsg_len = NLMSG_LENGTH(sizeof q.m.r);
  q.h.nlmsg_type = RTM_NEWROUTE;
  q.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
  q.m.r = (struct rtmsg){ .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                          .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
  nl_attr(&q, RTA_GATEWAY, n->gateway, 4);
  nl_attr(&q, RTA_OIF, &ifindex, sizeof ifindex);
  return nl_talk(fd, &q);
}

/* ---- resolv.conf and ARP ---- */

/* `nameserver OLD` lines become `nameserver NEW`; any other resolv.conf (or a symlink) is left alone. */
static int update_resolv(const unsigned char oldgw[4], const unsigned char gw[4]) {
  static char text[65536];
  char olds[16], news[16];
  struct stat st;
  if (lstat("/etc/resolv.conf", &st) < 0 || !S_ISREG(st.st_mode) || !memcmp(oldgw, gw, 4)) return 0;
  if (read_small("/etc/resolv.conf", text, sizeof text) < 0) return -1;
  inet_ntop(AF_INET, oldgw, olds, sizeof olds);
  inet_ntop(AF_INET, gw, news, sizeof news);
  struct buf b = { 0 };
  int changed = 0;
  for (char *line = text, *nl; *line; line = nl + 1) {
    nl = strchrnul(line, '\n');
    char *p = line + 10;
    int match = strncmp(line, "nameserver", 10) == 0 && (*p == ' ' || *p == '\t');
    while (match && (*p == ' ' || *p == '\t')) p++;
    match = match && strncmp(p, olds, strlen(olds)) == 0 && strspn(p + strlen(olds), " \t") == (size_t)(nl - p) - strlen(olds);
    if (match) buf_str(&b, "nameserver "), buf_str(&b, news), changed = 1;
    else buf_add(&b, line, (size_t)(nl - line));
    buf_add(&b, "\n", 1);
    if (!*nl) break;
  }
  int r = changed ? write_file("/etc/resolv.conf", b.p, buf_size(&b), st.st_mode & 0777) : 0;
  buf_free(&b);
  return r;
}

/* An ARP announcement: a broadcast request for our own address, from the new MAC. */
static int send_garp(int ifindex, const unsigned char mac[6], const unsigned char ip[4]) {
  unsigned char pkt[28];
  struct arphdr h = { .ar_hrd = htons(ARPHRD_ETHER), .ar_pro = htons(ETH_P_IP), .ar_hln = 6, .ar_pln = 4,
                      .ar_op = htons(ARPOP_REQUEST) };
  memcpy(pkt, &h, 8);
  memcpy(pkt + 8, mac, 6);
  memcpy(pkt + 14, ip, 4);
  memset(pkt + 18, 0, 6);
  memcpy(pkt + 24, ip, 4);
  struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_ifindex = ifindex,
                            .sll_halen = 6, .sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) return -1;
  ssize_t n = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to);
  int e = errno;
  close(fd);
  return n == (ssize_t)sizeof pkt ? 0 : (errno = e, -1);
}

int net_apply(const struct net_identity *n, char *err, size_t es) {
  unsigned char oldgw[4];
  int had_gw = old_gateway(oldgw) == 0; /* read before the link goes down and takes the route */
  int ifindex = (int)if_nametoindex(IFACE);
  if (!ifindex) return snprintf(err, es, "no interface " IFACE ": %s", strerror(errno)), -1;
  if (set_mac(n->mac, err, es) < 0) return -1;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  const char *what = "netlink socket";
  int r = fd < 0 ? -1 : set_addr_route(fd, ifindex, n, &what);
  int e = errno;
  if (fd >= 0) close(fd);
  if (r < 0) return snprintf(err, es, "%s: %s", what, strerror(e)), -1;
  if (had_gw && update_resolv(oldgw, n->gateway) < 0)
    return snprintf(err, es, "update /etc/resolv.conf: %s", strerror(errno)), -1;
  if (send_garp(ifindex, n->mac, n->addr) < 0)
    return snprintf(err, es, "gratuitous ARP on " IFACE ": %s", strerror(errno)), -1;
  return 0;
}
