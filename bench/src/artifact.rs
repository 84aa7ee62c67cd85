//! The binaries as files: their size, the size of the zip Lambda would be given, and when they
//! were built.

use std::path::Path;

/// Size of the file, and (unless `python` is `None`) of a deflated zip holding it as
/// `bootstrap`, which is what Lambda is given.
pub fn sizes(
    binary: &Path,
    zip_dir: &Path,
    python: Option<&Path>,
) -> Result<(u64, Option<u64>), String> {
    let size = std::fs::metadata(binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let Some(python) = python else {
        return Ok((size, None));
    };
    std::fs::create_dir_all(zip_dir).map_err(|e| format!("{}: {e}", zip_dir.display()))?;
    let zip = zip_dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let status = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    \
                 z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(&zip)
        .arg(binary)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!("zipping {} failed", binary.display()));
    }
    let zipped = std::fs::metadata(&zip)
        .map_err(|e| format!("{}: {e}", zip.display()))?
        .len();
    Ok((size, Some(zipped)))
}

pub fn modified(path: &Path) -> Option<u64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}
