/** Quote words for a POSIX shell (for messages, and for ssh's remote command line). Never used to run anything locally. */
export function shellQuote(words: readonly string[]): string {
  return words
    .map((w) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`))
    .join(" ");
}
