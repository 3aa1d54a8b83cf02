//! The `tsuchi` binary: everything is in the library; see `tsuchi::cli`.

/// `check` and `send` allocate many small strings per row on one thread and free them on
/// another; mimalloc does this much faster than the system allocator. It is built without
/// transparent huge pages (the `no_thp` feature), which would inflate the resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its position in `mi_option_e` (mimalloc.h), which the
/// bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Return freed memory to the system at once, as the system allocator does with large
    // blocks, instead of a second later: otherwise every table outgrown while reading the list
    // stays resident, and a million-row `check` peaks a third higher.
    // SAFETY: sets an option's value, which mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    std::process::exit(tsuchi::cli::main());
}
