//! The per-face half of the pipeline: embed and analyse the faces concurrently (when the stages
//! can run at the same time), time each, and match the embeddings against a gallery. The one
//! place that does this: the local pipeline, the server's `/v1/faces` and `/v1/analyze` in every
//! role go through [`FaceAnalyzer`].

use std::time::Instant;

use super::stage::{Analyse, Embed, FaceResults, FaceStage, Search};
use crate::error::CoreError;
use crate::stages::{FaceInput, ms};

/// An [`Embed`] and an [`Analyse`] stage, wherever each runs.
#[derive(Debug)]
pub struct FaceAnalyzer<E, A> {
    /// Stage 2.
    pub embed: E,
    /// Stage 3.
    pub analyse: A,
}

impl<E, A> FaceAnalyzer<E, A> {
    /// Joins two stages.
    pub fn new(embed: E, analyse: A) -> Self {
        Self { embed, analyse }
    }
}

/// A stage that answered for a different number of faces than it was given.
fn count_error(stage: &str, sent: usize, got: usize) -> CoreError {
    CoreError::Stage(format!("{stage}: sent {sent} faces, got {got} results"))
}

impl<E, A, G> FaceStage<G> for FaceAnalyzer<E, A>
where
    E: Embed,
    A: Analyse<Error = E::Error>,
    G: Search + ?Sized,
    E::Error: From<G::Error> + From<CoreError>,
{
    type Error = E::Error;

    async fn run(
        &mut self,
        faces: &[FaceInput],
        gallery: Option<&G>,
        top_k: usize,
    ) -> Result<FaceResults, E::Error> {
        if faces.is_empty() {
            return Ok(FaceResults::default());
        }
        let Self { embed, analyse } = self;
        // Each timer starts when its stage is first polled: in-process stages finish inside that
        // poll (one after the other), remote ones overlap.
        let ((embeddings, embed_ms), (attributes, analyze_ms)) = futures_util::join!(
            async {
                let t = Instant::now();
                let r = embed.embed(faces).await;
                (r, ms(t))
            },
            async {
                let t = Instant::now();
                let r = analyse.analyse(faces).await;
                (r, ms(t))
            },
        );
        let (embeddings, attributes) = (embeddings?, attributes?);
        let n = faces.len();
        if embeddings.len() != n {
            return Err(count_error("embed", n, embeddings.len()).into());
        }
        if attributes.len() != n {
            return Err(count_error("analyze", n, attributes.len()).into());
        }
        let t = Instant::now();
        let matches = match gallery {
            Some(g) if top_k > 0 => g.search(&embeddings, top_k).await?,
            Some(_) | None => vec![Vec::new(); n],
        };
        if matches.len() != n {
            return Err(count_error("search", n, matches.len()).into());
        }
        Ok(FaceResults {
            embeddings,
            attributes,
            matches,
            embed_ms,
            analyze_ms,
            search_ms: ms(t),
            network_ms: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Poll;

    use image::RgbImage;

    use super::*;
    use crate::api::{Age, Attributes, BoxPx, Gender, Match};

    fn face() -> FaceInput {
        FaceInput {
            aligned: RgbImage::new(112, 112),
            patch: RgbImage::new(8, 8),
            bbox_in_patch: BoxPx {
                x1: 1.0,
                y1: 1.0,
                x2: 7.0,
                y2: 7.0,
            },
            arrived_as: None,
        }
    }

    /// Embeds only once the attribute stage has started: done within its polls when the two
    /// run concurrently, an error after 100 polls when they would run one after the other.
    struct WaitsForAnalyse {
        analyse_started: Arc<AtomicBool>,
        answer: usize,
    }

    impl Embed for WaitsForAnalyse {
        type Error = CoreError;
        fn embed(
            &mut self,
            faces: &[FaceInput],
        ) -> impl Future<Output = Result<Vec<Vec<f32>>, CoreError>> + Send {
            let started = Arc::clone(&self.analyse_started);
            let (n, mut polls) = (faces.len().min(self.answer), 0);
            std::future::poll_fn(move |cx| {
                if started.load(Ordering::SeqCst) {
                    return Poll::Ready(Ok(vec![vec![1.0; 4]; n]));
                }
                polls += 1;
                if polls > 100 {
                    return Poll::Ready(Err(CoreError::Stage("ran alone".into())));
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            })
        }
    }

    struct Marks(Arc<AtomicBool>);

    impl Analyse for Marks {
        type Error = CoreError;
        async fn analyse(&mut self, faces: &[FaceInput]) -> Result<Vec<Attributes>, CoreError> {
            self.0.store(true, Ordering::SeqCst);
            let a = Attributes {
                age: Age {
                    years: 30.0,
                    std_years: 5.0,
                },
                gender: Gender {
                    male_probability: 0.5,
                    label: "unknown".into(),
                },
                race: Vec::new(),
                emotion: Vec::new(),
            };
            Ok(vec![a; faces.len()])
        }
    }

    /// A gallery that answers one match per query, named by the query's first component.
    struct Echo;

    impl Search for Echo {
        type Error = CoreError;
        async fn search(&self, q: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Match>>, CoreError> {
            Ok(q.iter()
                .map(|e| {
                    vec![
                        Match {
                            id: 1,
                            name: format!("{}", e[0]),
                            cosine: 1.0,
                            score: 1.0,
                            same_person: true,
                        };
                        k.min(1)
                    ]
                })
                .collect())
        }
    }

    fn analyzer(answer: usize) -> FaceAnalyzer<WaitsForAnalyse, Marks> {
        let flag = Arc::new(AtomicBool::new(false));
        FaceAnalyzer::new(
            WaitsForAnalyse {
                analyse_started: Arc::clone(&flag),
                answer,
            },
            Marks(flag),
        )
    }

    #[test]
    fn embed_and_analyse_overlap_and_the_gallery_is_searched_when_asked() {
        let faces = vec![face(), face()];
        let r = pollster::block_on(analyzer(2).run(&faces, Some(&Echo), 5)).expect("ran");
        assert_eq!((r.embeddings.len(), r.attributes.len()), (2, 2));
        assert_eq!(r.matches.len(), 2);
        assert_eq!(r.matches[0][0].name, "1");
        let r = pollster::block_on(analyzer(2).run(&faces, None::<&Echo>, 5)).expect("ran");
        assert!(
            r.matches.iter().all(Vec::is_empty),
            "no gallery, no matches"
        );
        let r = pollster::block_on(analyzer(2).run(&faces, Some(&Echo), 0)).expect("ran");
        assert!(
            r.matches.iter().all(Vec::is_empty),
            "top_k 0 searches nothing"
        );
    }

    #[test]
    fn a_stage_that_answers_for_the_wrong_number_of_faces_is_an_error() {
        let faces = vec![face(), face(), face()];
        let e = pollster::block_on(analyzer(2).run(&faces, Some(&Echo), 5));
        assert!(
            matches!(&e, Err(CoreError::Stage(m)) if m.contains("sent 3 faces, got 2")),
            "{e:?}"
        );
    }
}
