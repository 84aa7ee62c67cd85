//! One run of the benchmark, step by step: check the binaries are there, start and seed the
//! backends, measure every binary, then size the binaries and report, variant by variant.

use std::path::{Path, PathBuf};

use crate::artifact;
use crate::capacity;
use crate::cli::{binary_of, workspace_root, Options, FUNCTIONS};
use crate::measure::{self, Measured, Target, WARM_BLOCK};
use crate::provenance;
use crate::report::{self, Row, RunInfo};
use crate::setup::{self, Seeds};

/// The floor: a `lambda_runtime` hello-world, which the functions' figures are compared to.
const FLOOR: &str = "hello-floor";

/// A build under test: its label (if any) and the folder of its binaries.
type Variant = (Option<String>, PathBuf);

/// Runs the benchmark; false if some binary missed an invocation.
pub async fn run(opts: Options) -> Result<bool, String> {
    let root = workspace_root();
    let work = root.join("target/bench");
    let names = binary_names(&opts);
    let several = !opts.variants.is_empty();
    let variants = variants(&opts);
    check_binaries(&opts, &variants, &names)?;
    let load_before = provenance::loadavg();

    let python = local_stack::default_python();
    let backends = setup::start_backends(&python, opts.dynamo_tls, &work).await?;
    let seeds = setup::seed(&backends.stack, variants.len()).await?;
    let (booking_bytes, capacity) = capacity::measure(&backends.stack, seeds.read_id()).await?;
    let env = setup::lambda_environment(&backends, &opts.extra_env, work.join("logs"));

    let (mut targets, variant_of) = plan(&variants, &names, &seeds, several);
    let mut measured: Vec<Measured> = targets.iter().map(|_| Measured::default()).collect();
    measure::cold_phase(&mut targets, &mut measured, &env, opts.cold).await?;
    eprintln!(
        "bench: {} warm invocations per binary, {WARM_BLOCK} at a time round-robin",
        opts.warmup + 1 + opts.warm
    );
    measure::warm_phase(&mut targets, &mut measured, &env, opts.warmup, opts.warm).await?;
    let load_after = provenance::loadavg();
    drop(backends);

    // Zipping 200 MB debug binaries takes longer than the smoke run itself.
    let zip_with = (!opts.smoke).then_some(python.as_path());
    let rows = size_rows(targets, measured, &root, &work, zip_with, several)?;
    let info = RunInfo {
        opts: &opts,
        root: &root,
        several,
        labels: variants.iter().filter_map(|(l, _)| l.clone()).collect(),
        machine: provenance::machine(),
        build: provenance::build_info(&root),
        load_before,
        load_after,
    };
    let per_variant = by_variant(rows, &variant_of, variants.len());
    let mut all_answered = true;
    for ((label, dir), mine) in variants.iter().zip(per_variant) {
        if mine.is_empty() {
            continue;
        }
        all_answered &= report::variant(&info, label, dir, mine)?;
    }
    capacity::print(booking_bytes, &capacity);
    Ok(all_answered)
}

/// The floor, then the functions chosen with `--only` (all by default).
fn binary_names(opts: &Options) -> Vec<String> {
    let mut names: Vec<String> = vec![FLOOR.to_string()];
    names.extend(
        FUNCTIONS
            .iter()
            .filter(|f| opts.only.as_ref().is_none_or(|o| o.iter().any(|x| x == *f)))
            .map(|f| f.to_string()),
    );
    names
}

/// The builds under test: each `--variant`, or else the one in `--bin-dir` (with `--label`).
fn variants(opts: &Options) -> Vec<Variant> {
    if !opts.variants.is_empty() {
        opts.variants
            .iter()
            .map(|(l, d)| (Some(l.clone()), d.clone()))
            .collect()
    } else {
        vec![(opts.label.clone(), opts.bin_dir.clone())]
    }
}

fn check_binaries(opts: &Options, variants: &[Variant], names: &[String]) -> Result<(), String> {
    for bin in variants
        .iter()
        .flat_map(|(_, dir)| names.iter().map(move |n| dir.join(binary_of(n))))
    {
        if !bin.is_file() {
            let how = if opts.smoke { "" } else { "--release " };
            return Err(format!(
                "{} is missing: run `cargo build {how}-p bookings -p create-intent -p webhook` and \
                 `cargo build {how}-p hello-floor` first (or `make bench`)",
                bin.display()
            ));
        }
    }
    Ok(())
}

/// Every binary of every variant, with its workload, variant by variant; and the variant of
/// each.
fn plan(
    variants: &[Variant],
    names: &[String],
    seeds: &Seeds,
    several: bool,
) -> (Vec<Target>, Vec<usize>) {
    let mut targets = Vec::new();
    let mut variant_of = Vec::new();
    for (vi, (label, dir)) in variants.iter().enumerate() {
        for name in names {
            targets.push(Target {
                name: name.clone(),
                display: match label {
                    Some(l) if several => format!("{l}/{name}"),
                    _ => name.clone(),
                },
                binary: dir.join(binary_of(name)),
                workload: seeds.workload(name, vi),
            });
            variant_of.push(vi);
        }
    }
    (targets, variant_of)
}

/// Each target's measurements with the sizes of its binary (and of the arm64 build of the
/// checkout, when there is one).
fn size_rows(
    targets: Vec<Target>,
    measured: Vec<Measured>,
    root: &Path,
    work: &Path,
    zip_with: Option<&Path>,
    several: bool,
) -> Result<Vec<Row>, String> {
    let zips = work.join("zips");
    let mut rows = Vec::new();
    for (target, m) in targets.into_iter().zip(measured) {
        let zip_dir = zips.join(target.display.replace('/', "-"));
        let (size, zip) = artifact::sizes(&target.binary, &zip_dir, zip_with)?;
        let arm64_bin = root
            .join("target/lambda/lambda")
            .join(binary_of(&target.name))
            .join("bootstrap");
        // The arm64 build is of the checkout, not of a variant.
        let arm64 = if !several && target.name != FLOOR && arm64_bin.is_file() {
            Some(artifact::sizes(
                &arm64_bin,
                &zips.join(format!("{}-arm64", target.name)),
                zip_with,
            )?)
        } else {
            None
        };
        rows.push(Row {
            built: artifact::modified(&target.binary),
            arm64_built: arm64.and(artifact::modified(&arm64_bin)),
            name: target.name,
            m,
            size,
            zip,
            arm64,
        });
    }
    Ok(rows)
}

/// The rows of each variant, in the variants' order.
fn by_variant(rows: Vec<Row>, variant_of: &[usize], variants: usize) -> Vec<Vec<Row>> {
    let mut out: Vec<Vec<Row>> = (0..variants).map(|_| Vec::new()).collect();
    for (row, &vi) in rows.into_iter().zip(variant_of) {
        out[vi].push(row);
    }
    out
}
