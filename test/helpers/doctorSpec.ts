/** The host checks the foundation issue asks `banger doctor` for (the unit and integration tests both hold it to them). */
export const ISSUE_CHECK_IDS: readonly string[] = [
  "node",
  "kvm",
  "firecracker",
  "qemu",
  "tun",
  "ip",
  "firewall",
  "mkfs.ext4",
  "e2fsck",
  "resize2fs",
  "debugfs",
  "ssh",
  "ssh-keygen",
  "sudo",
  "state-dir",
  "vm-defaults",
];
