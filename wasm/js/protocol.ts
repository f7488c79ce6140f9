/** Messages between the main-thread client and the worker. */

export type Method =
  | "open"
  | "write"
  | "read"
  | "checkpoint"
  | "export"
  | "import"
  | "estimate"
  | "close"
  | "list"
  | "drop";

export interface Call {
  id: number;
  method: Method;
  args: unknown[];
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };

/** What the worker posts: one reply, or the replies to a group of writes committed together. */
export type WorkerMessage = Reply | Reply[];
