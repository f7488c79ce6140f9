/**
 * The backend the views use, reached through a React context: the app provides the one chosen in
 * its header (a server or this browser), and every view and component asks for it with
 * {@link useBackend} instead of receiving it as a prop.
 */
import { createContext, useContext, type ReactNode } from "react";
import type { Backend } from "./backend";

const BackendContext = createContext<Backend | null>(null);

export function BackendProvider({ backend, children }: { backend: Backend; children: ReactNode }) {
  return <BackendContext.Provider value={backend}>{children}</BackendContext.Provider>;
}

/** The backend of the nearest {@link BackendProvider}. */
export function useBackend(): Backend {
  const backend = useContext(BackendContext);
  if (!backend) throw new Error("useBackend is used outside a BackendProvider");
  return backend;
}
