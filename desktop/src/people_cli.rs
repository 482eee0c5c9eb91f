//! `facelens people …` and `facelens find`: the people library on the command line (JSON in
//! docs/json.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context as _, bail};
use facelens_api::wire::PeopleList;
use facelens_core::Pipeline;
use facelens_core::people::PhotoMatch;
use facelens_core::people::cluster::Params;
use facelens_core::people::scan::{ScanProgress, scan};
use serde::Serialize;

use crate::cli::{Cli, PeopleAction, load, open_gallery};
use crate::report::box_text;

/// Text safe to print: control characters (terminal escapes included) shown as `?`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `facelens find --json`.
#[derive(Debug, Serialize)]
struct FindReport {
    query: String,
    face: usize,
    photos: Vec<PhotoMatch>,
}

fn eta_text(p: &ScanProgress) -> String {
    p.eta_ms.map_or_else(String::new, |ms| {
        let s = ms.div_ceil(1000);
        format!("  ETA {}:{:02}", s / 60, s % 60)
    })
}

/// Runs a `people` action.
///
/// # Errors
/// Bad input, a failed analysis or a database error.
pub fn run(cli: &Cli, action: &PeopleAction) -> anyhow::Result<ExitCode> {
    let gallery = open_gallery(cli)?;
    let people = gallery.people();
    let params = Params::default();
    match action {
        PeopleAction::Scan { dir, json } => {
            let mut pipeline = load(cli)?;
            let cancel = AtomicBool::new(false);
            let report = scan(&mut pipeline, &people, dir, &params, &cancel, &mut |p| {
                eprintln!(
                    "[{}/{}] {}  {} face(s){}",
                    p.done,
                    p.total,
                    safe(&p.path.display().to_string()),
                    p.faces,
                    eta_text(p)
                );
            })?;
            if *json {
                outln!("{}", serde_json::to_string(&report)?);
            } else {
                outln!(
                    "scanned {} of {} photos ({} already in the library), {} faces in {:.1} s",
                    report.scanned,
                    report.found,
                    report.skipped,
                    report.faces,
                    report.elapsed_ms as f64 / 1000.0
                );
                outln!(
                    "grouped {} faces ({} new groups, {} merges); {} left unsorted (low quality)",
                    report.cluster.grouped,
                    report.cluster.groups_opened,
                    report.cluster.merges,
                    report.cluster.unsorted
                );
                for u in &report.unreadable {
                    outln!("unreadable: {}: {}", safe(&u.path), safe(&u.error));
                }
                for u in &report.not_scanned {
                    outln!("not scanned: {}: {}", safe(&u.path), safe(&u.error));
                }
            }
            Ok(
                if report.unreadable.is_empty() && report.not_scanned.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                },
            )
        }
        PeopleAction::List { json } => {
            let groups = people.groups()?;
            let unsorted = people.faces(None)?;
            if *json {
                outln!(
                    "{}",
                    serde_json::to_string(&PeopleList {
                        groups,
                        unsorted,
                        next_offset: None,
                    })?
                );
            } else {
                outln!(
                    "{} groups, {} unsorted faces in {}",
                    groups.len(),
                    unsorted.len(),
                    gallery.location()
                );
                for g in groups {
                    outln!(
                        "{:>5}  {:<24}  {:>4} faces in {:>4} photos{}",
                        g.id,
                        g.name.as_deref().map_or_else(|| "(unnamed)".into(), safe),
                        g.faces,
                        g.photos,
                        if g.locked && g.name.is_none() {
                            "  (edited)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Show { group, json: true } => {
            let faces = people.faces(Some(*group))?;
            outln!(
                "{}",
                serde_json::to_string(&facelens_api::wire::GroupFaces {
                    group: *group,
                    faces,
                    next_offset: None,
                })?
            );
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Export { file } => {
            let n = export_csv(&people, file)?;
            outln!("wrote {n} faces to {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Show { group, json: false } => {
            let faces = people.faces(Some(*group))?;
            outln!("group {group}: {} faces", faces.len());
            for f in faces {
                outln!(
                    "{:>6}  {}  face {} at {}  quality {:.2}{}",
                    f.id,
                    safe(&f.photo),
                    f.face_index + 1,
                    box_text(&f.bbox),
                    f.quality,
                    if f.placed_by_user {
                        "  (moved by you)"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Name { group, name } => {
            let n = people.name(*group, name)?;
            outln!(
                "group {group} is now \"{}\"; {n} of its faces are in the gallery",
                safe(name.trim())
            );
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Merge { a, b } => {
            people.merge(*a, *b)?;
            outln!("merged group {b} into group {a}");
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Move { face, group } => {
            people.move_face(*face, Some(*group))?;
            outln!("moved face {face} to group {group}");
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Remove { face } => {
            people.move_face(*face, None)?;
            outln!("face {face} is unsorted now");
            Ok(ExitCode::SUCCESS)
        }
        PeopleAction::Recluster => {
            let r = people.recluster(&params)?;
            outln!(
                "grouped {} faces ({} groups, {} merges); {} unsorted",
                r.grouped,
                r.groups_opened,
                r.merges,
                r.unsorted
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `IMAGE` or `IMAGE:N` → the file and the face (1-based). A path that exists as given wins, so
/// a file whose name ends in `:2` is still found.
fn split_face(arg: &str) -> anyhow::Result<(PathBuf, usize)> {
    if Path::new(arg).exists() {
        return Ok((PathBuf::from(arg), 1));
    }
    if let Some((file, n)) = arg.rsplit_once(':')
        && let Ok(n) = n.parse::<usize>()
    {
        if n == 0 {
            bail!("faces are numbered from 1 (1 = largest), got {arg}");
        }
        return Ok((PathBuf::from(file), n));
    }
    Ok((PathBuf::from(arg), 1))
}

fn query_embedding(pipeline: &mut Pipeline, path: &Path, face: usize) -> anyhow::Result<Vec<f32>> {
    let a = pipeline
        .analyze_file(path, None)
        .with_context(|| format!("cannot analyse {}", path.display()))?;
    let n = a.faces.len();
    match a.faces.into_iter().nth(face - 1) {
        Some(f) => Ok(f.embedding),
        None if n == 0 => bail!(
            "no face in {}: {}",
            path.display(),
            a.no_face_reason.unwrap_or_default()
        ),
        None => bail!(
            "face {face} is out of range: {} has {n} face(s)",
            path.display()
        ),
    }
}

/// Runs `facelens find`.
///
/// # Errors
/// Bad input, a failed analysis or a database error.
pub fn find(cli: &Cli, image: &str, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let (path, face) = split_face(image)?;
    let gallery = open_gallery(cli)?;
    let people = gallery.people();
    let mut pipeline = load(cli)?;
    let embedding = query_embedding(&mut pipeline, &path, face)?;
    let photos = people.find(&embedding, limit)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string(&FindReport {
                query: path.display().to_string(),
                face,
                photos,
            })?
        );
    } else {
        if photos.is_empty() {
            outln!(
                "no scanned photo shows this person (scan folders with `facelens people scan DIR`)"
            );
        }
        for m in photos {
            outln!(
                "{:.2}  {}  face {} at {}  (cosine {:.3})",
                m.score,
                safe(&m.photo),
                m.face_index + 1,
                box_text(&m.bbox),
                m.cosine
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `facelens people export FILE.csv`: one line per scanned face (grouped ones by group, then the
/// unsorted), written to a temporary file beside FILE and renamed; never over an existing file.
fn export_csv(people: &facelens_core::people::People<'_>, file: &Path) -> anyhow::Result<usize> {
    use std::io::Write as _;
    if file.exists() {
        bail!("{} exists; choose a new file name", file.display());
    }
    let mut rows = Vec::new();
    for g in people.groups()? {
        let name = g.name.clone().unwrap_or_default();
        for f in people.faces(Some(g.id))? {
            rows.push((f, Some(g.id), name.clone()));
        }
    }
    for f in people.faces(None)? {
        rows.push((f, None, String::new()));
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".facelens-people-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        writeln!(w, "photo,face,x1,y1,x2,y2,quality,group,person")?;
        for (f, group, person) in &rows {
            writeln!(
                w,
                "{},{},{:.1},{:.1},{:.1},{:.1},{:.3},{},{}",
                csv_field(&f.photo),
                f.face_index + 1,
                f.bbox.x1,
                f.bbox.y1,
                f.bbox.x2,
                f.bbox.y2,
                f.quality,
                group.map(|g| g.to_string()).unwrap_or_default(),
                csv_field(person)
            )?;
        }
        w.flush()?;
    }
    tmp.persist_noclobber(file)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", file.display(), e.error))?;
    Ok(rows.len())
}
