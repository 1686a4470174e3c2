//! The command line, shaped like kwctl's so the same e2e tests drive either
//! tool: `kwrun run ...` and `kwrun annotate ...`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use crate::annotate::AnnotateOptions;
use crate::capability_catalog::AllowList;
use crate::execution_limit::DEFAULT_EXECUTION_TIMEOUT;

pub const USAGE: &str = "\
usage:
  kwrun run --request-path FILE|- [--settings-path FILE | --settings-json JSON]
            [--sources-path FILE] [--sigstore-trust-config FILE]
            [--docker-config-json-path FILE] [--execution-timeout SECONDS]
            [--allowed-host-capabilities PATTERN...] [--disable-wasmtime-cache]
            POLICY.wasm
  kwrun annotate -m METADATA.yml [-u README.md] -o OUT.wasm POLICY.wasm
  kwrun host-call [--sources-path FILE] [--sigstore-trust-config FILE]
            [--docker-config-json-path FILE] BINDING NAMESPACE OPERATION PAYLOAD_FILE|-
            (debugging aid: serve one host capability call without a policy)
  kwrun --version
Each command takes --help.";

const HOST_FLAGS_HELP: &str = "\
  --sources-path FILE            kwctl's sources YAML: insecure_sources lists registries
                                 reached over plain HTTP (host or host:port)
  --sigstore-trust-config FILE   Sigstore ClientTrustConfig JSON: Fulcio CAs and Rekor keys
                                 that keyless and logged signatures are checked against
  --docker-config-json-path DIR  directory holding a docker config.json with registry
                                 credentials (a path to the file itself works too)
  --allowed-host-capabilities PATTERN...
                                 capabilities the policy may call: '*' (default), 'oci/*',
                                 'oci/v1/*' or one such as 'oci/v2/verify'";

pub const RUN_HELP: &str = "\
kwrun run: evaluate one admission request with a policy, printing the AdmissionResponse JSON
(as kwctl run does). Exit 0 when evaluated (accepted or rejected), 1 when the policy refuses
its settings or kwrun fails.

usage: kwrun run --request-path FILE|- [OPTIONS] POLICY.wasm

  -r, --request-path FILE|-      AdmissionRequest or AdmissionReview JSON; - for stdin
  -s, --settings-path FILE       policy settings, YAML or JSON
  --settings-json JSON           policy settings inline (exclusive with --settings-path)
  --execution-timeout SECONDS    wall-clock limit on each run of policy code (default 10)
  --disable-wasmtime-cache       compile the module every time instead of reusing the
                                 compiled module kept under ~/.cache/kwrun";

pub const ANNOTATE_HELP: &str = "\
kwrun annotate: check metadata.yml as Kubewarden hosts read it and embed it, with the policy's
protocol version and an optional usage text, into a copy of the module (as kwctl annotate).
Warns when metadata's hostCapabilities differ from the capabilities the module calls.

usage: kwrun annotate -m METADATA.yml [-u README.md] -o OUT.wasm POLICY.wasm

  -m, --metadata-path FILE       the policy's metadata.yml
  -u, --usage-path FILE          markdown shown as the policy's usage
  -o, --output-path FILE         where to write the annotated module";

pub const HOST_CALL_HELP: &str = "\
kwrun host-call: serve one host capability call without a policy and print the answer (a
debugging aid), e.g. kwrun host-call kubewarden oci v1/manifest_digest request.json

usage: kwrun host-call [OPTIONS] BINDING NAMESPACE OPERATION PAYLOAD_FILE|-";

/// A command's help: its own text and the host options every command shares.
pub fn command_help(text: &str, with_host_flags: bool) -> String {
    if with_host_flags {
        format!("{text}\n\nhost options:\n{HOST_FLAGS_HELP}")
    } else {
        text.to_string()
    }
}

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
    /// Wall-clock limit on each run of policy code, host calls included.
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
    /// `--allowed-host-capabilities`, repeatable; kwctl's default `*`.
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

const HOST_FLAGS: [&str; 4] = [
    "--sources-path",
    "--sigstore-trust-config",
    "--docker-config-json-path",
    "--allowed-host-capabilities",
];

/// Flags that take no value.
const SWITCHES: [&str; 1] = ["--disable-wasmtime-cache"];

/// Flags that take several values (`--flag a b c`, as clap's `num_args(0..)`) or repeat.
const MULTI_VALUE_FLAGS: [&str; 1] = ["--allowed-host-capabilities"];

/// Splits `--flag=value` and `--flag value` into (flag, value) pairs plus
/// positional arguments.
struct Args {
    flags: Vec<(String, String)>,
    positional: Vec<String>,
}

fn split_args(args: &[String], value_flags: &[&str]) -> Result<Args> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-" || !arg.starts_with('-') {
            positional.push(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        if SWITCHES.contains(&name) && value_flags.contains(&name) {
            if inline.is_some() {
                bail!("option {name} takes no value");
            }
            flags.push((name.to_string(), String::new()));
            continue;
        }
        if !value_flags.contains(&name) {
            bail!("unknown option {name}");
        }
        let value = match inline {
            Some(value) => value,
            None => iter
                .next()
                .cloned()
                .ok_or_else(|| anyhow!("option {name} needs a value"))?,
        };
        flags.push((name.to_string(), value));
        // Like kwctl's, a multi-value flag takes every value up to the next option.
        if MULTI_VALUE_FLAGS.contains(&name) {
            while let Some(more) = iter.as_slice().first().filter(|a| !a.starts_with('-')) {
                flags.push((name.to_string(), more.clone()));
                iter.next();
            }
        }
    }
    Ok(Args { flags, positional })
}

impl Args {
    /// Every value of a repeatable flag, in order.
    fn take_all(&mut self, name: &str) -> Vec<String> {
        let (taken, rest): (Vec<_>, Vec<_>) = self.flags.drain(..).partition(|(n, _)| n == name);
        self.flags = rest;
        taken.into_iter().map(|(_, value)| value).collect()
    }

    /// The value of the flag known by any of `names`; given twice is an error.
    fn take(&mut self, names: &[&str]) -> Result<Option<String>> {
        let mut found: Option<String> = None;
        let mut rest = Vec::new();
        for (name, value) in self.flags.drain(..) {
            if names.contains(&name.as_str()) {
                if found.is_some() {
                    bail!("option {} given more than once", names[0]);
                }
                found = Some(value);
            } else {
                rest.push((name, value));
            }
        }
        self.flags = rest;
        Ok(found)
    }

    fn one_policy(&self) -> Result<PathBuf> {
        match self.positional.as_slice() {
            [policy] => Ok(PathBuf::from(
                policy.strip_prefix("file://").unwrap_or(policy),
            )),
            [] => bail!("missing the policy .wasm path"),
            _ => bail!("expected one policy path, got {:?}", self.positional),
        }
    }
}

pub fn parse(args: &[String]) -> Result<Command> {
    match args.first().map(String::as_str) {
        Some(command) if args[1..].iter().any(|a| a == "--help" || a == "-h") => match command {
            "run" => Ok(Command::Help(command_help(RUN_HELP, true))),
            "annotate" => Ok(Command::Help(command_help(ANNOTATE_HELP, false))),
            "host-call" => Ok(Command::Help(command_help(HOST_CALL_HELP, true))),
            other => bail!("unknown command {other:?}"),
        },
        Some("run") => parse_run(&args[1..]).map(Command::Run),
        Some("annotate") => parse_annotate(&args[1..]).map(Command::Annotate),
        Some("host-call") => parse_host_call(&args[1..]).map(Command::HostCall),
        Some("-h" | "--help" | "help") => Ok(Command::Help(USAGE.to_string())),
        Some("-V" | "--version") => Ok(Command::Version),
        Some(other) => bail!("unknown command {other:?}"),
        None => bail!("missing command"),
    }
}

fn parse_run(args: &[String]) -> Result<RunOptions> {
    let mut flags = vec![
        "-r",
        "--request-path",
        "-s",
        "--settings-path",
        "--settings-json",
        "--execution-timeout",
        "--disable-wasmtime-cache",
    ];
    flags.extend(HOST_FLAGS);
    let mut args = split_args(args, &flags)?;
    let request = args
        .take(&["--request-path", "-r"])?
        .ok_or_else(|| anyhow!("--request-path is required"))?;
    let settings = match (
        args.take(&["--settings-path", "-s"])?,
        args.take(&["--settings-json"])?,
    ) {
        (Some(_), Some(_)) => bail!("--settings-path and --settings-json are mutually exclusive"),
        (Some(path), None) => SettingsSource::YamlFile(path.into()),
        (None, Some(json)) => SettingsSource::Json(json),
        (None, None) => SettingsSource::None,
    };
    let execution_timeout = match args.take(&["--execution-timeout"])? {
        Some(seconds) => parse_timeout(&seconds)?,
        None => DEFAULT_EXECUTION_TIMEOUT,
    };
    let module_cache = args.take(&["--disable-wasmtime-cache"])?.is_none();
    Ok(RunOptions {
        request,
        settings,
        execution_timeout,
        module_cache,
        host: host_options(&mut args)?,
        policy: args.one_policy()?,
    })
}

/// Whole seconds, as policy-server's `--policy-timeout`; zero would stop
/// every policy before it starts, so it is refused rather than read as
/// "no limit".
fn parse_timeout(seconds: &str) -> Result<Duration> {
    match seconds.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => {
            bail!("--execution-timeout must be a positive whole number of seconds, got {seconds:?}")
        }
    }
}

fn host_options(args: &mut Args) -> Result<HostOptions> {
    Ok(HostOptions {
        sources: args.take(&["--sources-path"])?.map(PathBuf::from),
        sigstore_trust_config: args.take(&["--sigstore-trust-config"])?.map(PathBuf::from),
        docker_config: args
            .take(&["--docker-config-json-path"])?
            .map(PathBuf::from),
        allowed_capabilities: match args.take_all("--allowed-host-capabilities") {
            patterns if patterns.is_empty() => AllowList::default(),
            patterns => AllowList::parse(&patterns)?,
        },
    })
}

fn parse_host_call(args: &[String]) -> Result<HostCallOptions> {
    let mut args = split_args(args, &HOST_FLAGS)?;
    let host = host_options(&mut args)?;
    match <[String; 4]>::try_from(std::mem::take(&mut args.positional)) {
        Ok([binding, namespace, operation, payload]) => Ok(HostCallOptions {
            binding,
            namespace,
            operation,
            payload,
            host,
        }),
        Err(positional) => {
            bail!("expected BINDING NAMESPACE OPERATION PAYLOAD_FILE, got {positional:?}")
        }
    }
}

fn parse_annotate(args: &[String]) -> Result<AnnotateOptions> {
    let mut args = split_args(
        args,
        &[
            "-m",
            "--metadata-path",
            "-u",
            "--usage-path",
            "-o",
            "--output-path",
        ],
    )?;
    Ok(AnnotateOptions {
        metadata: args
            .take(&["--metadata-path", "-m"])?
            .ok_or_else(|| anyhow!("--metadata-path is required"))?
            .into(),
        usage: args.take(&["--usage-path", "-u"])?.map(PathBuf::from),
        output: args
            .take(&["--output-path", "-o"])?
            .ok_or_else(|| anyhow!("--output-path is required"))?
            .into(),
        policy: args.one_policy()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("run policy.wasm", "--request-path is required"),
            ("run -r r.json", "missing the policy"),
            ("run -r r.json a.wasm b.wasm", "expected one policy path"),
            (
                "run -r r.json --settings-path s --settings-json {} p.wasm",
                "mutually exclusive",
            ),
            (
                "run -r r.json --frobnicate p.wasm",
                "unknown option --frobnicate",
            ),
            ("run -r r.json -r s.json p.wasm", "more than once"),
            ("run -r", "needs a value"),
            (
                "run -r r.json --execution-timeout 0 p.wasm",
                "must be a positive whole number",
            ),
            (
                "run -r r.json --execution-timeout=1.5 p.wasm",
                "must be a positive whole number",
            ),
            (
                "run -r r.json --execution-timeout -3 p.wasm",
                "must be a positive whole number",
            ),
            ("annotate -m m.yml p.wasm", "--output-path is required"),
            ("verify p.wasm", "unknown command"),
        ];
        for (line, expected) in cases {
            let err = parse(&args(line)).unwrap_err().to_string();
            assert!(err.contains(expected), "{line}: {err}");
        }
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
