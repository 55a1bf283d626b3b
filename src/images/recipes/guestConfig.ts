/**
 * Guest configuration shared by the image recipes: SSH policy, resolver and
 * hosts files, the hosts-update script. Pure text.
 */

/** sshd settings: root may log in, with keys only. */
export const SSHD_SETTINGS = `# banger: root logs in with keys only (banger writes /root/.ssh/authorized_keys)
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
`;

/** Put SSHD_SETTINGS first in an sshd_config (sshd keeps the first value it reads). */
export function withSshdSettings(config: string): string {
  if (config.startsWith(SSHD_SETTINGS)) return config;
  return `${SSHD_SETTINGS}\n${config}`;
}

/** Replaced at boot by the initrd: `nameserver GATEWAY` (banger's resolver for guests). */
export const RESOLV_CONF = "# banger: the initrd writes the gateway (banger's resolver) here at boot\n";

export const HOSTS = `127.0.0.1\tlocalhost
::1\t\tlocalhost ip6-localhost ip6-loopback
ff02::1\t\tip6-allnodes
ff02::2\t\tip6-allrouters
`;

/** The hostname baked into the image; the initrd writes the VM's own (from ip=) at boot. */
export const DEFAULT_HOSTNAME = "banger";

/**
 * POSIX sh (sed/grep/cat only): map the hostname (from /etc/hostname, which
 * the initrd writes from ip=) to 127.0.1.1 in /etc/hosts, Debian's
 * convention, replacing any earlier 127.0.1.1 line. Safe to source (no exit).
 */
export const UPDATE_HOSTS_SH = `# banger: map this VM's hostname to 127.0.1.1 in /etc/hosts
banger_host=$(cat /etc/hostname 2>/dev/null)
[ -n "$banger_host" ] || banger_host=$(hostname 2>/dev/null)
if [ -n "$banger_host" ] && [ -w /etc/hosts ]; then
  { grep -v '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; printf '127.0.1.1\\t%s\\n' "$banger_host"; } >/etc/hosts.banger-new &&
    mv -f /etc/hosts.banger-new /etc/hosts
fi
`;
