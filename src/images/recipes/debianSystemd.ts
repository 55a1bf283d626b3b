/**
 * systemd configuration of the Debian image: banger's units (agent, SSH host
 * keys, hosts), what is enabled and what is masked so the guest reaches SSH
 * fast. Applied to a root tree without running systemctl.
 */
import { AGENT_GUEST_PATH } from "./agent.js";
import { UPDATE_HOSTS_SH } from "./guestConfig.js";
import { linkInTree, removeInTree, writeTreeFile } from "./treeFs.js";

const UNIT_DIR = "etc/systemd/system";

/** The guest agent: up early (before sysinit), restarted forever. */
export const AGENT_UNIT = `[Unit]
Description=banger guest agent
DefaultDependencies=no
After=systemd-udevd.service
Conflicts=shutdown.target
Before=shutdown.target
StartLimitIntervalSec=0

[Service]
ExecStart=${AGENT_GUEST_PATH}
Restart=always
RestartSec=1

[Install]
WantedBy=sysinit.target
`;

/**
 * SSH host keys are per VM: the image has none, and this makes one only when
 * banger wrote none (so the image also boots standalone). Only ed25519: under
 * TCG `ssh-keygen -A` (RSA 3072 + ECDSA + ed25519) took 10-12 s of the boot,
 * ed25519 alone 0.4-2 s; sshd skips missing default key types silently.
 */
export const HOSTKEYS_UNIT = `[Unit]
Description=Generate an SSH host key when there is none (banger)
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
RemainAfterExit=yes

[Install]
WantedBy=ssh.service
`;

/** Off the critical path: nothing at boot resolves the hostname before multi-user. */
export const HOSTS_UNIT = `[Unit]
Description=Map the hostname to 127.0.1.1 in /etc/hosts (banger)
DefaultDependencies=no
After=local-fs.target
Before=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh /usr/lib/banger/update-hosts
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/** Banger's units: file name, text, the target whose .wants/ enables it. */
export const BANGER_UNITS: ReadonlyArray<{ name: string; text: string; wantedBy: string }> = [
  { name: "banger-agent.service", text: AGENT_UNIT, wantedBy: "sysinit.target" },
  { name: "banger-hostkeys.service", text: HOSTKEYS_UNIT, wantedBy: "ssh.service" },
  { name: "banger-hosts.service", text: HOSTS_UNIT, wantedBy: "multi-user.target" },
];

/**
 * Masked (measured under TCG: boot to SSH went from 26-29 s to ~14 s): periodic
 * jobs (a VM is short-lived), the VT gettys (the serial getty on ttyS0 stays
 * for debugging), network managers (the initrd configures eth0), mounts and
 * module loads a sandbox does not need (the image has no kernel modules),
 * users and fstab work that the image build already did.
 */
export const MASKED_UNITS: readonly string[] = [
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "apt-daily.service",
  "apt-daily-upgrade.service",
  "dpkg-db-backup.timer",
  "fstrim.timer",
  "man-db.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "systemd-tmpfiles-clean.timer",
  "getty@tty1.service",
  "systemd-networkd.service",
  "systemd-networkd-wait-online.service",
  "systemd-network-generator.service",
  "networking.service",
  "systemd-pstore.service",
  "systemd-udev-settle.service",
  "getty-static.service",
  "dev-hugepages.mount",
  "dev-mqueue.mount",
  "sys-kernel-debug.mount",
  "sys-kernel-tracing.mount",
  "sys-kernel-config.mount",
  "sys-fs-fuse-connections.mount",
  "proc-sys-fs-binfmt_misc.automount",
  "systemd-binfmt.service",
  "modprobe@configfs.service",
  "modprobe@dm_mod.service",
  "modprobe@drm.service",
  "modprobe@efi_pstore.service",
  "modprobe@fuse.service",
  "modprobe@loop.service",
  "systemd-modules-load.service",
  "systemd-update-utmp.service",
  "systemd-update-utmp-runlevel.service",
  "systemd-sysusers.service",
  "systemd-remount-fs.service",
];

/** Links enabled in the package defaults that MASKED_UNITS make pointless. */
const STALE_WANTS: readonly string[] = [
  "timers.target.wants/apt-daily.timer",
  "timers.target.wants/apt-daily-upgrade.timer",
  "timers.target.wants/dpkg-db-backup.timer",
  "timers.target.wants/fstrim.timer",
  "getty.target.wants/getty@tty1.service",
  "sysinit.target.wants/systemd-pstore.service",
];

/** Write, enable and mask as described above. */
export async function applySystemdConfig(root: string): Promise<void> {
  await writeTreeFile(root, "usr/lib/banger/update-hosts", UPDATE_HOSTS_SH, 0o755);
  for (const u of BANGER_UNITS) {
    await writeTreeFile(root, `${UNIT_DIR}/${u.name}`, u.text);
    await linkInTree(root, `${UNIT_DIR}/${u.wantedBy}.wants/${u.name}`, `/${UNIT_DIR}/${u.name}`);
  }
  for (const link of STALE_WANTS) await removeInTree(root, `${UNIT_DIR}/${link}`);
  for (const name of MASKED_UNITS) await linkInTree(root, `${UNIT_DIR}/${name}`, "/dev/null");
}
