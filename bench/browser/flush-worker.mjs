// The floor of workload 8's single writes: one OPFS write of a small record and one flush() of
// its sync access handle per write, with nothing else — what any engine that makes each write
// durable before answering must pay at least. Runs in a dedicated worker, as both engines do.
onmessage = async (event) => {
  const { single } = event.data;
  try {
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle(`flush-floor-${Date.now()}.bin`, { create: true });
    const handle = await file.createSyncAccessHandle();
    const record = new TextEncoder().encode("a record of about the size of one concept's log entry");
    let at = 0;
    const started = performance.now();
    for (let i = 0; i < single; i++) {
      at += handle.write(record, { at });
      handle.flush();
    }
    const singleMs = performance.now() - started;
    const size = handle.getSize();
    handle.close();
    await root.removeEntry(file.name);
    postMessage({ singleMs, size, expected: single * record.length });
  } catch (error) {
    postMessage({ error: String(error?.stack ?? error) });
  }
};
