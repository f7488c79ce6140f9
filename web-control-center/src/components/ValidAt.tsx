import { useState } from "react";
import type { Validity } from "../data/backend";
import { parseTime } from "../logic/validity";
import { Field } from "./common";

/** Which facts a view follows: those that hold now (the engine's default), those that held at
 * a time, or all of them. Returns the choice as the engine's options, and the control. */
export function useValidAt(name: string): { validity: Validity; key: string; control: React.ReactNode } {
  const [mode, setMode] = useState<"now" | "time" | "all">("now");
  const [at, setAt] = useState("");
  const parsed = parseTime(at);
  let validity: Validity = {};
  if (mode === "all") validity = { include_invalid: true };
  else if (mode === "time" && parsed.ok && parsed.ms !== undefined) validity = { as_of: parsed.ms };
  const control = (
    <div className="row">
      <Field label="Facts" error={mode === "time" && !parsed.ok ? parsed.error : null}>
        <select name={`${name}-valid`} value={mode} onChange={(e) => setMode(e.target.value as "now" | "time" | "all")}>
          <option value="now">that hold now</option>
          <option value="time">that held at a time</option>
          <option value="all">all, also those no longer valid</option>
        </select>
      </Field>
      {mode === "time" ? (
        <Field label="Valid at">
          <input name={`${name}-valid-at`} type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} />
        </Field>
      ) : null}
    </div>
  );
  return { validity, key: JSON.stringify(validity), control };
}
