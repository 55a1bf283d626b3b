/**
 * Quote words for a POSIX shell, readably (for messages, hints, and ssh's remote command line;
 * never used to run anything locally): a word stays bare when nothing in it is special, goes in
 * '...' when it has no single quote, in "..." when it has one but nothing that double quotes
 * expand, and otherwise in '...' with each ' written as '\''.
 */
export function shellQuote(words: readonly string[]): string {
  return words.map(quoteWord).join(" ");
}

function quoteWord(w: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(w)) return w;
  if (!w.includes("'")) return `'${w}'`;
  if (!/["$`\\!]/.test(w)) return `"${w}"`;
  return `'${w.replace(/'/g, "'\\''")}'`;
}
