fn main() {
    std::process::exit(tsuchi::cli::main());
}
