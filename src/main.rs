//! The `tsuchi` binary: everything is in the library; see `tsuchi::cli`.

fn main() {
    std::process::exit(tsuchi::cli::main());
}
