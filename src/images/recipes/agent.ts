/** The guest agent as recipes see it: a cache key (its source) and a way to build the binary. */
import { buildAgent, readAgentSource } from "../../guest/agent/buildAgent.js";
import type { CommandRunner } from "../../host/runner.js";

/** Where recipes install the agent in a guest. */
export const AGENT_GUEST_PATH = "/usr/sbin/banger-agent";

export interface AgentProvider {
  /** Text that changes whenever the binary would: part of every image recipe's cache key. */
  sourceKey(): Promise<string>;
  /** Build the binary into outDir; returns its path. */
  build(outDir: string): Promise<string>;
}

/** The real agent: src/guest/agent (its source hashed, built by buildAgent). */
export function defaultAgentProvider(runner: CommandRunner): AgentProvider {
  return {
    sourceKey: () => readAgentSource(),
    build: (outDir) => buildAgent({ runner, outDir }),
  };
}
