//! The `tsuchi` binary: everything is in the library; see `tsuchi::cli`.

/// `check` and `send` allocate many small strings per row on one thread and free them on
/// another; mimalloc does this much faster than the system allocator. It is built without
/// transparent huge pages (the `no_thp` feature), which would inflate the resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(tsuchi::cli::main());
}
