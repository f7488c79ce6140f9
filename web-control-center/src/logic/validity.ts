/** When facts hold: reading the time inputs of the forms, and saying an interval in words. */
import type { Association } from "sutra-wasm";

/** A time as the page shows it: the browser's own time zone, to the minute. */
export function timeText(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A time as a `datetime-local` input holds it: local time, to the minute ("2024-05-01T09:30"). */
export function timeInputText(ms: number): string {
  return timeText(ms).replace(" ", "T");
}

/**
 * The value of a `datetime-local` input (local time, "2024-05-01T09:30") as ms since the
 * epoch; empty is none. What the input cannot hold is an error, never a guess.
 */
export function parseTime(value: string): { ok: true; ms: number | undefined } | { ok: false; error: string } {
  const text = value.trim();
  if (text === "") return { ok: true, ms: undefined };
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(text)) {
    return { ok: false, error: `${text} is not a date and time (2024-05-01T09:30)` };
  }
  const ms = new Date(text).getTime();
  if (!Number.isFinite(ms) || ms < 0) return { ok: false, error: `${text} is not a time after 1970` };
  return { ok: true, ms };
}

/** Whether the association holds at `at` (its interval is from inclusive, until exclusive). */
export function holdsAt(a: Pick<Association, "valid_from_ms" | "valid_until_ms">, at: number): boolean {
  return (a.valid_from_ms === null || a.valid_from_ms <= at) && (a.valid_until_ms === null || at < a.valid_until_ms);
}

/** The interval in words: "always", "since …", "until …", "… – …", and whether it holds now. */
export function validityText(a: Pick<Association, "valid_from_ms" | "valid_until_ms">, now: number): string {
  const from = a.valid_from_ms;
  const until = a.valid_until_ms;
  let text: string;
  if (from === null && until === null) text = "always";
  else if (until === null) text = `since ${timeText(from ?? 0)}`;
  else if (from === null) text = `until ${timeText(until)}`;
  else text = `${timeText(from)} – ${timeText(until)}`;
  if (holdsAt(a, now)) return text;
  return `${text} (${from !== null && now < from ? "not yet valid" : "no longer valid"})`;
}
