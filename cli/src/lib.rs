//! `pharmforge`, the command-line client of the PharmForge API: files in,
//! live progress from the event stream, exports out. `main.rs` only calls
//! [`main_with_args`]; everything else is here to be tested.

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod formats;
pub mod models;
pub mod sse;
pub mod table;
pub mod watch;

use clap::Parser;
use error::exit;

/// Parses the arguments, runs the command, reports an error on stderr in
/// one line; returns the process's exit status.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version come this way too.
            return if e.use_stderr() { exit::USAGE } else { exit::COMPLETED };
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(error::CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => exit::ERROR,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
