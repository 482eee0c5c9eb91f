//! Text and JSON rendering of analyses for the command line.

use std::path::Path;

use facelens_core::api::{Analysis, BoxPx, Match, PointPx};
use serde::Serialize;

/// `facelens analyze --json` output: one document per image (schema in docs/json.md).
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The file analysed.
    pub file: String,
    /// The analysis.
    #[serde(flatten)]
    pub analysis: &'a Analysis,
}

impl<'a> JsonReport<'a> {
    /// Wraps an analysis with its file name.
    #[must_use]
    pub fn new(path: &Path, analysis: &'a Analysis) -> Self {
        Self {
            file: path.display().to_string(),
            analysis,
        }
    }
}

/// `(x1, y1)-(x2, y2)` with whole pixels.
#[must_use]
pub fn box_text(b: &BoxPx) -> String {
    format!("({:.0}, {:.0})-({:.0}, {:.0})", b.x1, b.y1, b.x2, b.y2)
}

fn pt(p: PointPx) -> String {
    format!("({:.0}, {:.0})", p.x, p.y)
}

/// Prints gallery matches, indented.
pub fn print_matches(matches: &[Match]) {
    if matches.is_empty() {
        outln!("    no gallery matches");
    }
    for m in matches {
        outln!(
            "    {:<24} score {:.2} (cosine {:.3}){}",
            m.name,
            m.score,
            m.cosine,
            if m.same_person {
                "  ← same person"
            } else {
                ""
            }
        );
    }
}

/// Human-readable report of one image.
/// One line: the quality score, the head pose and what lowers the score.
#[must_use]
pub fn quality_text(q: &facelens_core::api::Quality) -> String {
    let reasons = if q.reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", q.reasons.join("; "))
    };
    format!(
        "quality {:.2}{}   pose yaw {:+.0}° pitch {:+.0}° roll {:+.0}°{reasons}",
        q.score,
        if q.low { " (low)" } else { "" },
        q.pose.yaw_deg,
        q.pose.pitch_deg,
        q.pose.roll_deg,
    )
}

pub fn print_text(path: &Path, a: &Analysis) {
    outln!(
        "{}: {}x{} px, {} face(s)",
        path.display(),
        a.width_px,
        a.height_px,
        a.faces.len()
    );
    if let Some(r) = &a.no_face_reason {
        outln!("  no face: {r}");
    }
    for (i, f) in a.faces.iter().enumerate() {
        let d = &f.detection;
        let at = &f.attributes;
        outln!(
            "  face {} box {} score {:.3}",
            i + 1,
            box_text(&d.bbox),
            d.score
        );
        outln!(
            "    eyes L {} R {}",
            pt(d.landmarks.eye_left),
            pt(d.landmarks.eye_right)
        );
        let head: Vec<String> = f
            .embedding
            .iter()
            .take(4)
            .map(|v| format!("{v:+.3}"))
            .collect();
        outln!(
            "    embedding {}-d [{}, …]",
            f.embedding.len(),
            head.join(", ")
        );
        outln!(
            "    age {:.0} ± {:.0} y   gender {} (P(male) {:.2})",
            at.age.years,
            at.age.std_years,
            at.gender.label,
            at.gender.male_probability
        );
        let top3 = |v: &[facelens_core::api::LabelProb]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| b.probability.total_cmp(&a.probability));
            v.iter()
                .take(3)
                .map(|l| format!("{} {:.2}", l.label, l.probability))
                .collect::<Vec<_>>()
                .join(", ")
        };
        outln!("    race {}", top3(&at.race));
        outln!("    emotion {}", top3(&at.emotion));
        if let Some(q) = &f.quality {
            outln!("    {}", quality_text(q));
        }
        if !f.matches.is_empty() {
            print_matches(&f.matches);
        }
    }
    let t = &a.timings;
    outln!(
        "  ms: decode {:.1}  detect {:.1}  align {:.1}  embed {:.1}  analyse {:.1}  search {:.1}  total {:.1}",
        t.decode_ms,
        t.detect_ms,
        t.align_ms,
        t.embed_ms,
        t.analyze_ms,
        t.search_ms,
        t.total_ms
    );
}
