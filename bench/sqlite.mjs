#!/usr/bin/env node
// Benchmark: node:sqlite (what banger uses) against better-sqlite3 on banger's
// own workload and schema: open + migrate, list 1,000 VMs, writes from two
// processes at once, WAL (a reader beside an open write), and a kill -9 in the
// middle of a transaction. better-sqlite3 is measured only when it can be
// loaded: BETTER_SQLITE3=<dir of a node_modules holding it> (banger no longer
// depends on it; docs/decisions/sqlite.md keeps the figures of both).
// Needs the built tree (`npm run build`).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "./lib.mjs";

const dist = (p) => pathToFileURL(path.join(root, "dist", p)).href;
const { DatabaseSync } = await import("node:sqlite");

/** Each driver behind the same four calls. */
const DRIVERS = {
  "node:sqlite": (file) => {
    const db = new DatabaseSync(file);
    return { exec: (s) => db.exec(s), prepare: (s) => db.prepare(s), close: () => db.close() };
  },
};
if (process.env.BETTER_SQLITE3) {
  const Database = createRequire(path.join(process.env.BETTER_SQLITE3, "x.js"))("better-sqlite3");
  DRIVERS["better-sqlite3"] = (file) => {
    const db = new Database(file);
    return { exec: (s) => db.exec(s), prepare: (s) => db.prepare(s), close: () => db.close() };
  };
}

function open(driver, file) {
  const db = DRIVERS[driver](file);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  return db;
}

function immediate(db, fn) {
  db.exec("BEGIN IMMEDIATE");
  try {
    fn();
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};
const time = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};

// --- a child process: one writer of the contention test, or the victim of kill -9 ---
if (process.argv[2] === "--child") {
  const [, , , driver, file, role, n] = process.argv;
  const db = open(driver, file);
  if (role === "writer") {
    const up = db.prepare("UPDATE vms SET vcpu = vcpu + 1 WHERE name = ?");
    const t0 = performance.now();
    for (let i = 0; i < Number(n); i++) immediate(db, () => up.run(`vm-${i % 1000}`));
    process.stdout.write(`${performance.now() - t0}\n`);
  } else {
    db.exec("BEGIN IMMEDIATE");
    db.prepare("DELETE FROM vms").run();
    process.stdout.write("in-transaction\n");
    setInterval(() => {}, 1000);
  }
} else {
  await bench();
}

/** banger's schema and 1,000 VM rows, made by banger's own store code. */
async function template(dir) {
  const { SqliteStore } = await import(dist("src/store/sqlite/SqliteStore.js"));
  const { makeImage, makeKernel, makeVm } = await import(dist("src/store/fake/fixtures.js"));
  const file = path.join(dir, "template.db");
  const s = new SqliteStore(file);
  s.migrate();
  const kernel = makeKernel("k");
  s.kernels.insert(kernel);
  const image = makeImage("img", { kernelId: kernel.id });
  s.images.insert(image);
  s.transaction(() => {
    for (let i = 0; i < 1000; i++) s.vms.insert(makeVm(`vm-${i}`, image.id));
  });
  const schema = s.database
    .prepare(
      "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
    )
    .pluck()
    .all();
  s.close();
  return { file, schema };
}

function sumVcpu(driver, file) {
  const db = open(driver, file);
  const n = db.prepare("SELECT sum(vcpu) AS n FROM vms").get().n;
  db.close();
  return n;
}

function copyDb(src, dst) {
  const db = new DatabaseSync(src);
  db.exec(`VACUUM INTO '${dst}'`);
  db.close();
}

function child(driver, file, role, n) {
  const c = spawn(
    process.execPath,
    [new URL(import.meta.url).pathname, "--child", driver, file, role, String(n)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  c.stdout.on("data", (b) => (out += b));
  return {
    c,
    firstLine: () => new Promise((r) => c.stdout.on("data", () => out.includes("\n") && r(out))),
    done: new Promise((r) => c.on("close", (code) => r({ code, out }))),
  };
}

async function bench() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-sqlite-"));
  try {
    const { file: tpl, schema } = await template(dir);
    console.log(`SQLite drivers on banger's schema (Node ${process.version}; 1,000 VMs):`);
    for (const driver of Object.keys(DRIVERS)) await benchDriver(driver, dir, tpl, schema);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchDriver(driver, dir, tpl, schema) {
  const f = (n) => path.join(dir, `${driver.replace(/\W/g, "")}-${n}.db`);
  const migrate = [];
  for (let i = 0; i < 10; i++)
    migrate.push(
      time(() => {
        const db = open(driver, f(`m${i}`));
        immediate(db, () => {
          for (const sql of schema) db.exec(sql);
        });
        db.close();
      }),
    );
  const listFile = f("list");
  copyDb(tpl, listFile);
  const db = open(driver, listFile);
  const list = [];
  let rows = 0;
  for (let i = 0; i < 20; i++)
    list.push(time(() => (rows = db.prepare("SELECT * FROM vms ORDER BY created_at, id").all().length)));
  if (rows !== 1000) throw new Error(`${driver}: listed ${rows} VMs, not 1000`);

  // WAL: a second connection reads the last committed state while a write is open.
  const mode = db.prepare("PRAGMA journal_mode").get().journal_mode;
  const reader = open(driver, listFile);
  db.exec("BEGIN IMMEDIATE");
  db.prepare("DELETE FROM vms WHERE name = 'vm-0'").run();
  const seen = reader.prepare("SELECT count(*) AS n FROM vms").get().n;
  db.exec("ROLLBACK");
  reader.close();
  db.close();

  // Two processes, 500 IMMEDIATE write transactions each, on one file.
  const N = 500;
  const base = sumVcpu(driver, listFile);
  const t0 = performance.now();
  const writers = await Promise.all([
    child(driver, listFile, "writer", N).done,
    child(driver, listFile, "writer", N).done,
  ]);
  const wall = performance.now() - t0;
  if (writers.some((w) => w.code !== 0)) throw new Error(`${driver}: a writer failed`);
  const total = sumVcpu(driver, listFile) - base;

  // kill -9 while a transaction that deleted every VM is open.
  const victim = child(driver, listFile, "victim", 0);
  await victim.firstLine();
  victim.c.kill("SIGKILL");
  await victim.done;
  let after = 0;
  let integrity = "";
  const recover = time(() => {
    const db2 = open(driver, listFile);
    db2.prepare("UPDATE vms SET vmm_pid = NULL WHERE name = 'vm-1'").run();
    after = db2.prepare("SELECT count(*) AS n FROM vms").get().n;
    integrity = db2.prepare("PRAGMA integrity_check").get().integrity_check;
    db2.close();
  });

  const ms = (x) => `${x.toFixed(2)} ms`;
  console.log(`  ${driver}:`);
  console.log(`    open + migrate (fresh file), median of 10: ${ms(median(migrate))}`);
  console.log(`    list 1,000 VMs, median of 20: ${ms(median(list))}`);
  console.log(
    `    WAL: journal_mode=${mode}; a reader beside an open write saw ${seen} of 1000 VMs (not blocked)`,
  );
  console.log(
    `    2 processes x ${N} write transactions: ${ms(wall)} wall, ${total} of ${2 * N} updates kept, no SQLITE_BUSY`,
  );
  console.log(
    `    kill -9 mid-transaction: reopen + write ${ms(recover)}, ${after} of 1000 VMs kept, integrity_check=${integrity}`,
  );
  if (total !== 2 * N || after !== 1000 || integrity !== "ok" || mode !== "wal" || seen !== 1000)
    throw new Error(`${driver}: the workload did not hold up`);
}
