//! Provisioning progress in words: one line per step, printed by the command line and listed by
//! the window's "Preparing facelens" screen (so neither imports the other).

use facelens_core::provision::ProvisionEvent;

/// One line describing a provisioning step (the CLI prints it; the window shows it).
#[must_use]
pub fn describe_progress(e: &ProvisionEvent) -> String {
    match e {
        ProvisionEvent::Fetching {
            package,
            bytes,
            command,
        } => {
            format!(
                "fetching {package} ({:.1} MB): {command}",
                *bytes as f64 / 1e6
            )
        }
        ProvisionEvent::UsingLocalArchive { path } => {
            format!("using local archive {}", path.display())
        }
        ProvisionEvent::Extracted { file, bytes } => {
            format!("  verified {file} ({:.1} MB)", *bytes as f64 / 1e6)
        }
        ProvisionEvent::Converting { model } => {
            format!("  converting {model} (TFJS graph -> ONNX)")
        }
        ProvisionEvent::Quantizing { model } => {
            format!("  quantising {model} (float -> int8)")
        }
        ProvisionEvent::Converted {
            file,
            bytes,
            millis,
        } => {
            format!(
                "  made and verified {file} ({:.1} MB) in {millis} ms",
                *bytes as f64 / 1e6
            )
        }
        ProvisionEvent::Progress { done, total } => format!("[{done}/{total}] files ready"),
    }
}
