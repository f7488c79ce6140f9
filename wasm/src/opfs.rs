//! The core's storage trait on the Origin Private File System, through
//! `FileSystemSyncAccessHandle`s (dedicated workers only).
//!
//! One OPFS directory per memory holds three files: `wal.log` and two snapshot slots,
//! `snapshot-0.dat` and `snapshot-1.dat`. OPFS has no atomic rename for sync access handles, so
//! a snapshot is replaced by writing the slot that is not current and flushing it; opening reads
//! both slots and uses the one whose checksums all pass with the highest sequence number. A torn
//! or damaged slot is therefore never loaded, and a crash mid-write leaves the other slot. If the
//! slot that a checkpoint trimmed the log for were ever lost, the log's header (it records the
//! sequence number the log continues from) makes opening refuse instead of loading an older state.
//! A damaged slot with no good one is handed to recovery, which refuses it unless the log was
//! never trimmed and so holds the whole history (a torn first checkpoint): the core's rule,
//! the same on every storage.
//!
//! `flush()` is the durability point: nothing is acknowledged before it returns. `close()` does
//! not flush, so dropping handles without a flush behaves like a crash.

use js_sys::{Promise, Reflect};
use std::rc::Rc;
use sutra_core::{slots, wal, SnapshotBytes, Storage, StorageError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions,
    FileSystemGetFileOptions, FileSystemReadWriteOptions, FileSystemSyncAccessHandle,
    WorkerGlobalScope,
};

/// The log's file name.
pub const LOG_FILE: &str = "wal.log";
/// The snapshot slots' file names.
pub const SLOT_FILES: [&str; 2] = ["snapshot-0.dat", "snapshot-1.dat"];
/// The OPFS directory under which every memory has its own directory.
pub const ROOT_DIR: &str = "sutra";

/// A JavaScript exception as text.
pub fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        let name = err.name().as_string().unwrap_or_default();
        let message = err.message().as_string().unwrap_or_default();
        return format!("{name}: {message}");
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

fn js_err(what: &str) -> impl Fn(JsValue) -> StorageError + '_ {
    move |e| StorageError::new(format!("{what}: {}", describe(&e)))
}

async fn await_js<T: JsCast>(promise: Promise) -> Result<T, JsValue> {
    JsFuture::from(promise).await?.dyn_into::<T>()
}

/// The OPFS root directory (`navigator.storage.getDirectory()`), from a worker.
pub async fn opfs_root() -> Result<FileSystemDirectoryHandle, JsValue> {
    let scope: WorkerGlobalScope = js_sys::global().dyn_into()?;
    await_js(scope.navigator().storage().get_directory()).await
}

/// The directory of memory `name` (created when missing).
pub async fn memory_dir(name: &str) -> Result<FileSystemDirectoryHandle, JsValue> {
    let root = opfs_root().await?;
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    let sutra: FileSystemDirectoryHandle =
        await_js(root.get_directory_handle_with_options(ROOT_DIR, &options)).await?;
    await_js(sutra.get_directory_handle_with_options(name, &options)).await
}

/// Deletes memory `name`'s directory and files (its handles must be closed).
pub async fn remove_memory_dir(name: &str) -> Result<(), JsValue> {
    let root = opfs_root().await?;
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    let sutra: FileSystemDirectoryHandle =
        await_js(root.get_directory_handle_with_options(ROOT_DIR, &options)).await?;
    let remove = web_sys::FileSystemRemoveOptions::new();
    remove.set_recursive(true);
    JsFuture::from(sutra.remove_entry_with_options(name, &remove)).await?;
    Ok(())
}

/// The names of the memories in OPFS.
pub async fn memory_names() -> Result<Vec<String>, JsValue> {
    let root = opfs_root().await?;
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    let sutra: FileSystemDirectoryHandle =
        await_js(root.get_directory_handle_with_options(ROOT_DIR, &options)).await?;
    let keys = sutra.keys();
    let mut names = Vec::new();
    loop {
        let step = JsFuture::from(keys.next()?).await?;
        if Reflect::get(&step, &"done".into())?
            .as_bool()
            .unwrap_or(true)
        {
            break;
        }
        if let Some(name) = Reflect::get(&step, &"value".into())?.as_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

async fn sync_handle(
    dir: &FileSystemDirectoryHandle,
    name: &str,
) -> Result<FileSystemSyncAccessHandle, JsValue> {
    let options = FileSystemGetFileOptions::new();
    options.set_create(true);
    let file: FileSystemFileHandle =
        await_js(dir.get_file_handle_with_options(name, &options)).await?;
    await_js(file.create_sync_access_handle()).await
}

/// The open sync access handles of one memory. Each is exclusive: a second tab or worker
/// cannot open the same files while these live. Dropping them closes them (without a flush).
pub struct OpfsFiles {
    /// `wal.log`.
    pub log: FileSystemSyncAccessHandle,
    /// The two snapshot slots.
    pub slots: [FileSystemSyncAccessHandle; 2],
}

impl OpfsFiles {
    /// Bytes the memory's files take: the log and both snapshot slots.
    pub fn bytes(&self) -> Result<u64, StorageError> {
        let mut total = self.log.get_size().map_err(js_err("getSize"))?;
        for slot in &self.slots {
            total += slot.get_size().map_err(js_err("getSize"))?;
        }
        Ok(total as u64)
    }

    /// Opens (creating) the files in `dir`.
    pub async fn open(dir: &FileSystemDirectoryHandle) -> Result<OpfsFiles, JsValue> {
        let log = sync_handle(dir, LOG_FILE).await?;
        let slot0 = sync_handle(dir, SLOT_FILES[0]).await?;
        let slot1 = sync_handle(dir, SLOT_FILES[1]).await?;
        Ok(OpfsFiles {
            log,
            slots: [slot0, slot1],
        })
    }
}

impl Drop for OpfsFiles {
    fn drop(&mut self) {
        self.log.close();
        for slot in &self.slots {
            slot.close();
        }
    }
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let options = FileSystemReadWriteOptions::new();
    options.set_at(offset as f64);
    options
}

/// Reads a whole file.
pub fn read_all(handle: &FileSystemSyncAccessHandle) -> Result<Vec<u8>, StorageError> {
    let size = handle.get_size().map_err(js_err("getSize"))? as usize;
    let mut buf = vec![0u8; size];
    if size > 0 {
        let read = handle
            .read_with_u8_array_and_options(&mut buf, &at(0))
            .map_err(js_err("read"))? as usize;
        if read != size {
            return Err(StorageError::new(format!("read {read} of {size} bytes")));
        }
    }
    Ok(buf)
}

/// Writes `bytes` at `offset`, all of them.
pub fn write_at(
    handle: &FileSystemSyncAccessHandle,
    bytes: &[u8],
    offset: u64,
) -> Result<(), StorageError> {
    let written = handle
        .write_with_u8_array_and_options(bytes, &at(offset))
        .map_err(js_err("write"))? as usize;
    if written != bytes.len() {
        return Err(StorageError::new(format!(
            "wrote {written} of {} bytes",
            bytes.len()
        )));
    }
    Ok(())
}

/// A memory's storage on OPFS.
pub struct OpfsStorage {
    files: Rc<OpfsFiles>,
    log_len: u64,
    /// Length of `wal.log`: the log's bytes, then reserved zeros.
    file_len: u64,
    synced_len: u64,
    /// The slot holding the snapshot in use (the other one is written next).
    current_slot: Option<usize>,
}

impl OpfsStorage {
    /// A storage over open files.
    pub fn new(files: Rc<OpfsFiles>) -> Result<OpfsStorage, StorageError> {
        let log_len = files.log.get_size().map_err(js_err("getSize"))? as u64;
        Ok(OpfsStorage {
            files,
            log_len,
            // Until opening has scanned the log, all of the file counts as log (reserved zeros at
            // its end are then cut off).
            file_len: log_len,
            synced_len: log_len,
            current_slot: None,
        })
    }

    /// Opens (creating) memory `name`'s files. Fails if another tab or worker holds them.
    pub async fn open(name: &str) -> Result<OpfsStorage, StorageError> {
        let dir = memory_dir(name)
            .await
            .map_err(js_err("open OPFS directory"))?;
        let files = OpfsFiles::open(&dir)
            .await
            .map_err(js_err("open OPFS files"))?;
        OpfsStorage::new(Rc::new(files))
    }

    /// The open files.
    pub fn files(&self) -> &Rc<OpfsFiles> {
        &self.files
    }

    /// Log bytes made durable by the last flush (as far as this handle knows).
    pub fn synced_log_len(&self) -> u64 {
        self.synced_len
    }

    /// The slot the next snapshot goes to (the core's two-slot rule).
    pub fn next_slot(&self) -> usize {
        slots::next(self.current_slot)
    }

    /// Snapshot replacement, step 1: empty the slot and write the new snapshot into it.
    pub fn write_slot(&mut self, slot: usize, bytes: &[u8]) -> Result<(), StorageError> {
        let handle = &self.files.slots[slot];
        handle.truncate_with_f64(0.0).map_err(js_err("truncate"))?;
        write_at(handle, bytes, 0)
    }

    /// Snapshot replacement, step 2: flush it; from here on it is the snapshot.
    pub fn flush_slot(&mut self, slot: usize) -> Result<(), StorageError> {
        self.files.slots[slot].flush().map_err(js_err("flush"))?;
        self.current_slot = Some(slot);
        Ok(())
    }
}

impl Storage for OpfsStorage {
    fn log_len(&mut self) -> Result<u64, StorageError> {
        Ok(self.log_len)
    }

    fn log_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let read = self
            .files
            .log
            .read_with_u8_array_and_options(buf, &at(offset))
            .map_err(js_err("read wal.log"))? as usize;
        if read != buf.len() {
            return Err(StorageError::new(format!(
                "read {read} of {} log bytes at {offset}",
                buf.len()
            )));
        }
        Ok(())
    }

    fn log_append(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        write_at(&self.files.log, bytes, self.log_len)?;
        self.log_len += bytes.len() as u64;
        if self.log_len >= self.file_len {
            // Written, not just sized: growing a file by truncation leaves a hole, whose
            // blocks would still be allocated (and the size written) by a later flush.
            let zeros = vec![0u8; wal::LOG_RESERVE_BYTES as usize];
            write_at(&self.files.log, &zeros, self.log_len)?;
            self.file_len = self.log_len + wal::LOG_RESERVE_BYTES;
        }
        Ok(())
    }

    fn log_sync(&mut self) -> Result<(), StorageError> {
        self.files.log.flush().map_err(js_err("flush wal.log"))?;
        self.synced_len = self.log_len;
        Ok(())
    }

    fn log_truncate(&mut self, len: u64) -> Result<(), StorageError> {
        self.files
            .log
            .truncate_with_f64(len as f64)
            .map_err(js_err("truncate wal.log"))?;
        self.files.log.flush().map_err(js_err("flush wal.log"))?;
        self.log_len = len;
        self.file_len = len;
        self.synced_len = self.synced_len.min(len);
        Ok(())
    }

    fn snapshot_read(&mut self) -> Result<Option<SnapshotBytes>, StorageError> {
        let [first, second] = &self.files.slots;
        let bytes = [read_all(first)?, read_all(second)?];
        // The core's two-slot rule: the whole slot with the highest sequence number, else a
        // damaged one for recovery to judge (it refuses it unless the log was never trimmed).
        self.current_slot = slots::choose([&bytes[0], &bytes[1]]);
        let Some(slot) = self.current_slot else {
            return Ok(None);
        };
        let [first, second] = bytes;
        Ok(Some(Box::new(if slot == 0 { first } else { second })))
    }

    fn snapshot_replace(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        let slot = self.next_slot();
        self.write_slot(slot, bytes)?;
        self.flush_slot(slot)
    }
}
