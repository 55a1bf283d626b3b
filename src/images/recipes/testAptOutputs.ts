/**
 * Captured-style outputs of apt and mmdebstrap 1.3.5 (Debian 12) for tests:
 * what they print, line for line, when the mirror's name does not resolve,
 * when it does not answer, and when a package is simply unknown.
 */

/** `mmdebstrap --variant=apt --mode=unshare --format=tar ... bookworm - MIRRORS` with no DNS: stderr. */
export const MMDEBSTRAP_DNS_FAILURE = `I: automatically chosen mode: unshare
I: chroot architecture amd64 is equal to the host's architecture
I: using /tmp/mmdebstrap.Kq3v1tWZ0c as tempdir
I: running apt-get update...
Ign:1 http://deb.debian.org/debian bookworm InRelease
Ign:2 http://deb.debian.org/debian bookworm-updates InRelease
Ign:3 http://deb.debian.org/debian-security bookworm-security InRelease
Ign:1 http://deb.debian.org/debian bookworm InRelease
Ign:2 http://deb.debian.org/debian bookworm-updates InRelease
Ign:3 http://deb.debian.org/debian-security bookworm-security InRelease
Err:1 http://deb.debian.org/debian bookworm InRelease
  Temporary failure resolving 'deb.debian.org'
Err:2 http://deb.debian.org/debian bookworm-updates InRelease
  Temporary failure resolving 'deb.debian.org'
Err:3 http://deb.debian.org/debian-security bookworm-security InRelease
  Temporary failure resolving 'deb.debian.org'
Reading package lists...
W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'
W: Failed to fetch http://deb.debian.org/debian/dists/bookworm-updates/InRelease  Temporary failure resolving 'deb.debian.org'
W: Failed to fetch http://deb.debian.org/debian-security/dists/bookworm-security/InRelease  Temporary failure resolving 'deb.debian.org'
W: Some index files failed to download. They have been ignored, or old ones used instead.
E: apt-get update -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed
I: removing tempdir /tmp/mmdebstrap.Kq3v1tWZ0c...
`;

/** The same build when it works: its stderr up to the end (no terminal, so no progress bars). */
export const MMDEBSTRAP_SUCCESS = `I: automatically chosen mode: unshare
I: chroot architecture amd64 is equal to the host's architecture
I: using /tmp/mmdebstrap.x9Qm2PbT1a as tempdir
I: running apt-get update...
I: downloading packages with apt...
I: extracting archives...
I: installing essential packages...
I: installing remaining packages inside the chroot...
I: cleaning package lists and apt cache...
I: creating tarball...
I: done
I: removing tempdir /tmp/mmdebstrap.x9Qm2PbT1a...
I: success in 54.2731 seconds
`;

/** `apt-get download busybox-static` on the host with no DNS. */
export const APT_DOWNLOAD_DNS_FAILURE = `Err:1 http://deb.debian.org/debian bookworm/main amd64 busybox-static amd64 1:1.35.0-4+b3
  Temporary failure resolving 'deb.debian.org'
E: Failed to fetch http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bb3_amd64.deb  Temporary failure resolving 'deb.debian.org'
`;

/** A mirror that resolves but refuses connections (mmdebstrap's apt-get update). */
export const MMDEBSTRAP_CONNECT_FAILURE = `I: running apt-get update...
Err:1 http://mirror.example.net/debian bookworm InRelease
  Could not connect to mirror.example.net:80 (192.0.2.10), connection timed out
W: Failed to fetch http://mirror.example.net/debian/dists/bookworm/InRelease  Could not connect to mirror.example.net:80 (192.0.2.10), connection timed out
W: Some index files failed to download. They have been ignored, or old ones used instead.
E: apt-get update -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed
`;

/** Stale package lists: the mirror is fine, the version is gone (here "apt-get update" is the right hint). */
export const APT_DOWNLOAD_STALE_LISTS = `E: Can't select candidate version from package linux-image-amd64 as it has no candidate
`;
