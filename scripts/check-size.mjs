#!/usr/bin/env node
// Size check (`npm run lint`): no function over 60 lines and no file over 400 lines in src/
// (tests, *.test.ts, excluded). A function's lines run from its first line to its closing brace,
// nested functions included (and also counted on their own). Known offenders are listed, each
// with a reason, in scripts/size-allowlist.json; an entry that no longer matches an offender fails
// the check too, so the list only shrinks.
// Usage: node scripts/check-size.mjs [--all] [--root DIR]
//   --all: print the allowlisted offenders as well; --root: check DIR/src against
//   DIR/scripts/size-allowlist.json instead of this repository (for testing the check).
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const MAX_FUNCTION_LINES = 60;
export const MAX_FILE_LINES = 400;

const argv = process.argv.slice(2);
const rootArg = argv.indexOf("--root");
const root =
  rootArg >= 0
    ? path.resolve(argv[rootArg + 1] ?? ".")
    : path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Every *.ts / *.tsx under dir except tests, as paths relative to the repo root. */
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** A readable name for a function node: `name`, `Class.method`, or the variable/property it is assigned to. */
function nameOf(node) {
  const own = node.name && ts.isIdentifier(node.name) ? node.name.text : undefined;
  const parent = node.parent;
  if (ts.isConstructorDeclaration(node)) return `${className(node)}.constructor`;
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const cls = className(node);
    const n = node.name.getText();
    return cls ? `${cls}.${n}` : n;
  }
  if (own) return own;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  return "(anonymous)";
}

function className(node) {
  const p = node.parent;
  return p && (ts.isClassDeclaration(p) || ts.isClassExpression(p)) && p.name ? p.name.text : "";
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isFunctionExpression(n) ||
  ts.isArrowFunction(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessor(n) ||
  ts.isSetAccessor(n);

/** The offenders in one file: { file, function?, lines, line }. */
export function measure(file, text) {
  const rel = path.relative(root, file).split(path.sep).join("/");
  const out = [];
  const total = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
  if (total > MAX_FILE_LINES) out.push({ file: rel, lines: total, line: 1 });
  const kind = file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const visit = (n) => {
    if (isFunction(n) && n.body) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const lines = last - first + 1;
      if (lines > MAX_FUNCTION_LINES) out.push({ file: rel, function: nameOf(n), lines, line: first + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const key = (o) => (o.function ? `${o.file} ${o.function}` : o.file);

function main() {
  const all = argv.includes("--all");
  const allow = JSON.parse(readFileSync(path.join(root, "scripts/size-allowlist.json"), "utf8")).allow;
  const allowed = new Map(allow.map((a) => [key(a), a]));
  const found = sources(path.join(root, "src")).flatMap((f) => measure(f, readFileSync(f, "utf8")));
  const what = (o) =>
    o.function
      ? `${o.file}:${o.line} function ${o.function} has ${o.lines} lines (max ${MAX_FUNCTION_LINES})`
      : `${o.file} has ${o.lines} lines (max ${MAX_FILE_LINES})`;
  let bad = 0;
  for (const o of found) {
    if (allowed.has(key(o))) {
      if (all) console.log(`allowed: ${what(o)}: ${allowed.get(key(o)).reason}`);
      continue;
    }
    bad++;
    console.error(`error: ${what(o)}: split it into named steps or smaller modules`);
  }
  const seen = new Set(found.map(key));
  for (const a of allow) {
    if (seen.has(key(a))) continue;
    bad++;
    console.error(
      `error: scripts/size-allowlist.json lists "${key(a)}", which is no longer over the limit: remove it`,
    );
  }
  if (bad > 0) {
    console.error(`size check: ${bad} problem(s)`);
    process.exit(1);
  }
  console.log(`size check: ${found.length} known offender(s) allowlisted, no new ones`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
