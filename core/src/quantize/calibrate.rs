//! Calibration: the range of every tensor [`super::qdq`] quantises, measured by running the folded
//! float model on the inputs the pipeline built for real faces. The table is a development
//! artefact (`facelens models calibrate <photos>` writes `models/calibration.toml`), compiled in
//! so that provisioning quantises offline and deterministically.

use std::collections::BTreeMap;
use std::path::Path;

use ort::value::Tensor;
use serde::{Deserialize, Serialize};

use super::{Prepared, QuantizeError, WeightBits};
use crate::error::{CoreError, ModelError, ProvisionError};
use crate::models::{RecordedInput, record_inputs};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::provision::ModelStore;
use crate::runtime::{self, SessionOptions};

/// The weights' integer range used by provisioning: 7 bits, exact on every x86 CPU (see
/// [`super::qdq`]).
pub const WEIGHT_BITS: WeightBits = WeightBits::Seven;

/// The table compiled into this binary.
pub const CALIBRATION_TOML: &str = include_str!("../../../models/calibration.toml");

/// Calibrated ranges of every quantised model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    /// By float model id.
    pub models: BTreeMap<String, ModelRanges>,
}

/// One model's calibration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelRanges {
    /// Photos the inputs came from.
    pub photos: usize,
    /// Inputs (faces) the model ran on.
    pub faces: usize,
    /// `[min, max]` of each tensor over all of them.
    pub ranges: BTreeMap<String, [f32; 2]>,
}

impl Table {
    /// The table compiled into this binary.
    ///
    /// # Errors
    /// [`QuantizeError::Table`] when it does not parse (a unit test parses it).
    pub fn embedded() -> Result<Self, QuantizeError> {
        toml::from_str(CALIBRATION_TOML).map_err(|e| QuantizeError::Table(e.to_string()))
    }

    /// The table as the checked-in file's text.
    ///
    /// # Errors
    /// [`QuantizeError::Table`] when it cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String, QuantizeError> {
        let body = toml::to_string(self).map_err(|e| QuantizeError::Table(e.to_string()))?;
        Ok(format!(
            "# Activation ranges of the int8 models, measured on real faces by\n\
             # `facelens models calibrate <photos>` (facelens_core::quantize::calibrate).\n\
             # Provisioning quantises with them; the results' sha256 are pinned in manifest.toml,\n\
             # so a new table needs new pins.\n\n{body}"
        ))
    }
}

/// Widens `[lo, hi]` to cover the finite values of `data`.
fn widen([lo, hi]: &mut [f32; 2], data: &[f32]) {
    for &v in data.iter().filter(|v| v.is_finite()) {
        *lo = lo.min(v);
        *hi = hi.max(v);
    }
}

/// Runs the folded float model `id` on every recorded input of it and returns the range of each
/// tensor to quantise.
///
/// # Errors
/// [`ModelError`] when the model cannot be read, prepared or run.
pub fn model_ranges(
    store: &ModelStore,
    id: &str,
    inputs: &[RecordedInput],
) -> Result<BTreeMap<String, [f32; 2]>, ModelError> {
    let err = |detail: String| ModelError::Ort {
        model: id.to_owned(),
        detail,
    };
    let entry = store.manifest().model(id)?;
    let bytes = crate::models::read_verified(entry, &store.model_path(entry))?;
    let prepared = Prepared::new(&bytes).map_err(|e| err(e.to_string()))?;
    let env = runtime::environment(&store.runtime_path())?;
    let opts = SessionOptions {
        blocked_layout: false,
        ..SessionOptions::default()
    };
    let mut session =
        runtime::session_from_memory(env, id, &prepared.with_tensors_as_outputs(), opts)?;
    let input_name = entry
        .inputs
        .first()
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let mut ranges: BTreeMap<String, [f32; 2]> = prepared
        .tensors
        .iter()
        .map(|t| (t.clone(), [f32::INFINITY, f32::NEG_INFINITY]))
        .collect();
    for input in inputs.iter().filter(|i| i.model == id) {
        let tensor = Tensor::from_array((input.shape.clone(), input.data.clone()))
            .map_err(|e| err(e.to_string()))?;
        let outputs = session
            .run(ort::inputs![input_name.as_str() => tensor])
            .map_err(|e| err(e.to_string()))?;
        for (name, range) in &mut ranges {
            if *name == input_name {
                widen(range, &input.data);
                continue;
            }
            let value = outputs
                .get(name.as_str())
                .ok_or_else(|| err(format!("tensor `{name}` not produced")))?;
            let (_, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| err(e.to_string()))?;
            widen(range, data);
        }
    }
    Ok(ranges)
}

/// Calibrates every model the manifest has an int8 version of on the faces of the photos in
/// `dir`: the float pipeline of `config` analyses each photo (one thread, so every model input is
/// recorded), then [`model_ranges`] runs on the recorded inputs.
///
/// # Errors
/// [`CoreError`] when the pipeline cannot load or a photo cannot be analysed.
pub fn calibrate_photos(config: &PipelineConfig, dir: &Path) -> Result<Table, CoreError> {
    let mut config = config.clone();
    config.session.int8 = false;
    config.attribute_concurrency = Some(false);
    if !dir.is_dir() {
        return Err(CoreError::InvalidRequest(format!(
            "{} is not a folder of photos",
            dir.display()
        )));
    }
    let photos = crate::image_io::image_files(dir);
    let mut pipeline = Pipeline::load(&config, &mut |_| {})?;
    let mut recorded = Vec::new();
    for photo in &photos {
        let (analysed, inputs) = record_inputs(|| pipeline.analyze_file(photo, None));
        analysed?;
        recorded.extend(inputs);
    }
    let store = pipeline.store();
    let mut table = Table::default();
    for float in store
        .manifest()
        .models
        .iter()
        .filter_map(|m| m.quantize.as_ref())
    {
        let id = float.from.as_str();
        let ranges = model_ranges(&store, id, &recorded)?;
        table.models.insert(
            id.to_owned(),
            ModelRanges {
                photos: photos.len(),
                faces: recorded
                    .iter()
                    .filter(|r| r.model == id)
                    .map(|r| r.shape.first().copied().unwrap_or(1))
                    .sum(),
                ranges,
            },
        );
    }
    Ok(table)
}

/// The sha256 and size of each int8 model `table` gives (what the manifest must pin).
///
/// # Errors
/// [`CoreError`] when a float model cannot be read or quantised.
pub fn pins(store: &ModelStore, table: &Table) -> Result<Vec<(String, String, usize)>, CoreError> {
    let mut out = Vec::new();
    for entry in &store.manifest().models {
        let Some(q) = &entry.quantize else { continue };
        let float = store.manifest().model(&q.from)?;
        let bytes = crate::models::read_verified(float, &store.model_path(float))?;
        let int8 = super::quantize_with(table, &q.from, &bytes).map_err(|source| {
            CoreError::Provision(ProvisionError::Quantize {
                model: entry.id.clone(),
                source,
            })
        })?;
        out.push((
            entry.id.clone(),
            crate::provision::sha256_hex(&int8),
            int8.len(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_parses_and_round_trips() {
        let t = Table::embedded().expect("parses");
        let again: Table = toml::from_str(&t.to_toml().expect("writes")).expect("parses again");
        assert_eq!(t.models.len(), again.models.len());
        for (id, m) in &t.models {
            let m2 = &again.models[id];
            assert_eq!(
                m.ranges, m2.ranges,
                "{id}: ranges survive the text form exactly"
            );
            assert!(m.ranges.values().all(|[lo, hi]| lo <= hi), "{id}");
        }
        // Every int8 model of the manifest has its float model calibrated.
        let manifest = crate::manifest::Manifest::embedded();
        for q in manifest.models.iter().filter_map(|m| m.quantize.as_ref()) {
            assert!(
                t.models.contains_key(&q.from),
                "{} is not calibrated",
                q.from
            );
        }
    }
}
