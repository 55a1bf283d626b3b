/**
 * The firewall verbs: apply (replace the caller's two tables atomically and
 * set port isolation), remove, allow (answered addresses into a VM's set),
 * status (counters, allow sets, host facts) and conntrack.flush.
 * Every argument is validated; only the caller's tables and TAPs are touched.
 */
import type { HelperContext } from "../context.js";
import { HelperError } from "../context.js";
import {
  allowSetName,
  buildAllowScript,
  buildFirewallScript,
  type CounterValues,
  dropCounterName,
  dropTablesScript,
  isolatedTaps,
  spoofCounterName,
  tapPrefixOf,
} from "../firewall.js";
import { hostFacts, listTable, nftObjects, parseCounters, parseSets } from "../firewallHost.js";
import { checkAllowEntry, checkIpv4, MAX_ALLOWED_PER_VM, validateFirewallSpec } from "../firewallSpec.js";
import type { FirewallSpec, FirewallStatus } from "../protocol.js";
import { linkMarker, nftTableName } from "../protocol.js";

function argsObj(args: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof args !== "object" || args === null || Array.isArray(args)) {
    throw new HelperError("INVALID_ARGUMENT", "args must be an object");
  }
  for (const k of Object.keys(args)) {
    if (!keys.includes(k)) throw new HelperError("INVALID_ARGUMENT", `args.${k}: unknown field`);
  }
  return args as Record<string, unknown>;
}

interface LinkRow {
  ifname?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_slave_data?: { isolated?: boolean } };
  addr_info?: Array<{ family?: string; local?: string }>;
}

/** Every link with its kind, alias, port isolation and addresses: one `ip` run. */
async function readLinks(ctx: HelperContext): Promise<Map<string | undefined, LinkRow>> {
  const r = await ctx.run(["ip", "-j", "-d", "addr", "show"]);
  return new Map((JSON.parse(r.stdout || "[]") as LinkRow[]).map((l) => [l.ifname, l]));
}

/**
 * Every TAP in the spec must be the caller's (banger's marker for this uid and
 * the caller's VMM uid as tun owner), and the bridge must be the caller's
 * marked bridge: a firewall is never laid over another user's links.
 */
export async function checkSpecLinks(
  ctx: HelperContext,
  spec: FirewallSpec,
  rows?: Map<string | undefined, LinkRow>,
): Promise<Map<string | undefined, LinkRow>> {
  const [links, tuns] = await Promise.all([
    rows ?? readLinks(ctx),
    ctx.run(["ip", "-j", "tuntap", "show"], { allowFailure: true }),
  ]);
  const owners = new Map(
    (
      JSON.parse(tuns.code === 0 ? tuns.stdout || "[]" : "[]") as Array<{ ifname?: string; user?: number }>
    ).map((t) => [t.ifname, t.user]),
  );
  const br = links.get(spec.bridge);
  if (br?.linkinfo?.info_kind !== "bridge") {
    throw new HelperError(
      br ? "PERMISSION" : "NOT_FOUND",
      `spec.bridge: ${spec.bridge} is not an existing bridge`,
    );
  }
  if (br.ifalias !== linkMarker(ctx.uid)) {
    throw new HelperError(
      "PERMISSION",
      `spec.bridge: ${spec.bridge} was not made by banger for uid ${ctx.uid}`,
    );
  }
  const schemeRe = new RegExp(`^${tapPrefixOf(spec.bridge).replaceAll(".", "\\.")}(0|[1-9][0-9]{0,4})$`);
  spec.vms.forEach((vm, i) => {
    const l = links.get(vm.tap);
    const path = `spec.vms[${i}].tap`;
    if (!l) throw new HelperError("NOT_FOUND", `${path}: ${vm.tap} does not exist`);
    if (l.linkinfo?.info_kind !== "tun")
      throw new HelperError("PERMISSION", `${path}: ${vm.tap} is not a TAP`);
    const owner = owners.get(vm.tap);
    const marked = l.ifalias === linkMarker(ctx.uid) && owner === ctx.vmmUid && schemeRe.test(vm.tap);
    if (!marked) {
      throw new HelperError(
        "PERMISSION",
        `${path}: ${vm.tap} is not one of uid ${ctx.uid}'s TAPs (owner ${owner ?? "none"})`,
      );
    }
  });
  return links;
}

/** The caller's counters (both tables) from one `nft -j list counters`. */
async function currentCounters(ctx: HelperContext): Promise<CounterValues> {
  const r = await ctx.run(["nft", "-j", "list", "counters"], { allowFailure: true });
  const m = new Map<string, { packets: number; bytes: number }>();
  for (const o of nftObjects(r.code === 0 ? r.stdout : "")) {
    const c = o.counter as { table?: string; family?: string } | undefined;
    if (c?.table !== nftTableName(ctx.uid) || (c.family !== "inet" && c.family !== "bridge")) continue;
    for (const x of parseCounters([o])) m.set(x.name, x);
  }
  return m;
}

async function apply(ctx: HelperContext, args: unknown): Promise<null> {
  const spec = validateFirewallSpec(argsObj(args, ["spec"]).spec);
  // The reads are independent: run them at once (each is a process start).
  const counters = currentCounters(ctx);
  counters.catch(() => undefined);
  const links = await checkSpecLinks(ctx, spec);
  return applyChecked(ctx, spec, links, await counters);
}

function addrsOf(links: Map<string | undefined, LinkRow>): string[] {
  const out = new Set<string>();
  for (const l of links.values()) {
    for (const a of l.addr_info ?? [])
      if (a.family === "inet" && typeof a.local === "string") out.add(a.local);
  }
  return [...out];
}

/** firewall.apply after its ownership check (the integration test drives it with veths standing for TAPs). */
export async function applyChecked(
  ctx: HelperContext,
  spec: FirewallSpec,
  rows?: Map<string | undefined, LinkRow>,
  counters?: CounterValues,
): Promise<null> {
  const links = rows ?? (await readLinks(ctx));
  const script = buildFirewallScript(spec, {
    uid: ctx.uid,
    hostAddrs: addrsOf(links),
    counters: counters ?? (await currentCounters(ctx)),
  });
  await ctx.run(["nft", "-f", "-"], { input: script });
  const changes = isolatedTaps(spec).filter(
    (t) => links.get(t.tap)?.linkinfo?.info_slave_data?.isolated !== t.isolated,
  );
  if (changes.length > 0) {
    const batch = changes
      .map((t) => `link set dev ${t.tap} isolated ${t.isolated ? "on" : "off"}`)
      .join("\n");
    await ctx.run(["bridge", "-batch", "-"], { input: `${batch}\n` });
  }
  return null;
}

async function remove(ctx: HelperContext, args: unknown): Promise<null> {
  argsObj(args, []);
  await ctx.run(["nft", "-f", "-"], { input: dropTablesScript(ctx.uid) });
  return null;
}

/** The VM address must be one the caller's firewall knows (its drop counter exists). */
async function requireKnownVm(ctx: HelperContext, ip: string, path: string): Promise<void> {
  const objs = await listTable(ctx, "inet");
  const known = objs !== null && parseCounters(objs).some((c) => c.name === dropCounterName(ip));
  if (!known) throw new HelperError("NOT_FOUND", `${path}: ${ip} is not a VM in uid ${ctx.uid}'s firewall`);
}

async function allow(ctx: HelperContext, args: unknown): Promise<null> {
  const a = argsObj(args, ["vmIp", "add"]);
  const vmIp = checkIpv4(a.vmIp, "args.vmIp");
  if (!Array.isArray(a.add) || a.add.length > MAX_ALLOWED_PER_VM) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `args.add: must be an array of at most ${MAX_ALLOWED_PER_VM} entries`,
    );
  }
  const add = a.add.map((x, i) => checkAllowEntry(x, `args.add[${i}]`));
  if (add.length === 0) return null;
  const r = await ctx.run(["nft", "-f", "-"], {
    input: buildAllowScript(ctx.uid, vmIp, add),
    allowFailure: true,
  });
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) {
      throw new HelperError("NOT_FOUND", `args.vmIp: ${vmIp} has no allow set (is its egress "allow"?)`);
    }
    throw new HelperError("COMMAND_FAILED", `nft: ${r.stderr.trim().split("\n").slice(-2).join("; ")}`);
  }
  return null;
}

async function status(ctx: HelperContext, args: unknown): Promise<FirewallStatus> {
  argsObj(args, []);
  const inet = await listTable(ctx, "inet");
  const bridge = (await listTable(ctx, "bridge")) ?? [];
  const counters = new Map([...parseCounters(inet ?? []), ...parseCounters(bridge)].map((c) => [c.name, c]));
  const sets = new Map(parseSets(inet ?? []).map((s) => [s.name, s.elems]));
  const vms = [...counters.keys()]
    .filter((n) => n.startsWith("drop_"))
    .map((n) => n.slice(5).replaceAll("_", "."))
    .map((ip) => {
      const d = counters.get(dropCounterName(ip));
      const s = counters.get(spoofCounterName(ip));
      return {
        ip,
        dropped: { packets: d?.packets ?? 0, bytes: d?.bytes ?? 0 },
        spoofDropped: { packets: s?.packets ?? 0, bytes: s?.bytes ?? 0 },
        allowed: sets.get(allowSetName(ip)) ?? [],
      };
    });
  return { loaded: inet !== null, vms, host: await hostFacts(ctx) };
}

function flushedCount(stderr: string): number {
  const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(stderr);
  return m ? Number(m[1]) : 0;
}

async function conntrackFlush(ctx: HelperContext, args: unknown): Promise<{ flushed: number }> {
  const ip = checkIpv4(argsObj(args, ["ip"]).ip, "args.ip");
  await requireKnownVm(ctx, ip, "args.ip");
  let flushed = 0;
  for (const dir of ["-s", "-d"]) {
    // conntrack exits 1 when nothing matched; the count is on stderr either way.
    const r = await ctx.run(["conntrack", "-D", dir, ip], { allowFailure: true });
    if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) {
      throw new HelperError(
        "COMMAND_FAILED",
        `conntrack -D ${dir} ${ip}: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
    }
    flushed += flushedCount(r.stderr);
  }
  return { flushed };
}

export const firewallVerbs = {
  "firewall.apply": apply,
  "firewall.remove": remove,
  "firewall.allow": allow,
  "firewall.status": status,
  "conntrack.flush": conntrackFlush,
} as const;
