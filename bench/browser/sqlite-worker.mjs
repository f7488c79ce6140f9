// The peer of workload 8: SQLite compiled to wasm (@sqlite.org/sqlite-wasm) on OPFS through its
// opfs-sahpool VFS, in a dedicated worker (sync access handles exist only in workers). Every
// transaction is durable: synchronous=FULL, and the VFS flushes the access handle on sync.
import sqlite3InitModule from "../../node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs";

onmessage = async (event) => {
  const { single, batches, batchSize, journal } = event.data;
  try {
    const sqlite3 = await sqlite3InitModule();
    const pool = await sqlite3.installOpfsSAHPoolVfs({ clearOnInit: true });
    const db = new pool.OpfsSAHPoolDb("/bench.sqlite3");
    // WAL needs exclusive locking on this VFS (it has no shared memory).
    if (journal === "wal") db.exec("PRAGMA locking_mode=EXCLUSIVE");
    const mode = db.selectValue(`PRAGMA journal_mode=${journal}`);
    db.exec("PRAGMA synchronous=FULL");
    db.exec("CREATE TABLE concepts (id INTEGER PRIMARY KEY, content TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO concepts (id, content) VALUES (?, ?)");
    let started = performance.now();
    for (let i = 0; i < single; i++) {
      // One transaction per write (autocommit).
      insert.bind([i, `concept number ${i} of the benchmark`]).stepReset();
    }
    const singleMs = performance.now() - started;
    started = performance.now();
    for (let b = 0; b < batches; b++) {
      db.exec("BEGIN");
      for (let j = 0; j < batchSize; j++) {
        const i = single + b * batchSize + j;
        insert.bind([i, `concept number ${i} of the benchmark`]).stepReset();
      }
      db.exec("COMMIT");
    }
    const batchMs = performance.now() - started;
    insert.finalize();
    const count = db.selectValue("SELECT count(*) FROM concepts");
    db.close();
    postMessage({ singleMs, batchMs, count, mode, version: sqlite3.version.libVersion });
  } catch (error) {
    postMessage({ error: String(error?.stack ?? error) });
  }
};
