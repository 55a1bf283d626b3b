/** The VMM-related domain types the store keeps (drivers implement them in vmm/). */
export type DriverName = "firecracker" | "qemu";
export type Acceleration = "kvm" | "tcg";

/** What the store keeps to find a running VMM again (after a daemon restart too). */
export interface VmmHandle {
  driver: DriverName;
  pid: number;
  /** Firecracker API socket, or QEMU QMP socket. */
  controlSocket: string;
  /** Host side of the agent channel: Firecracker vsock uds_path, or QEMU virtio-serial socket. */
  agentSocket: string;
  acceleration: Acceleration;
}
