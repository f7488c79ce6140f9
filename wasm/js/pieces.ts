/**
 * The one routine that feeds a JSON Lines import in pieces, used by this package (pieces to the
 * worker) and by the control center's server backend (pieces as requests): each piece is
 * answered before the next is sent, so one piece bounds the work in flight, progress can be
 * shown, and the answers add up to one summary.
 */
import type { ImportSummary } from "./types.js";

/** Rejected lines an import's summary keeps (the count goes on). */
export const REJECTED_KEPT = 100;

/**
 * Sends `text` in pieces of at most `linesPerPiece` lines. `send(piece, firstLine)` imports a
 * piece (without its final newline) whose first line is line `firstLine` of the whole text
 * (counting from 1) and answers its summary with line numbers of the whole text. `onProgress`
 * is told the lines sent and the total: before the first piece, and after each.
 */
export async function importInPieces(
  text: string,
  linesPerPiece: number,
  send: (piece: string, firstLine: number) => Promise<ImportSummary>,
  onProgress?: (done: number, total: number) => void,
): Promise<ImportSummary> {
  if (!Number.isInteger(linesPerPiece) || linesPerPiece < 1) {
    throw new RangeError(`linesPerPiece must be a positive integer, not ${linesPerPiece}`);
  }
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const total: ImportSummary = { concepts: 0, associations: 0, rejected_count: 0, rejected: [] };
  onProgress?.(0, lines.length);
  for (let start = 0; start < lines.length; start += linesPerPiece) {
    const piece = lines.slice(start, start + linesPerPiece).join("\n");
    const part = await send(piece, start + 1);
    total.concepts += part.concepts;
    total.associations += part.associations;
    total.rejected_count += part.rejected_count;
    total.rejected.push(...part.rejected.slice(0, Math.max(0, REJECTED_KEPT - total.rejected.length)));
    onProgress?.(Math.min(start + linesPerPiece, lines.length), lines.length);
  }
  return total;
}
