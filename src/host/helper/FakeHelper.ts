import type { HelperVerb, HelperVerbs, PrivilegedHelper } from "../../helper/protocol.js";

/** Test double: records every call; answers from per-verb handlers (default: null), or fails when told to. */
export class FakeHelper implements PrivilegedHelper {
  readonly calls: Array<{ verb: HelperVerb; args: unknown }> = [];
  readonly handlers: Partial<{
    [V in HelperVerb]: (args: HelperVerbs[V]["args"]) => HelperVerbs[V]["result"];
  }> = {};
  /** verb -> error to throw on its next call. */
  readonly failNext = new Map<HelperVerb, Error>();

  async call<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"]): Promise<HelperVerbs[V]["result"]> {
    this.calls.push({ verb, args });
    const err = this.failNext.get(verb);
    if (err) {
      this.failNext.delete(verb);
      throw err;
    }
    const h = this.handlers[verb] as ((a: HelperVerbs[V]["args"]) => HelperVerbs[V]["result"]) | undefined;
    return h ? h(args) : (null as HelperVerbs[V]["result"]);
  }

  verbs(): HelperVerb[] {
    return this.calls.map((c) => c.verb);
  }
}
