//! Grouping faces by person: pure functions over embeddings, no storage.
//!
//! **Linkage.** A face joins a group by *average linkage*: the mean cosine between the face and
//! every face of the group, which is `face · sum(group) / count(group)`, so a group is kept as the
//! running sum of its (L2-normalised) embeddings and a comparison costs one dot product however
//! large the group. Two groups merge by the same measure, `sum(a) · sum(b) / (|a| |b|)`. The
//! threshold is the gallery's calibrated same-person cosine ([`SAME_PERSON_COSINE`]): a face
//! joins a group only when it is, on average over the group, as similar as a same-person pair
//! must be. Average linkage does not chain: one look-alike face cannot pull two people together,
//! because every face of both counts.
//!
//! **Constraints.** Two faces of one photo are never in one group (a group remembers its photos);
//! faces below the quality floor are never grouped (the caller leaves them unsorted); a locked
//! group (named or edited by the user) can take new faces but is never merged or split.
//!
//! **Incremental.** [`assign`] places new faces among existing groups in a fixed order (the
//! caller sorts them), opening a new group when none fits; [`merge`] then joins groups that
//! belong together, considering only pairs that involve a group changed by this run. A full
//! re-cluster is the same two steps from no unlocked groups. The same input gives the same groups.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};

use crate::calibration::SAME_PERSON_COSINE;
use crate::models::embedder::EMBEDDING_DIM;

/// Clustering settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Mean cosine between a face and a group (or two groups) at and above which they are one
    /// person.
    pub link_cosine: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            link_cosine: SAME_PERSON_COSINE,
        }
    }
}

/// A group as the clusterer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The store's id, `None` for a group this run opened.
    pub id: Option<u64>,
    /// Sum of the members' L2-normalised embeddings.
    pub sum: Vec<f32>,
    /// How many members.
    pub count: usize,
    /// The photos its members come from.
    pub photos: BTreeSet<u64>,
    /// Named or edited by the user: takes new faces, never merged.
    pub locked: bool,
    /// Merged into another group by this run.
    pub merged_into: Option<usize>,
    /// Changed by this run (new members, or opened by it).
    pub touched: bool,
}

impl Group {
    /// A stored group from its members' embeddings.
    #[must_use]
    pub fn from_members<'a>(
        id: u64,
        locked: bool,
        members: impl IntoIterator<Item = (u64, &'a [f32])>,
    ) -> Self {
        let mut g = Self::empty(Some(id), locked);
        for (photo, e) in members {
            g.add(photo, e);
        }
        g.touched = false;
        g
    }

    fn empty(id: Option<u64>, locked: bool) -> Self {
        Self {
            id,
            sum: vec![0.0; EMBEDDING_DIM],
            count: 0,
            photos: BTreeSet::new(),
            locked,
            merged_into: None,
            touched: true,
        }
    }

    fn add(&mut self, photo: u64, embedding: &[f32]) {
        for (s, v) in self.sum.iter_mut().zip(embedding) {
            *s += v;
        }
        self.count += 1;
        self.photos.insert(photo);
        self.touched = true;
    }

    /// Mean cosine between `embedding` and the members.
    #[must_use]
    pub fn link(&self, embedding: &[f32]) -> f32 {
        if self.count == 0 {
            return f32::NEG_INFINITY;
        }
        let n = self.count as f32;
        dot(&self.sum, embedding) / n
    }

    /// Mean cosine between the members of two groups.
    #[must_use]
    pub fn link_group(&self, other: &Self) -> f32 {
        if self.count == 0 || other.count == 0 {
            return f32::NEG_INFINITY;
        }
        let n = (self.count * other.count) as f32;
        dot(&self.sum, &other.sum) / n
    }

    fn alive(&self) -> bool {
        self.merged_into.is_none()
    }

    fn shares_a_photo(&self, other: &Self) -> bool {
        !self.photos.is_disjoint(&other.photos)
    }
}

/// A face to place.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The photo it comes from.
    pub photo: u64,
    /// Its L2-normalised embedding.
    pub embedding: &'a [f32],
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators so the compiler vectorises the loop.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Places each face, in the given order, in the group it links to best at or above the
/// threshold and that has no face of its photo; otherwise in a new group. Returns each face's
/// group (an index into `groups`, which grows by the groups opened).
pub fn assign(groups: &mut Vec<Group>, faces: &[Candidate<'_>], params: &Params) -> Vec<usize> {
    faces
        .iter()
        .map(|f| {
            let best = groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.alive() && !g.photos.contains(&f.photo))
                .map(|(i, g)| (i, g.link(f.embedding)))
                .filter(|&(_, l)| l >= params.link_cosine)
                // Highest link; on a tie the earlier group, so the result is deterministic.
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let i = best.map_or_else(
                || {
                    groups.push(Group::empty(None, false));
                    groups.len() - 1
                },
                |(i, _)| i,
            );
            groups[i].add(f.photo, f.embedding);
            i
        })
        .collect()
}

#[derive(Debug, PartialEq)]
struct Pair {
    link: f32,
    a: usize,
    b: usize,
    /// Member counts when the pair was scored; a pair scored before either side changed is stale.
    counts: (usize, usize),
}

impl Eq for Pair {}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.link
            .total_cmp(&other.link)
            // Lower indices first on ties (BinaryHeap pops the greatest).
            .then(other.a.cmp(&self.a))
            .then(other.b.cmp(&self.b))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Merges unlocked groups whose average link is at or above the threshold and that share no
/// photo, best pair first, until no such pair is left. Only pairs with at least one touched
/// group are considered (untouched pairs were already compared by an earlier run). Returns the
/// merges as `(from, into)`; `from` is marked [`Group::merged_into`] and emptied.
pub fn merge(groups: &mut [Group], params: &Params) -> Vec<(usize, usize)> {
    let mergeable = |g: &Group| g.alive() && !g.locked && g.count > 0;
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Pair>, groups: &[Group], a: usize, b: usize| {
        let (a, b) = (a.min(b), a.max(b));
        let (ga, gb) = (&groups[a], &groups[b]);
        if ga.shares_a_photo(gb) {
            return;
        }
        let link = ga.link_group(gb);
        if link >= params.link_cosine {
            heap.push(Pair {
                link,
                a,
                b,
                counts: (ga.count, gb.count),
            });
        }
    };
    for a in 0..groups.len() {
        if !mergeable(&groups[a]) || !groups[a].touched {
            continue;
        }
        for b in 0..groups.len() {
            // Each touched pair once; touched-untouched pairs from the touched side.
            if a == b || !mergeable(&groups[b]) || (groups[b].touched && b < a) {
                continue;
            }
            push(&mut heap, groups, a, b);
        }
    }
    let mut merges = Vec::new();
    while let Some(p) = heap.pop() {
        let (ga, gb) = (&groups[p.a], &groups[p.b]);
        if !mergeable(ga) || !mergeable(gb) || (ga.count, gb.count) != p.counts {
            continue;
        }
        if ga.shares_a_photo(gb) {
            continue;
        }
        // The larger group absorbs the smaller (the lower index on equal size), so a group's
        // identity stays with most of its faces.
        let (into, from) = if gb.count > ga.count {
            (p.b, p.a)
        } else {
            (p.a, p.b)
        };
        let moved = std::mem::replace(&mut groups[from], Group::empty(None, false));
        {
            let g = &mut groups[into];
            for (s, v) in g.sum.iter_mut().zip(&moved.sum) {
                *s += v;
            }
            g.count += moved.count;
            g.photos.extend(moved.photos);
            g.touched = true;
        }
        groups[from].merged_into = Some(into);
        groups[from].id = moved.id;
        merges.push((from, into));
        for other in 0..groups.len() {
            if other != into && mergeable(&groups[other]) {
                push(&mut heap, groups, into, other);
            }
        }
    }
    merges
}

/// Follows merges to the group a group ended up in.
#[must_use]
pub fn resolve(groups: &[Group], mut i: usize) -> usize {
    while let Some(j) = groups[i].merged_into {
        i = j;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector near axis `axis`, tilted towards axis `axis + 1 + k` by `tilt`.
    fn near(axis: usize, k: usize, tilt: f32) -> Vec<f32> {
        let mut v = vec![0.0; EMBEDDING_DIM];
        v[axis] = 1.0;
        v[(axis + 1 + k) % EMBEDDING_DIM] = tilt;
        let n = (1.0 + tilt * tilt).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn run(faces: &[(u64, Vec<f32>)]) -> Vec<usize> {
        let mut groups = Vec::new();
        let c: Vec<_> = faces
            .iter()
            .map(|(p, e)| Candidate {
                photo: *p,
                embedding: e,
            })
            .collect();
        let p = Params::default();
        let a = assign(&mut groups, &c, &p);
        merge(&mut groups, &p);
        a.into_iter().map(|i| resolve(&groups, i)).collect()
    }

    #[test]
    fn two_people_make_two_groups() {
        let faces: Vec<_> = (0..6)
            .map(|i| (i, near(if i % 2 == 0 { 0 } else { 100 }, i as usize, 0.5)))
            .collect();
        let g = run(&faces);
        assert_eq!(g[0], g[2]);
        assert_eq!(g[2], g[4]);
        assert_eq!(g[1], g[3]);
        assert_eq!(g[3], g[5]);
        assert_ne!(g[0], g[1]);
    }

    #[test]
    fn two_faces_of_one_photo_never_share_a_group() {
        // Identical embeddings, one photo: two groups, and no merge joins them.
        let e = near(0, 0, 0.1);
        let g = run(&[(7, e.clone()), (7, e.clone()), (8, e)]);
        assert_ne!(g[0], g[1]);
        assert!(g[2] == g[0] || g[2] == g[1]);
    }

    #[test]
    fn a_look_alike_does_not_chain_two_people() {
        // A and B are orthogonal; a face halfway between links to each at cos 0.707, but the
        // groups link to each other at 0, so they stay apart.
        let a = near(0, 0, 0.0);
        let b = near(1, 5, 0.0);
        let mid: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x + y) / 2f32.sqrt())
            .collect();
        let g = run(&[
            (1, a.clone()),
            (2, a.clone()),
            (3, b.clone()),
            (4, b),
            (5, mid),
            (6, a),
        ]);
        assert_eq!(g[0], g[1]);
        assert_eq!(g[2], g[3]);
        assert_ne!(g[0], g[2]);
        assert_eq!(g[5], g[0]);
    }

    #[test]
    fn split_groups_merge_and_locked_groups_do_not() {
        let a = near(0, 0, 0.0);
        // Two groups of the same person, as two runs made them.
        let mut groups = vec![
            Group::from_members(1, false, [(1, a.as_slice()), (2, a.as_slice())]),
            Group::from_members(2, false, [(3, a.as_slice())]),
        ];
        groups[1].touched = true;
        let m = merge(&mut groups, &Params::default());
        assert_eq!(m, vec![(1, 0)]);
        let mut locked = vec![
            Group::from_members(1, true, [(1, a.as_slice())]),
            Group::from_members(2, false, [(3, a.as_slice())]),
        ];
        locked[1].touched = true;
        assert!(merge(&mut locked, &Params::default()).is_empty());
        // A locked group still takes a new face.
        let got = assign(
            &mut locked,
            &[Candidate {
                photo: 9,
                embedding: &a,
            }],
            &Params::default(),
        );
        assert_eq!(got, vec![0]);
    }

    #[test]
    fn the_same_input_gives_the_same_groups() {
        let faces: Vec<_> = (0..40)
            .map(|i| (i, near((i % 5) as usize * 50, i as usize, 0.6)))
            .collect();
        assert_eq!(run(&faces), run(&faces));
    }

    #[test]
    fn link_is_the_mean_pairwise_cosine() {
        let a = near(0, 0, 0.3);
        let b = near(0, 7, 0.9);
        let c = near(3, 0, 0.0);
        let g = Group::from_members(1, false, [(1, a.as_slice()), (2, b.as_slice())]);
        let want = (dot(&a, &c) + dot(&b, &c)) / 2.0;
        assert!((g.link(&c) - want).abs() < 1e-6);
    }
}
