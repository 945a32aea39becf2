//! The `keel` binary: see `keel --help`.

fn main() -> std::process::ExitCode {
    keel::cli::main()
}
