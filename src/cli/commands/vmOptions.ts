import { type Command, InvalidArgumentError, Option } from "commander";
import { parseSize, tryParseDuration } from "../../config/sizes.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { type DefaultsView, formatDiskSize } from "../defaults.js";

const MiB = 1024 * 1024;

export interface CreateOpts {
  name?: string;
  image?: string;
  vcpu?: number;
  memory?: number;
  diskSize?: number;
  egress?: string;
  peer?: string[];
  autoSuspendAfter?: number;
  json?: boolean;
}

/** Help for --egress and --peer (also shown by `vm egress --help`). */
export const EGRESS_FLAG_HELP =
  "outbound policy: none | public | allow=DOMAIN[,DOMAIN...] (*.example.com for subdomains); default [network] egress, else public with nat and none without";
export const PEER_FLAG_HELP =
  "another VM this one may reach and be reached by (repeatable; guests are isolated from each other by default)";

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function sizeOpt(field: string) {
  return (v: string) => {
    try {
      const n = parseSize(v, field);
      if (field === "--memory" && n % MiB !== 0)
        throw new Error(`${field} must be a whole number of MiB (for example 1536M or 2G)`);
      return n;
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

export function intOpt(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** The longest --wait / --timeout accepted, in seconds. */
export const MAX_WAIT_SECONDS = 3600;

/** `--wait <seconds>` (default 300): a whole number of seconds, refused otherwise (never NaN). */
export function waitOption(desc: string): Option {
  return new Option("--wait <seconds>", desc).argParser(intOpt(0, MAX_WAIT_SECONDS)).default(300);
}

/** " (default 4, auto)" when the defaults were resolved (only for --help), else a pointer to doctor. */
const SOURCE_WORDS: Record<string, string> = {
  config: ", from config.toml",
  env: ", from the environment",
  auto: ", derived from this host",
  builtin: ", built-in",
};

function dflt(v: { value: unknown; source: string } | undefined, show: (x: never) => string): string {
  return v ? ` (default ${show(v.value as never)}${SOURCE_WORDS[v.source] ?? ""})` : "";
}

/** The size and placement flags shared by `vm create` and `vm run`, their help showing the resolved defaults. */
export function createOptions(cmd: Command, d: DefaultsView | null): Command {
  return cmd
    .option("--name <name>", "a DNS label, reachable as NAME.vm (default: a random adjective-noun)")
    .option("--image <image>", `image to create from${dflt(d?.image, (x: string) => x)}`)
    .option("--vcpu <n>", `vCPUs${dflt(d?.vcpu, (x: number) => String(x))}`, intOpt(1, 64))
    .option(
      "--memory <size>",
      `memory, e.g. 512M, 2G${dflt(d?.memoryMib, (x: number) => `${x}M`)}`,
      sizeOpt("--memory"),
    )
    .option(
      "--disk-size <size>",
      `work disk (/root) size, e.g. 8G${dflt(d?.diskSizeBytes, (x: number) => formatDiskSize(x))}`,
      sizeOpt("--disk-size"),
    )
    .option("--egress <policy>", EGRESS_FLAG_HELP)
    .option("--peer <name>", PEER_FLAG_HELP, collect)
    .option(
      "--auto-suspend-after <duration>",
      "suspend itself after this long idle (15m, 1h; 0: never); a use wakes it (default: config auto_suspend_after, else never)",
      idleOpt,
    )
    .option("--json", "print JSON");
}

/** --auto-suspend-after: a duration (10s .. 7d) in ms, or 0 for never. */
function idleOpt(v: string): number {
  if (v === "0" || v === "never") return 0;
  const r = tryParseDuration(v);
  if (!r.ok || r.value < 10_000 || r.value > 7 * 86_400_000)
    throw new InvalidArgumentError(`"${v}" is not a duration from 10s to 7d (like 15m), or 0 for never`);
  return r.value;
}

export function memoryMib(bytes: number | undefined): number | undefined {
  if (bytes === undefined) return undefined;
  if (bytes % MiB !== 0)
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "--memory must be a whole number of MiB");
  return bytes / MiB;
}
