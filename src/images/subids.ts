/**
 * Subordinate uid/gid ranges (/etc/subuid, /etc/subgid): a rootless build maps
 * the builder to root in a user namespace and its subordinate ids to 1..65535
 * (`unshare --map-auto --map-root-user`, the same layout as rootless Podman),
 * so files of package users and setuid bits come out right without host root.
 */

/** Ids a build maps besides root: 1..65535 need a range of at least this many ids. */
export const SUBID_COUNT = 65536;
/** Where a suggested new range starts at the earliest (Debian's adduser uses 100000 and up). */
const FIRST_SUBID = 100000;

export interface SubidRange {
  start: number;
  count: number;
}

/** The ranges of `user` (by name or uid) in a subuid/subgid file's text. */
export function subidRanges(text: string, user: { name: string; uid: number }): SubidRange[] {
  const out: SubidRange[] = [];
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== user.name && owner !== String(user.uid)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0)
      out.push({ start: s, count: c });
  }
  return out;
}

/** The first id after every range in the file (at least FIRST_SUBID): where a new range can go. */
export function freeSubidStart(...texts: string[]): number {
  let next = FIRST_SUBID;
  for (const text of texts) {
    for (const line of text.split("\n")) {
      const [, start, count] = line.trim().split(":");
      const end = Number(start) + Number(count);
      if (Number.isSafeInteger(end) && end > next) next = end;
    }
  }
  // Keep ranges aligned to 65536 like adduser does.
  return Math.ceil(next / SUBID_COUNT) * SUBID_COUNT;
}

/** The exact command that gives `name` a usable range in both files. */
export function usermodLine(name: string, start: number): string {
  const range = `${start}-${start + SUBID_COUNT - 1}`;
  return `sudo usermod --add-subuids ${range} --add-subgids ${range} ${name}`;
}

export interface SubidStatus {
  ok: boolean;
  /** What was found, e.g. "subuid 100000+65536, subgid 100000+65536" or what is missing. */
  detail: string;
  /** The usermod line when something is missing. */
  fix?: string;
}

/** Whether `user` has a first range of >= SUBID_COUNT ids in both files (null text: unreadable/absent). */
export function subidStatus(
  user: { name: string; uid: number },
  subuid: string | null,
  subgid: string | null,
): SubidStatus {
  const parts: string[] = [];
  let ok = true;
  for (const [label, text] of [
    ["subuid", subuid],
    ["subgid", subgid],
  ] as const) {
    // util-linux's --map-auto uses the first range of the user.
    const first = subidRanges(text ?? "", user)[0];
    if (first === undefined) {
      ok = false;
      parts.push(`no /etc/${label} range for ${user.name}`);
    } else if (first.count < SUBID_COUNT) {
      ok = false;
      parts.push(`/etc/${label} range of ${user.name} has ${first.count} ids, fewer than ${SUBID_COUNT}`);
    } else parts.push(`${label} ${first.start}+${first.count}`);
  }
  if (ok) return { ok, detail: parts.join(", ") };
  return {
    ok,
    detail: parts.join("; "),
    fix: usermodLine(user.name, freeSubidStart(subuid ?? "", subgid ?? "")),
  };
}
