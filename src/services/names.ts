import { randomInt } from "node:crypto";
import { BangerError, ErrorCodes } from "../errors/index.js";

const ADJECTIVES = [
  "amber",
  "bold",
  "brave",
  "brisk",
  "calm",
  "clever",
  "cosmic",
  "crisp",
  "dapper",
  "eager",
  "fancy",
  "fuzzy",
  "gentle",
  "glossy",
  "happy",
  "hazy",
  "jolly",
  "keen",
  "lively",
  "lucky",
  "mellow",
  "merry",
  "misty",
  "nimble",
  "noble",
  "plucky",
  "polite",
  "proud",
  "quick",
  "quiet",
  "rapid",
  "rosy",
  "rustic",
  "shiny",
  "silent",
  "sleek",
  "snappy",
  "solar",
  "spry",
  "steady",
  "sunny",
  "swift",
  "tidy",
  "vivid",
  "warm",
  "witty",
  "young",
  "zesty",
];
const NOUNS = [
  "badger",
  "beacon",
  "bison",
  "canyon",
  "comet",
  "cedar",
  "dingo",
  "falcon",
  "ferret",
  "fjord",
  "gecko",
  "glacier",
  "harbor",
  "heron",
  "ibex",
  "island",
  "jackal",
  "koala",
  "lagoon",
  "lemur",
  "lynx",
  "marmot",
  "meadow",
  "moose",
  "narwhal",
  "otter",
  "panda",
  "pebble",
  "pelican",
  "puffin",
  "quokka",
  "raven",
  "reef",
  "salmon",
  "sparrow",
  "summit",
  "tapir",
  "tiger",
  "toucan",
  "tundra",
  "walrus",
  "willow",
  "wombat",
  "yak",
  "zebra",
];

/** A readable random name (adjective-noun); `taken` are avoided, a number is appended if needed. */
export function randomVmName(
  taken: (name: string) => boolean,
  rand: (n: number) => number = randomInt,
): string {
  for (let i = 0; i < 50; i++) {
    const n = `${ADJECTIVES[rand(ADJECTIVES.length)]}-${NOUNS[rand(NOUNS.length)]}`;
    if (!taken(n)) return n;
  }
  for (;;) {
    const n = `${ADJECTIVES[rand(ADJECTIVES.length)]}-${NOUNS[rand(NOUNS.length)]}-${rand(1000)}`;
    if (!taken(n)) return n;
  }
}

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** VM names are DNS labels (they become NAME.vm): lowercase letters, digits and `-`, 1-63 characters. */
export function validateVmName(name: string): string {
  if (LABEL_RE.test(name)) return name;
  let why: string;
  if (name === "") why = "it is empty";
  else if (name.length > 63) why = `it is ${name.length} characters long (at most 63)`;
  else if (/[A-Z]/.test(name)) why = "it has uppercase letters";
  else if (name.startsWith("-") || name.endsWith("-")) why = "it starts or ends with '-'";
  else
    why = `it has characters other than a-z, 0-9 and '-' (${JSON.stringify(name.replace(/[a-z0-9-]/g, "").slice(0, 5))})`;
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `invalid VM name "${name}": ${why}`, {
    hint: `VM names become DNS names (NAME.vm): use lowercase letters, digits and '-', for example "${suggestName(name)}"`,
  });
}

function suggestName(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return s || "my-vm";
}
