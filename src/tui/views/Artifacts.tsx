import { Box } from "ink";
import { formatBytes, progressBar } from "../format.js";
import { type ArtifactRow, artifactRows } from "../selectors.js";
import type { Artifact, Op, TuiState } from "../state.js";
import { Line } from "./text.js";
import { windowStart } from "./VmList.js";

/** The pull in flight for this entry, if any. */
function pullOf(s: TuiState, what: Artifact, name: string): Op | undefined {
  return Object.values(s.ops).find(
    (o) =>
      (o.req.kind === "pull" && o.req.what === what && o.req.name === name) ||
      (o.req.kind === "create" && what === "image" && o.req.pull === name),
  );
}

function pullText(op: Op, width: number): string {
  const l = op.last;
  if (l?.current !== undefined && l.total !== undefined) return progressBar(l.current, l.total, width);
  return `pulling… ${l?.message ?? ""}`;
}

function rowText(s: TuiState, what: Artifact, r: ArtifactRow, width: number): string {
  const nameW = Math.min(24, Math.max(10, Math.floor(width * 0.25)));
  const left = [
    r.name.padEnd(nameW).slice(0, nameW),
    (r.local ? "local" : "available").padEnd(9),
    r.version.padEnd(10).slice(0, 10),
    formatBytes(r.sizeBytes).padStart(5),
  ].join(" ");
  const rest = Math.max(8, width - 4 - left.length - 1);
  const op = pullOf(s, what, r.name);
  return `${left} ${op ? pullText(op, rest) : r.detail}`;
}

function emptyText(s: TuiState, what: Artifact): string[] {
  const list = what === "image" ? "image.list" : "kernel.list";
  if (s.unsupported.includes(list))
    return [`  This daemon has no ${what} commands (${list} is unknown to it).`];
  if (s.conn.status !== "connected") return ["  waiting for the daemon…"];
  return what === "image"
    ? [
        "  No images, and no catalog entries.",
        "  Register one with `banger image register NAME --kernel ... --rootfs ...`.",
      ]
    : ["  No kernels, and no catalog entries."];
}

/** Local images (or kernels) and the catalog's entries not pulled yet. */
export function Artifacts({
  s,
  what,
  width,
  height,
}: {
  s: TuiState;
  what: Artifact;
  width: number;
  height: number;
}) {
  const rows = artifactRows(s, what);
  const tab = what === "image" ? "images" : "kernels";
  const sel = rows.findIndex((r) => r.key === s.selected[tab]);
  const noCatalog = s.unsupported.includes(what === "image" ? "image.available" : "kernel.available");
  const rowsHeight = Math.max(1, height - 2 - (noCatalog ? 1 : 0));
  const start = windowStart(sel, rows.length, rowsHeight);
  const nameW = Math.min(24, Math.max(10, Math.floor(width * 0.25)));
  const title = `  ${"NAME".padEnd(nameW)} ${"WHERE".padEnd(9)} ${"VERSION".padEnd(10)} ${"SIZE".padStart(5)} USED BY / ABOUT`;
  const local = rows.filter((r) => r.local).length;
  return (
    <Box flexDirection="column" height={height}>
      <Line text={`${local} local, ${rows.length - local} available to pull`} tone="dim" />
      <Line text={title} bold />
      {rows.length === 0 ? emptyText(s, what).map((t) => <Line key={t} text={t} />) : null}
      {rows.slice(start, start + rowsHeight).map((r) => {
        const on = r.key === s.selected[tab];
        return (
          <Line
            key={r.key}
            text={`${on ? ">" : " "} ${rowText(s, what, r, width)}`}
            inverse={on}
            tone={on ? undefined : r.local ? undefined : "dim"}
          />
        );
      })}
      {noCatalog ? <Line text="  (this daemon offers no catalog to pull from)" tone="dim" /> : null}
    </Box>
  );
}
