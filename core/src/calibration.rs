//! Turning a cosine similarity into what people see: a same-person decision at a documented
//! threshold and a calibrated score in [0, 1].
//!
//! The threshold comes from the labelled photos (1830 pairs of 61 photos of 13 people, MTCNN +
//! fr_feature BGR): at cosine 0.45 no different-person pair was accepted above 0.06 % and no
//! same-person pair was rejected; errors only occur between 0.35 and 0.55. The score is a logistic
//! curve centred on the threshold whose slope maps that band to 5 %…95 %. `tests/accuracy.rs`
//! re-measures AUC and the error rates at this threshold on every CI run.

/// Cosine similarity at and above which two faces are called the same person.
pub const SAME_PERSON_COSINE: f32 = 0.45;

/// Slope of the logistic: ln(19) / 0.10, so cosine 0.35 → 5 % and 0.55 → 95 %.
pub const LOGISTIC_SLOPE: f32 = 29.444_39;

/// Calibrated probability that two faces with this cosine similarity are the same person.
#[must_use]
pub fn same_person_score(cosine: f32) -> f32 {
    1.0 / (1.0 + (-LOGISTIC_SLOPE * (cosine - SAME_PERSON_COSINE)).exp())
}

/// Whether the cosine similarity passes the same-person threshold.
#[must_use]
pub fn is_same_person(cosine: f32) -> bool {
    cosine >= SAME_PERSON_COSINE
}

/// Area under the ROC curve of `same` vs `different` scores (ties count one half).
#[must_use]
pub fn roc_auc(same: &[f32], different: &[f32]) -> f64 {
    if same.is_empty() || different.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0f64;
    for &s in same {
        for &d in different {
            wins += if s > d {
                1.0
            } else if (s - d).abs() < f32::EPSILON {
                0.5
            } else {
                0.0
            };
        }
    }
    let n = (same.len() * different.len()) as f64;
    wins / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_centred_and_monotonic() {
        assert!((same_person_score(SAME_PERSON_COSINE) - 0.5).abs() < 1e-6);
        assert!((same_person_score(0.35) - 0.05).abs() < 1e-3);
        assert!((same_person_score(0.55) - 0.95).abs() < 1e-3);
        let xs = [-1.0, 0.0, 0.3, 0.45, 0.6, 1.0];
        assert!(
            xs.windows(2)
                .all(|w| same_person_score(w[0]) < same_person_score(w[1]))
        );
        assert!(is_same_person(0.45) && !is_same_person(0.449));
    }

    #[test]
    fn auc_of_separated_and_mixed_scores() {
        assert!((roc_auc(&[0.9, 0.8], &[0.1, 0.2]) - 1.0).abs() < 1e-12);
        assert!((roc_auc(&[0.5], &[0.5]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[0.1], &[0.9]) - 0.0).abs() < 1e-12);
        assert!(roc_auc(&[], &[0.1]).is_nan());
    }
}
