/**
 * Pieces of output as one: text when every piece is text (a socket copies a string once, and no Buffer
 * is made for it), else bytes, the text pieces encoded as UTF-8.
 */
export function joinChunks(pieces: readonly (string | Buffer)[]): string | Buffer {
  if (pieces.length === 1) return pieces[0]!;
  if (pieces.every((p) => typeof p === 'string')) return pieces.join('');
  return Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}
