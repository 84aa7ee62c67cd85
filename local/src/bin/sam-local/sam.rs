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

/// How long one `sam local invoke` may take (about 3 s under qemu; the functions' own timeouts
/// are 10 to 120 s).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(180);

/// One function of the template.
#[derive(Debug, Clone)]
pub struct Function {
    /// The logical id (`BookingsFunction`), which `sam local invoke` takes.
    pub logical_id: String,
    /// The variables the template declares for it (the Globals' and its own), with their
    /// values as `sam build` wrote them (a string, or an intrinsic such as `{"Ref": ...}`).
    pub declared: BTreeMap<String, Value>,
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
                },
            );
        }
        Ok(Self { doc, functions })
    }

    /// Writes the template these runs use to `out`: the built one, with each function's code
    /// found where `sam build` put it, and the local-only variables (`local_only`) declared
    /// (empty: their values are in the env-vars file). Nothing else changes: no value of the
    /// template, no property, no resource.
    pub fn write_for_local_runs(&self, built: &Path, out: &Path) -> Result<(), String> {
        let build_dir = std::fs::canonicalize(built.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", built.display()))?;
        let mut doc = self.doc.clone();
        for function in self.functions.values() {
            let props = &mut doc["Resources"][&function.logical_id]["Properties"];
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

    pub async fn invoke(&self, logical_id: &str, event: &Path) -> Result<Invoked, String> {
        let started = Instant::now();
        let run = self
            .command()
            .args(self.invoke_args(logical_id, event))
            .output();
        let out = tokio::time::timeout(INVOKE_TIMEOUT, run)
            .await
            .map_err(|_| format!("sam local invoke {logical_id} took over {INVOKE_TIMEOUT:?}"))?
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
