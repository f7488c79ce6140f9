//! What the benchmark binaries share: a minimal HTTP client, and where the server binary is.

pub mod http;

/// The `sutra` binary the process benchmarks run: `SUTRA_BIN`, or `sutra` beside the running
/// benchmark (`target/release/`, or one level up from `deps/`).
pub fn server_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("SUTRA_BIN") {
        return path.into();
    }
    let here = std::env::current_exe().expect("own path");
    let dir = here.parent().expect("directory");
    for candidate in [dir.join("sutra"), dir.join("../sutra")] {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "no sutra binary beside {}: run `cargo build -p sutra-server --release` first, or set SUTRA_BIN",
        here.display()
    );
}
