/**
 * The network manager's two edges to the host's privileges: a helper call
 * whose refusal names what banger was doing, and the unprivileged check that
 * the VM subnet overlaps nothing on the host (so the error can name the
 * config key before the helper refuses the same thing).
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { HelperVerb, HelperVerbs, PrivilegedHelper } from "../../helper/protocol.js";
import { findOverlap, OVERLAP_READS, parseRouteDst } from "../../helper/validate.js";
import { netCommandError } from "../../host/net.js";
import type { CommandRunner } from "../../host/runner.js";

/** Call a helper verb; a failure becomes "could not WHAT: ..." with the helper's hint or doctor's. */
export function helperCall<V extends HelperVerb>(
  helper: PrivilegedHelper,
  verb: V,
  args: HelperVerbs[V]["args"],
  what: string,
): Promise<HelperVerbs[V]["result"]> {
  return helper.call(verb, args).catch((e: unknown) => {
    const err = e instanceof BangerError ? e : new BangerError(ErrorCodes.INTERNAL, String(e));
    return Promise.reject(
      new BangerError(err.code, `could not ${what}: ${err.message}`, {
        cause: err,
        hint: err.hint ?? "run `banger doctor` to check the host's networking prerequisites",
      }),
    );
  });
}

/** Throws CONFLICT naming the route (or address) and `[network] subnet` when `cidr` overlaps the host outside `ownBridge`. */
export async function assertSubnetFree(
  runner: CommandRunner,
  cidr: string,
  ownBridge: string | null,
): Promise<void> {
  const read = (argv: readonly string[], what: string) =>
    runner.run(argv).catch((e: unknown) => Promise.reject(netCommandError(what, argv, e)));
  const routes = await read(OVERLAP_READS.routes, "list the host's routes");
  const addrs = await read(OVERLAP_READS.addrs, "list the host's addresses");
  const net = parseRouteDst(cidr);
  const clash = net && findOverlap(net, routes.stdout, addrs.stdout, ownBridge);
  if (clash) {
    throw new BangerError(ErrorCodes.CONFLICT, `the VM subnet ${cidr} overlaps the host's ${clash}`, {
      hint: "set [network] subnet in banger's config.toml to an unused private range (e.g. 10.123.0.0/24)",
    });
  }
}
