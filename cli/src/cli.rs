//! The command line, as clap reads it.

use crate::client::Token;
use crate::formats::{ExportFormat, InputFormat};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_STATUS: &str = "\
Exit status:
  0   done (watch, submit --watch: the run completed)
  1   the watched run failed
  2   the watched run was cancelled
  3   the API refused a request or could not be reached, or a file could not be read or written
  64  the command line is wrong";

#[derive(Parser)]
#[command(name = "pharmforge", version, about = "Submit molecules to a PharmForge API, watch the runs, export their results", after_help = EXIT_STATUS)]
pub struct Cli {
    /// The API's base URL (the API listens on port 8000 by default).
    #[arg(long, env = "PHARMFORGE_URL", hide_env_values = true, default_value = "http://127.0.0.1:8000", global = true)]
    pub url: String,

    /// A bearer token for an API with authentication on.
    #[arg(long, env = "PHARMFORGE_TOKEN", hide_env_values = true, global = true, value_parser = parse_token)]
    pub token: Option<Token>,

    /// Machine-readable output: the API's JSON; events as one JSON line each.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

fn parse_token(s: &str) -> Result<Token, String> {
    Token::new(s.to_owned()).ok_or_else(|| "the token is empty".into())
}

#[derive(Subcommand)]
pub enum Command {
    /// Upload a .smi, .csv or .sdf file (optionally .gz) as a new run and print its id.
    Submit(SubmitArgs),
    /// Follow a run's progress until it ends (exit status: see below).
    Watch { run: String },
    /// Write a run's results to a file (CSV, SD file or JSON lines).
    Export(ExportArgs),
    /// List runs, newest first.
    List {
        #[arg(long)]
        status: Option<StatusFilter>,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100))]
        page_size: u64,
    },
    /// Show a run: status, progress, per-stage counts.
    Show { run: String },
    /// Show a run's compound results as a table.
    Results {
        run: String,
        #[arg(long, value_enum, default_value_t = SortOrder::Index)]
        sort: SortOrder,
        /// How many results to show.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
    },
    /// Rank a finished run again under another scoring profile (no adapter runs again).
    Rescore {
        run: String,
        /// A built-in profile's name, or a JSON file holding a profile.
        scoring: String,
    },
    /// List the built-in scoring profiles.
    Profiles,
    /// Cancel a pending or running run.
    Cancel { run: String },
    /// Delete a run and its results.
    Delete { run: String },
}

#[derive(Args)]
pub struct SubmitArgs {
    /// The compound file, or `-` for standard input (then give --format).
    pub file: PathBuf,
    /// The file's format, when its name does not tell (stdin).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Adapters to run, in order (the API's default when not given).
    #[arg(long, value_delimiter = ',')]
    pub adapters: Vec<String>,
    #[arg(long, value_enum)]
    pub priority: Option<Priority>,
    /// A built-in scoring profile to rank the compounds by (`pharmforge profiles` lists them).
    #[arg(long)]
    pub scoring: Option<String>,
    /// The CSV column holding the SMILES.
    #[arg(long)]
    pub smiles_column: Option<String>,
    /// The CSV column holding the compound IDs.
    #[arg(long)]
    pub id_column: Option<String>,
    /// Follow the run's progress until it ends.
    #[arg(long)]
    pub watch: bool,
    /// Watch, then export the results to this file (.csv, .sdf or .jsonl).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    pub run: String,
    /// The file to write; `-` for standard output.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The format, when the file name's extension does not tell (CSV for stdout).
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    #[arg(long, value_enum, default_value_t = SortOrder::Index)]
    pub sort: SortOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// Results in input order (`index`) or best first (`rank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortOrder {
    Index,
    Rank,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl StatusFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Pending => "pending",
            StatusFilter::Running => "running",
            StatusFilter::Completed => "completed",
            StatusFilter::Failed => "failed",
            StatusFilter::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_reads_adapters_as_a_comma_list() {
        let cli = Cli::try_parse_from(["pharmforge", "submit", "x.smi", "--adapters", "rdkit_local,admet_ai", "-o", "out.csv"]).unwrap();
        let Command::Submit(args) = cli.command else { panic!("not submit") };
        assert_eq!(args.adapters, ["rdkit_local", "admet_ai"]);
        assert_eq!(args.output, Some(PathBuf::from("out.csv")));
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from(["pharmforge", "list", "--json", "--url", "http://h:1"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.url, "http://h:1");
    }
}
