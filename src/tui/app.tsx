/**
 * Wires the TUI: a store around the pure reducer, the Ink app that renders it
 * and turns keys into actions, the daemon session (effects), and the loop that
 * steps aside for SSH (unmount, leave the alternate screen, run ssh, come back).
 */
import { type Instance, render, useInput } from "ink";
import { useSyncExternalStore } from "react";
import type { Paths } from "../config/paths.js";
import { Session, type SessionDeps } from "./effects.js";
import { keyAction, splitKeys } from "./keys.js";
import { type Action, initialState, type Request, reduce, type TuiState } from "./state.js";
import { Screen } from "./views/Screen.js";

/** Holds the state; runs the requests the reducer queues after each action. */
export class Store {
  private state: TuiState;
  private readonly listeners = new Set<() => void>();

  constructor(
    initial: TuiState,
    private readonly onRequest: (r: Request) => void,
  ) {
    this.state = initial;
  }

  get = (): TuiState => this.state;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  dispatch = (a: Action): void => {
    let s = reduce(this.state, a);
    const reqs = s.outbox;
    if (reqs.length) s = reduce(s, { type: "outbox-taken", ids: reqs.map((r) => r.id) });
    this.state = s;
    for (const l of this.listeners) l();
    for (const r of reqs) this.onRequest(r);
  };
}

export function App({ store, color }: { store: Store; color: boolean }) {
  const s = useSyncExternalStore(store.subscribe, store.get);
  useInput((input, key) => {
    for (const [i, k] of splitKeys(input, key)) {
      const a = keyAction(store.get(), i, k);
      if (a) store.dispatch(a);
    }
  });
  return <Screen s={s} color={color} />;
}

export interface TuiIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

const ALT_ON = "\u001b[?1049h\u001b[H\u001b[2J";
const ALT_OFF = "\u001b[?1049l";
const CURSOR_SHOW = "\u001b[?25h";

/** Signals that end the TUI cleanly (terminal restored) instead of killing it mid-screen. */
const SIGNALS = ["SIGTERM", "SIGHUP", "SIGINT"] as const;

type Exit = { kind: "quit" } | { kind: "ssh"; name: string };

function screenSize(out: NodeJS.WriteStream): { width: number; height: number } {
  // one line short of the terminal: Ink redraws in place (no full clear) while output is shorter
  return { width: Math.max(40, out.columns || 80), height: Math.max(10, (out.rows || 24) - 1) };
}

/** One mounted period of the app; resolves when it must step aside (ssh) or quit. */
async function mounted(store: Store, io: TuiIo, color: boolean, next: Promise<Exit>): Promise<Exit> {
  io.stdout.write(ALT_ON);
  let ink: Instance | undefined;
  try {
    ink = render(<App store={store} color={color} />, {
      stdin: io.stdin,
      stdout: io.stdout,
      exitOnCtrlC: false,
      patchConsole: false,
    });
    // Ink ends on its own only on a render error: that error reaches the caller
    const ended = ink.waitUntilExit().then((): Exit => ({ kind: "quit" }));
    return await Promise.race([next, ended]);
  } finally {
    ink?.unmount();
    await ink?.waitUntilExit().catch(() => undefined);
    io.stdout.write(ALT_OFF + CURSOR_SHOW);
    await releaseStdin(io.stdin);
  }
}

/**
 * Stop reading the terminal, so that a child given this stdin (ssh) gets every key.
 * Ink only removes its listener; an unpaused TTY stream keeps reading from the fd.
 */
async function releaseStdin(stdin: NodeJS.ReadStream): Promise<void> {
  await new Promise((r) => setImmediate(r));
  stdin.pause();
  await new Promise((r) => setImmediate(r));
  // what Node does itself on pause() when the stream is not flowing; done here in case it was not
  const s = stdin as unknown as {
    _handle?: { reading?: boolean; readStop?: () => number };
    _readableState?: { reading: boolean };
  };
  if (s._handle?.reading && s._handle.readStop && s._readableState) {
    s._readableState.reading = false;
    s._handle.reading = false;
    s._handle.readStop();
  }
}

/** Run `banger tui` until the user quits. */
export async function runTui(paths: Paths, deps: SessionDeps, io: TuiIo): Promise<void> {
  const color = !io.env.NO_COLOR && io.env.TERM !== "dumb";
  let signal: (e: Exit) => void = () => undefined;
  const onRequest = (r: Request) => {
    if (r.kind === "quit") signal({ kind: "quit" });
    else if (r.kind === "ssh") signal({ kind: "ssh", name: r.name });
    else session.run(r);
  };
  const store = new Store(initialState(Date.now(), screenSize(io.stdout)), onRequest);
  const session = new Session(paths, store.dispatch, deps);
  const onResize = () => store.dispatch({ type: "resize", ...screenSize(io.stdout) });
  let terminated = false;
  const onTerm = () => {
    terminated = true;
    signal({ kind: "quit" });
  };
  const tick = setInterval(() => store.dispatch({ type: "tick", now: Date.now() }), 1000);
  io.stdout.on("resize", onResize);
  for (const sig of SIGNALS) process.on(sig, onTerm);
  session.start();
  try {
    for (;;) {
      const exit = await mounted(store, io, color, new Promise<Exit>((r) => (signal = r)));
      if (exit.kind === "quit") break;
      signal = () => undefined;
      store.dispatch(await session.ssh(exit.name));
      if (terminated) break;
      onResize();
    }
  } finally {
    clearInterval(tick);
    io.stdout.off("resize", onResize);
    for (const sig of SIGNALS) process.off(sig, onTerm);
    session.stop();
  }
}
