import { helpLines } from "../format.js";
import type { TuiState } from "../state.js";
import { Pager } from "./Details.js";

/** Every key (the `?` screen). */
export function Help({ s, height }: { s: TuiState; height: number }) {
  const scroll = s.mode.kind === "help" ? s.mode.scroll : 0;
  return <Pager title="Keys" lines={helpLines()} scroll={scroll} height={height} />;
}
