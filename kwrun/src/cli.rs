//! The command line, shaped like kwctl's so the same e2e tests drive either tool: `kwrun run`,
//! `kwrun annotate`, and `kwrun host-call` (a debugging aid). Parsed with clap; the parsed
//! arguments become plain option structs the commands take.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::annotate::AnnotateOptions;
use crate::capability_catalog::AllowList;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(RunOptions),
    Annotate(AnnotateOptions),
    HostCall(HostCallOptions),
    /// The help text to print.
    Help(String),
    Version,
}

/// Where the policy settings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsSource {
    None,
    YamlFile(PathBuf),
    Json(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub policy: PathBuf,
    /// A path, or `-` for stdin.
    pub request: String,
    pub settings: SettingsSource,
    pub host: HostOptions,
    /// Wall-clock timeout on each run of policy code, host calls included.
    pub execution_timeout: Duration,
    /// Keep compiled modules in the user's cache dir (kwctl's `--disable-wasmtime-cache`
    /// turns that off).
    pub module_cache: bool,
}

/// How the host capabilities reach registries and what they trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    pub sources: Option<PathBuf>,
    pub sigstore_trust_config: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    /// `--allowed-host-capabilities`; kwctl's default `*`.
    pub allowed_capabilities: AllowList,
}

/// One host capability call, answered without a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCallOptions {
    pub binding: String,
    pub namespace: String,
    pub operation: String,
    /// A path, or `-` for stdin.
    pub payload: String,
    pub host: HostOptions,
}

#[derive(Parser, Debug)]
#[command(
    name = "kwrun",
    version,
    about = "A local stand-in for kwctl: runs and annotates waPC Kubewarden policies with real Sigstore host capabilities"
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Evaluate one admission request with a policy and print the AdmissionResponse JSON (as
    /// kwctl run). Exit 0 when evaluated (accepted or rejected), 1 when the policy refuses its
    /// settings or kwrun fails.
    Run(RunArgs),
    /// Check metadata.yml as Kubewarden hosts read it and embed it, with the policy's protocol
    /// version and a usage text, into a copy of the module (as kwctl annotate); warns when
    /// hostCapabilities differ from what the module calls.
    Annotate(AnnotateArgs),
    /// Serve one host capability call without a policy and print the answer (debugging aid),
    /// e.g. `kwrun host-call kubewarden oci v1/manifest_digest request.json`.
    HostCall(HostCallArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// AdmissionRequest or AdmissionReview JSON; - for stdin
    #[arg(short = 'r', long = "request-path", value_name = "FILE|-")]
    request: String,
    /// Policy settings, YAML or JSON
    #[arg(
        short = 's',
        long = "settings-path",
        value_name = "FILE",
        conflicts_with = "settings_json"
    )]
    settings_path: Option<PathBuf>,
    /// Policy settings inline
    #[arg(long = "settings-json", value_name = "JSON")]
    settings_json: Option<String>,
    /// Wall-clock timeout on each run of policy code, host calls included
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout, default_value = "10")]
    execution_timeout: Duration,
    /// Compile the module every time instead of reusing the compiled module kept under
    /// $XDG_CACHE_HOME/kwrun/modules (else ~/.cache/kwrun/modules)
    #[arg(long)]
    disable_wasmtime_cache: bool,
    #[command(flatten)]
    host: HostArgs,
    /// The policy module (a path, or file:///path)
    #[arg(value_name = "POLICY.wasm")]
    policy: String,
}

#[derive(Args, Debug)]
struct HostArgs {
    /// kwctl's sources YAML: insecure_sources lists registries reached over plain HTTP
    #[arg(long, value_name = "FILE")]
    sources_path: Option<PathBuf>,
    /// Sigstore ClientTrustConfig JSON: the Fulcio CAs and Rekor keys keyless and logged
    /// signatures are checked against
    #[arg(long, value_name = "FILE")]
    sigstore_trust_config: Option<PathBuf>,
    /// Directory holding a docker config.json with registry credentials (a path to the file
    /// itself works too)
    #[arg(long, value_name = "DIR")]
    docker_config_json_path: Option<PathBuf>,
    /// Capabilities the policy may call: '*' (the default), 'oci/*', 'oci/v1/*' or one such as
    /// 'oci/v2/verify'; given without a value, none
    #[arg(long, value_name = "PATTERN", num_args = 0..)]
    allowed_host_capabilities: Option<Vec<String>>,
}

#[derive(Args, Debug)]
struct AnnotateArgs {
    /// The policy's metadata.yml
    #[arg(short = 'm', long = "metadata-path", value_name = "FILE")]
    metadata: PathBuf,
    /// Markdown shown as the policy's usage
    #[arg(short = 'u', long = "usage-path", value_name = "FILE")]
    usage: Option<PathBuf>,
    /// Where to write the annotated module
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    output: PathBuf,
    /// The policy module
    #[arg(value_name = "POLICY.wasm")]
    policy: String,
}

#[derive(Args, Debug)]
struct HostCallArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Usually kubewarden
    binding: String,
    /// e.g. oci
    namespace: String,
    /// e.g. v1/manifest_digest
    operation: String,
    /// The request payload; - for stdin
    #[arg(value_name = "PAYLOAD_FILE|-")]
    payload: String,
}

/// Reads the command line (without the program name). `Err` is clap's message, usage included.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let cli =
        match Cli::try_parse_from(std::iter::once("kwrun".to_string()).chain(args.iter().cloned()))
        {
            Ok(cli) => cli,
            Err(e) => {
                return match e.kind() {
                    ErrorKind::DisplayHelp
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                        Ok(Command::Help(e.render().to_string()))
                    }
                    ErrorKind::DisplayVersion => Ok(Command::Version),
                    _ => Err(e.render().to_string()),
                }
            }
        };
    match cli.command {
        Sub::Run(run) => Ok(Command::Run(RunOptions {
            policy: policy_path(&run.policy),
            request: run.request,
            settings: match (run.settings_path, run.settings_json) {
                (Some(path), _) => SettingsSource::YamlFile(path),
                (None, Some(json)) => SettingsSource::Json(json),
                (None, None) => SettingsSource::None,
            },
            host: host_options(run.host)?,
            execution_timeout: run.execution_timeout,
            module_cache: !run.disable_wasmtime_cache,
        })),
        Sub::Annotate(annotate) => Ok(Command::Annotate(AnnotateOptions {
            policy: policy_path(&annotate.policy),
            metadata: annotate.metadata,
            usage: annotate.usage,
            output: annotate.output,
        })),
        Sub::HostCall(call) => Ok(Command::HostCall(HostCallOptions {
            binding: call.binding,
            namespace: call.namespace,
            operation: call.operation,
            payload: call.payload,
            host: host_options(call.host)?,
        })),
    }
}

/// kwctl takes `file:///path` for a local module.
fn policy_path(policy: &str) -> PathBuf {
    PathBuf::from(policy.strip_prefix("file://").unwrap_or(policy))
}

fn host_options(host: HostArgs) -> Result<HostOptions, String> {
    Ok(HostOptions {
        sources: host.sources_path,
        sigstore_trust_config: host.sigstore_trust_config,
        docker_config: host.docker_config_json_path,
        allowed_capabilities: match host.allowed_host_capabilities {
            None => AllowList::default(),
            Some(patterns) => AllowList::parse(&patterns).map_err(|e| format!("{e:#}"))?,
        },
    })
}

/// Whole seconds, as policy-server's `--policy-timeout`; zero would stop every policy before it
/// starts, so it is refused rather than read as "no timeout".
fn parse_timeout(seconds: &str) -> Result<Duration, String> {
    match seconds.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!(
            "must be a positive whole number of seconds, got {seconds:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution_timeout::DEFAULT_EXECUTION_TIMEOUT;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn run_with_every_option() {
        let command = parse(&args(
            "run --request-path req.json --settings-path s.yml --sources-path src.yml \
             --sigstore-trust-config trust.json --docker-config-json-path cfg.json \
             --allowed-host-capabilities oci/* crypto/v1/is_certificate_trusted \
             --execution-timeout 3 policy.wasm",
        ))
        .unwrap();
        assert_eq!(
            command,
            Command::Run(RunOptions {
                policy: "policy.wasm".into(),
                request: "req.json".into(),
                settings: SettingsSource::YamlFile("s.yml".into()),
                host: HostOptions {
                    sources: Some("src.yml".into()),
                    sigstore_trust_config: Some("trust.json".into()),
                    docker_config: Some("cfg.json".into()),
                    allowed_capabilities: AllowList::parse(&[
                        "oci/*".into(),
                        "crypto/v1/is_certificate_trusted".into()
                    ])
                    .unwrap(),
                },
                execution_timeout: Duration::from_secs(3),
                module_cache: true,
            })
        );
    }

    #[test]
    fn run_accepts_stdin_inline_values_and_file_uris() {
        let Command::Run(options) = parse(&args(
            "run -r - --settings-json={\"a\":1} file:///tmp/p.wasm",
        ))
        .unwrap() else {
            panic!("not a run command");
        };
        assert_eq!(options.request, "-");
        assert_eq!(options.settings, SettingsSource::Json("{\"a\":1}".into()));
        assert_eq!(options.policy, PathBuf::from("/tmp/p.wasm"));
        assert_eq!(options.execution_timeout, DEFAULT_EXECUTION_TIMEOUT);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let cases = [
            ("run policy.wasm", "--request-path <FILE|->"),
            ("run -r r.json", "<POLICY.wasm>"),
            (
                "run -r r.json a.wasm b.wasm",
                "unexpected argument 'b.wasm'",
            ),
            (
                "run -r r.json --settings-path s --settings-json {} p.wasm",
                "cannot be used with",
            ),
            (
                "run -r r.json --frobnicate p.wasm",
                "unexpected argument '--frobnicate'",
            ),
            (
                "run -r r.json -r s.json p.wasm",
                "cannot be used multiple times",
            ),
            ("run -r", "a value is required"),
            (
                "run -r r.json --execution-timeout 0 p.wasm",
                "must be a positive whole number",
            ),
            (
                "run -r r.json --execution-timeout=1.5 p.wasm",
                "must be a positive whole number",
            ),
            (
                "run -r r.json --allowed-host-capabilities oci* -- p.wasm",
                "wildcard '*' must be the entire last path segment",
            ),
            ("frobnicate", "unrecognized subcommand 'frobnicate'"),
        ];
        for (line, expected) in cases {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn help_and_version_are_answers_not_errors() {
        for line in ["--help", "run --help", "annotate -h", "host-call --help"] {
            assert!(
                matches!(parse(&args(line)), Ok(Command::Help(text)) if text.contains("Usage:")),
                "{line}"
            );
        }
        assert_eq!(parse(&args("--version")), Ok(Command::Version));
        let Ok(Command::Help(run)) = parse(&args("run --help")) else {
            unreachable!()
        };
        for flag in [
            "--request-path",
            "--settings-json",
            "--allowed-host-capabilities",
            "--disable-wasmtime-cache",
        ] {
            assert!(run.contains(flag), "run --help lacks {flag}");
        }
    }

    /// Every long flag `kwrun --help` lists for any command, as the README must document it.
    #[test]
    fn the_readme_documents_every_flag_help_lists() {
        use clap::CommandFactory;
        let readme = include_str!("../README.md");
        let cli = Cli::command();
        let mut undocumented = Vec::new();
        for command in cli.get_subcommands() {
            for flag in command.get_arguments().filter_map(|a| a.get_long()) {
                if flag != "help" && !readme.contains(&format!("`--{flag}")) {
                    undocumented.push(format!("kwrun {} --{flag}", command.get_name()));
                }
            }
        }
        assert!(
            undocumented.is_empty(),
            "kwrun/README.md does not document {undocumented:?}"
        );
    }

    #[test]
    fn allowed_capabilities_take_several_values_and_none_means_none() {
        let Ok(Command::Run(run)) = parse(&args(
            "run --allowed-host-capabilities oci/v2/verify oci/v1/* -r r.json p.wasm",
        )) else {
            panic!("not a run")
        };
        assert!(run
            .host
            .allowed_capabilities
            .allows("oci", "v1/oci_manifest"));
        assert!(!run
            .host
            .allowed_capabilities
            .allows("crypto", "v1/is_certificate_trusted"));
        let Ok(Command::Run(none)) =
            parse(&args("run --allowed-host-capabilities -r r.json p.wasm"))
        else {
            panic!("not a run")
        };
        assert!(!none.host.allowed_capabilities.allows("oci", "v2/verify"));
    }

    #[test]
    fn host_call_takes_four_positionals() {
        assert_eq!(
            parse(&args(
                "host-call --sources-path s.yml kubewarden oci v2/verify -"
            ))
            .unwrap(),
            Command::HostCall(HostCallOptions {
                binding: "kubewarden".into(),
                namespace: "oci".into(),
                operation: "v2/verify".into(),
                payload: "-".into(),
                host: HostOptions {
                    sources: Some("s.yml".into()),
                    ..HostOptions::default()
                },
            })
        );
        assert!(parse(&args("host-call kubewarden oci")).is_err());
    }

    #[test]
    fn annotate_options() {
        assert_eq!(
            parse(&args(
                "annotate -m metadata.yml -u README.md -o out.wasm policy.wasm"
            ))
            .unwrap(),
            Command::Annotate(AnnotateOptions {
                policy: "policy.wasm".into(),
                metadata: "metadata.yml".into(),
                usage: Some("README.md".into()),
                output: "out.wasm".into(),
            })
        );
    }
}
