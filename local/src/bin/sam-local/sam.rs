//! SAM CLI, as these runs call it: the template it runs (the one `sam build` wrote, plus the
//! declarations of the local-only variables), the values it hands the containers, and the
//! `sam local invoke` / `sam local start-api` commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::process::{Child, Command};

/// What `sam build` wrote (README, "Deploy to AWS", step 3): the template `sam deploy` ships.
pub const BUILT_TEMPLATE: &str = ".aws-sam/build/template.yaml";

/// How much more time a function gets in these runs than on Lambda. Here the arm64 bootstraps
/// run under qemu user emulation, and SAM's timer starts with the container, so the emulated
/// start-up counts too: a CI run with a second build beside it once had 14 of 26 invokes run
/// past the deployed 15 s ("timed out after 15 seconds"). Measured here with one and then two
/// release builds keeping both cores busy (load 2.3 and 5.6), every invoke answered in 2.6 to
/// 6.4 s: three times the deployed timeouts leaves room above that, while a container that
/// dies without answering (SAM then waits out the whole timeout) still costs at most 45 s.
/// Local runs only: the template `sam deploy` ships (`BUILT_TEMPLATE`, template.yaml) keeps its
/// timeouts; only the copy these runs hand SAM ([`Template::write_for_local_runs`]) has these.
pub const EMULATION_FACTOR: u64 = 3;

/// Lambda's largest timeout, which SAM also enforces.
const MAX_TIMEOUT_SECS: u64 = 900;

/// Lambda's default timeout, for a function the template gives none.
const DEFAULT_TIMEOUT_SECS: u64 = 3;

/// How long one `sam local invoke` may take beyond the function's (local) timeout: SAM's own
/// start-up and the container's.
const INVOKE_MARGIN: Duration = Duration::from_secs(120);

/// How many more times an invoke that provably never reached the function is tried.
const NEVER_STARTED_RETRIES: u32 = 2;

/// A deployed timeout as these runs give it.
pub fn local_timeout(deployed_secs: u64) -> u64 {
    (deployed_secs * EMULATION_FACTOR).min(MAX_TIMEOUT_SECS)
}

/// One function of the template.
#[derive(Debug, Clone)]
pub struct Function {
    /// The logical id (`BookingsFunction`), which `sam local invoke` takes.
    pub logical_id: String,
    /// The variables the template declares for it (the Globals' and its own), with their
    /// values as `sam build` wrote them (a string, or an intrinsic such as `{"Ref": ...}`).
    pub declared: BTreeMap<String, Value>,
    /// Its `Timeout` as deployed (its own, else the Globals', else Lambda's default), seconds.
    pub timeout_secs: u64,
}

/// The built template, read.
pub struct Template {
    doc: Value,
    /// By `Metadata.BuildProperties.Binary`, the name `events/expected.json` uses.
    pub functions: BTreeMap<String, Function>,
}

impl Template {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {} ({e}): `sam build` first", path.display()))?;
        // `sam build` writes the long forms (`Ref:`, `Fn::Sub:`), so plain YAML reads it.
        let doc: Value = serde_norway::from_str(&text)
            .map_err(|e| format!("{} is not YAML: {e}", path.display()))?;
        let globals = variables(&doc["Globals"]["Function"]);
        let global_timeout = doc["Globals"]["Function"]["Timeout"].as_u64();
        let mut functions = BTreeMap::new();
        for (logical_id, resource) in doc["Resources"].as_object().into_iter().flatten() {
            if resource["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .ok_or_else(|| format!("{logical_id}: no Metadata.BuildProperties.Binary"))?;
            let mut declared = globals.clone();
            declared.extend(variables(&resource["Properties"]));
            functions.insert(
                binary.to_string(),
                Function {
                    logical_id: logical_id.clone(),
                    declared,
                    timeout_secs: resource["Properties"]["Timeout"]
                        .as_u64()
                        .or(global_timeout)
                        .unwrap_or(DEFAULT_TIMEOUT_SECS),
                },
            );
        }
        Ok(Self { doc, functions })
    }

    /// Writes the template these runs use to `out`: the built one, with each function's code
    /// found where `sam build` put it, the local-only variables (`local_only`) declared
    /// (empty: their values are in the env-vars file), and each function's `Timeout` as
    /// [`local_timeout`] makes it (emulation). Nothing else changes: no other value of the
    /// template, no other property, no resource.
    pub fn write_for_local_runs(&self, built: &Path, out: &Path) -> Result<(), String> {
        let build_dir = std::fs::canonicalize(built.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", built.display()))?;
        let mut doc = self.doc.clone();
        for function in self.functions.values() {
            let props = &mut doc["Resources"][&function.logical_id]["Properties"];
            props["Timeout"] = json!(local_timeout(function.timeout_secs));
            let code = props["CodeUri"].as_str().unwrap_or_default().to_string();
            props["CodeUri"] = json!(build_dir.join(code).to_string_lossy());
            let vars = &mut props["Environment"]["Variables"];
            if !vars.is_object() {
                *vars = json!({});
            }
            for name in local_only(&function.declared) {
                vars[name] = json!("");
            }
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
    }
}

fn variables(props: &Value) -> BTreeMap<String, Value> {
    props["Environment"]["Variables"]
        .as_object()
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The variables a function gets in these runs only, each standing in for where production
/// reads the value: a function that reads a table gets the DynamoDB emulator's endpoint; one
/// that reads the Stripe key from Secrets Manager (`STRIPE_SECRET_ARN`) gets the local key
/// itself, one that reads the signing secrets so (`STRIPE_WEBHOOK_SECRET_ARN`) gets the local
/// secret. The code takes these over the ARNs (shared/src/adapters/stripe). So the webhook
/// never sees the API key here either.
pub fn local_only(declared: &BTreeMap<String, Value>) -> Vec<&'static str> {
    let mut names = Vec::new();
    if declared.keys().any(|k| k.ends_with("_TABLE")) {
        names.push("AWS_ENDPOINT_URL_DYNAMODB");
    }
    if declared.contains_key("STRIPE_SECRET_ARN") {
        names.push("STRIPE_SECRET_KEY");
    }
    if declared.contains_key("STRIPE_WEBHOOK_SECRET_ARN") {
        names.push("STRIPE_WEBHOOK_SECRETS");
    }
    names
}

/// The `--env-vars` file: one set of values for every function (SAM's `Parameters` form).
/// SAM gives a function only the variables the template (here: the one of
/// [`Template::write_for_local_runs`]) declares for it. Every declared variable the template
/// sets from a parameter or a resource must be here: `sam local` cannot resolve those (it
/// would hand the function an empty string or a resource's logical id).
pub fn env_vars_file(
    template: &Template,
    values: &Map<String, Value>,
    out: &Path,
) -> Result<(), String> {
    for (binary, function) in &template.functions {
        for (name, value) in &function.declared {
            if !value.is_string() && !values.contains_key(name) {
                return Err(format!(
                    "{binary}: template.yaml sets {name} from {value}, which sam local cannot resolve: give it a local value in local/src/bin/sam-local/main.rs"
                ));
            }
        }
        for name in local_only(&function.declared) {
            if !values.contains_key(name) {
                return Err(format!("{binary}: no local value for {name}"));
            }
        }
    }
    let text = serde_json::to_string_pretty(&json!({ "Parameters": values }))
        .map_err(|e| e.to_string())?;
    std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Variables SAM CLI itself may need from this environment; it gets no others (below).
const PASSED_THROUGH: [&str; 9] = [
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "TMPDIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
];

pub struct Sam {
    pub exe: PathBuf,
    /// The base image (`--invoke-image`), already on this machine (`--skip-pull-image`).
    pub image: String,
    /// From [`Template::write_for_local_runs`].
    pub template: PathBuf,
    /// From [`env_vars_file`].
    pub env_vars: PathBuf,
}

/// What one `sam local invoke` printed.
pub struct Invoked {
    /// The function's result (stdout: the API Gateway response, or a scheduled run's summary,
    /// or Lambda's `{"errorType": ...}`).
    pub result: Option<Value>,
    pub stdout: String,
    /// SAM's progress and the function's own logs.
    pub stderr: String,
    pub elapsed: Duration,
}

impl Invoked {
    /// SAM got nothing from the container and the function never started (the runtime
    /// interface emulator prints `START RequestId` when it hands the function an invocation).
    fn never_started(&self) -> bool {
        self.result.is_none()
            && self.stderr.contains("No response from invoke container")
            && !self.stderr.contains("START RequestId")
    }
}

impl Sam {
    /// SAM CLI with a clean environment: SAM gives a declared variable the value of the same
    /// name in its own environment (a `RUST_LOG` or `BOOKINGS_TABLE` in the developer's shell),
    /// and hands the machine's AWS credentials (a profile, `AWS_*`) into the containers. These
    /// runs take the template's values and ours, and dummy credentials.
    ///
    /// And every `sam local` command first asks AWS STS who the caller is (for
    /// `AWS::AccountId`; on failure it takes 123456789012): that call goes to a port of
    /// loopback where nothing listens (1, privileged), once, so it fails at once instead of
    /// leaving the machine (offline, it spent 6 s of every invoke in retries).
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.env_clear();
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.envs([
            ("SAM_CLI_TELEMETRY", "0"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ]);
        cmd.kill_on_drop(true).stdin(Stdio::null());
        cmd
    }

    fn common_args(&self) -> Vec<String> {
        [
            "--template",
            &self.template.to_string_lossy(),
            "--env-vars",
            &self.env_vars.to_string_lossy(),
            "--invoke-image",
            &self.image,
            "--skip-pull-image",
        ]
        .map(str::to_string)
        .to_vec()
    }

    pub fn invoke_args(&self, logical_id: &str, event: &Path) -> Vec<String> {
        let mut args = vec![
            "local".to_string(),
            "invoke".into(),
            logical_id.into(),
            "--event".into(),
            event.to_string_lossy().into_owned(),
        ];
        args.extend(self.common_args());
        args
    }

    pub fn start_api_args(&self, port: u16) -> Vec<String> {
        let mut args = vec![
            "local".to_string(),
            "start-api".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ];
        args.extend(self.common_args());
        args
    }

    /// `function`'s timeout is its deployed one (`Function::timeout_secs`); the run gets
    /// [`local_timeout`] of it, and SAM's start-up beyond that.
    ///
    /// On a busy machine the emulated container sometimes never takes the invocation: SAM says
    /// "No response from invoke container" and the runtime interface emulator printed no
    /// `START RequestId` (measured: 1 of 32 invokes with three release builds beside the run;
    /// the function's code never ran, so nothing was changed). Only such an invoke is tried
    /// again, at most [`NEVER_STARTED_RETRIES`] times; any answer the function gave, or a
    /// timeout after it started, is the result.
    pub async fn invoke(&self, function: &Function, event: &Path) -> Result<Invoked, String> {
        let mut invoked = self.invoke_once(function, event).await?;
        for _ in 0..NEVER_STARTED_RETRIES {
            if !invoked.never_started() {
                break;
            }
            eprintln!(
                "sam-local: {} never took the invocation (No response from invoke container, no START); trying again",
                function.logical_id
            );
            invoked = self.invoke_once(function, event).await?;
        }
        Ok(invoked)
    }

    async fn invoke_once(&self, function: &Function, event: &Path) -> Result<Invoked, String> {
        let logical_id = function.logical_id.as_str();
        let limit = Duration::from_secs(local_timeout(function.timeout_secs)) + INVOKE_MARGIN;
        let started = Instant::now();
        let run = self
            .command()
            .args(self.invoke_args(logical_id, event))
            .output();
        let out = tokio::time::timeout(limit, run)
            .await
            .map_err(|_| format!("sam local invoke {logical_id} took over {limit:?}"))?
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // The result is the last line SAM prints on stdout.
        let result = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str(l).ok());
        Ok(Invoked {
            result,
            stdout,
            stderr,
            elapsed,
        })
    }

    /// `sam local start-api` on 127.0.0.1:`port`, its output to `log`; stopped (SIGINT, as
    /// Ctrl-C) by [`stop`].
    pub fn start_api(&self, port: u16, log: &Path) -> Result<Child, String> {
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        self.command()
            .args(self.start_api_args(port))
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))
    }
}

/// Stops a child as Ctrl-C would (SAM then removes its containers), killing it if it has not
/// ended after 20 s.
pub async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the id of our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGINT);
        }
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A command line as one would type it (for the log; arguments here have no quotes in them).
pub fn shell_line(exe: &str, args: &[String]) -> String {
    let mut line = exe.to_string();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains([' ', '"', '{', '$', '&', '?', '*']) {
            line.push('\'');
            line.push_str(arg);
            line.push('\'');
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoked(result: Option<Value>, stderr: &str) -> Invoked {
        Invoked {
            result,
            stdout: String::new(),
            stderr: stderr.into(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn only_an_invoke_that_never_reached_the_function_is_tried_again() {
        let lost = "Mounting ...\nNo response from invoke container for WebhookFunction\nFunction 'WebhookFunction' timed out after 30 seconds\n";
        assert!(invoked(None, lost).never_started());
        // It started: whatever happened after is the function's (a real timeout, a crash).
        let started = format!("START RequestId: 1 Version: $LATEST\n{lost}");
        assert!(!invoked(None, &started).never_started());
        // An answer is an answer.
        assert!(!invoked(Some(serde_json::json!({"statusCode": 200})), lost).never_started());
        assert!(!invoked(
            None,
            "Error: Running AWS SAM projects locally requires Docker."
        )
        .never_started());
    }

    #[test]
    fn local_timeouts_are_three_times_the_deployed_ones_up_to_lambdas_limit() {
        assert_eq!(local_timeout(10), 30);
        assert_eq!(local_timeout(15), 45);
        assert_eq!(local_timeout(120), 360);
        assert_eq!(local_timeout(600), 900);
    }
}
