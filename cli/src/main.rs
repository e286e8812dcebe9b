fn main() {
    std::process::exit(pharmforge_cli::main_with_args(std::env::args_os()));
}
