//! kwrun: a local stand-in for `kwctl run` / `kwctl annotate` that runs a
//! waPC Kubewarden policy with wasmtime and serves the Kubewarden host
//! capabilities with real Sigstore verification.

use kwrun::{annotate, cli, run};
use std::process::ExitCode;

use cli::Command;
use run::RunOutcome;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprint!("{message}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help(text) => return print_line(&text),
        Command::Version => return print_line(&format!("kwrun {}", env!("CARGO_PKG_VERSION"))),
        Command::Annotate(options) => annotate::annotate(&options).map(|()| ExitCode::SUCCESS),
        Command::HostCall(options) => {
            run::host_call(&options).map(|response| print_line(&String::from_utf8_lossy(&response)))
        }
        Command::Run(options) => run::run(&options).and_then(|outcome| match outcome {
            RunOutcome::InvalidSettings(message) => {
                // kwctl's exact wording, `Error: ` prefix included.
                eprintln!("Error: Provided settings are not valid: {message}");
                Ok(ExitCode::from(1))
            }
            RunOutcome::Evaluated(response) => Ok(print_line(&serde_json::to_string(&response)?)),
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("Error: {e:#}");
        ExitCode::from(1)
    })
}

/// Prints one line of output. A reader that went away (`kwrun … | head -c1`) is not an error
/// worth a panic: the output was simply not wanted.
fn print_line(text: &str) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}
