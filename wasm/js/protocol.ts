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

/** An error as it crosses from the worker: the engine's code and message, and the request
 * field it is about and the limit it passed, where there are. */
export interface ErrorReply {
  code: string;
  message: string;
  field?: string;
  limit?: number;
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorReply };

/** What the worker posts: one reply, or the replies to a group of writes committed together. */
export type WorkerMessage = Reply | Reply[];
