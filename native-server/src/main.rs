//! The `sutra` command.

fn main() {
    std::process::exit(sutra_server::cli::main());
}
