//! Where a gallery lives, read strictly: a folder or a `postgres://` URL, nothing else; and the one
//! redaction of every secret a location can carry, for messages, logs and `check-config`.

use std::fmt;
use std::path::PathBuf;

use super::GALLERY_DIR_ENV;
use crate::error::GalleryError;

/// Where a gallery lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GalleryLocation {
    /// A folder with an embedded SQLite database.
    Dir(PathBuf),
    /// A Postgres database with pgvector (`postgres://` or `postgresql://` URL).
    Postgres(String),
}

/// The URL schemes that name a Postgres database.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

impl GalleryLocation {
    /// Reads a location: a `postgres://`/`postgresql://` URL names a database; a path names a
    /// folder (`~` and `~/…` are the home folder). Anything else that looks like a database
    /// address (another scheme such as `mysql:`, `sqlite:` or `file:`, a scheme without `//`,
    /// a `key=value` connection string) is refused rather than taken as a folder name.
    ///
    /// # Errors
    /// [`GalleryError::BadLocation`], its message free of any password.
    pub fn parse(s: &str) -> Result<Self, GalleryError> {
        // The message never repeats the text: a refused location may hold a password in a
        // form no redaction can know (`postgres:alice:pw@db`).
        let bad = |why: &str| GalleryError::BadLocation(why.to_owned());
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty; give a folder or a postgres:// URL"));
        }
        if let Some(scheme) = scheme_of(t) {
            let lower = scheme.to_ascii_lowercase();
            if !POSTGRES_SCHEMES.contains(&lower.as_str()) {
                return Err(bad(&format!(
                    "`{scheme}:` is not a supported database; a gallery is a folder or a \
                     postgres:// URL (write ./{scheme}:… for a folder whose name has a colon)"
                )));
            }
            if !t[scheme.len() + 1..].starts_with("//") {
                return Err(bad("a Postgres URL starts with postgres:// (two slashes)"));
            }
            return Ok(Self::Postgres(t.to_owned()));
        }
        if looks_like_conninfo(t) {
            return Err(bad(
                "looks like a key=value connection string; give a postgres://user@host/db URL \
                 (the password in PGPASSWORD or ~/.pgpass)",
            ));
        }
        if t == "~" || t.starts_with("~/") {
            let home = dirs::home_dir().ok_or_else(|| bad("no home folder to expand `~` to"))?;
            return Ok(Self::Dir(match t.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => home,
            }));
        }
        if t.starts_with('~') {
            return Err(bad("`~user` is not expanded; give the folder's full path"));
        }
        Ok(Self::Dir(PathBuf::from(s)))
    }

    /// The location as given, password included (to hand to a child process or a config).
    #[must_use]
    pub fn to_string_with_secret(&self) -> String {
        match self {
            Self::Dir(p) => p.to_string_lossy().into_owned(),
            Self::Postgres(url) => url.clone(),
        }
    }
}

impl fmt::Display for GalleryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => f.write_str(&redact_secrets(url)),
        }
    }
}

/// The URL scheme at the start of `s` (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`,
/// then `:`). One letter is a Windows drive (`C:\…`), not a scheme.
fn scheme_of(s: &str) -> Option<&str> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The libpq connection keywords a `key=value` string starts its settings with.
const CONNINFO_KEYS: [&str; 12] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "service",
    "options",
    "connect_timeout",
    "application_name",
];

/// A libpq `key=value` string (`host=db dbname=x password=…`): some blank-separated part is a
/// connection keyword followed by `=`.
fn looks_like_conninfo(s: &str) -> bool {
    s.split_whitespace().any(|part| {
        part.split_once('=')
            .is_some_and(|(k, _)| CONNINFO_KEYS.contains(&k.to_ascii_lowercase().as_str()))
    })
}

/// A URL with any password replaced by `***` (for messages and logs); the same as
/// [`redact_secrets`].
#[must_use]
pub fn redact_url(url: &str) -> String {
    redact_secrets(url)
}

/// `text` with every secret a database location can carry replaced by `***`: the password of
/// a URL's user part (`scheme://user:***@host`), a `password=` (or `sslpassword=`, any key
/// ending in `password`) query parameter or `key=value` setting, quoted or not. Safe to apply to
/// whole messages: it finds every URL and every such key in the text.
#[must_use]
pub fn redact_secrets(text: &str) -> String {
    mask_password_values(&mask_user_passwords(text))
}

/// `scheme://user:secret@host` → `scheme://user:***@host`, wherever a `://` occurs.
fn mask_user_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Every `…password=value` (case-insensitive key, blanks around `=` allowed) with its value
/// (up to `&`, `;`, a blank or a quote; or a whole quoted value) replaced by `***`.
fn mask_password_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("password") {
        let key_end = pos + found + "password".len();
        let after = &text[key_end..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            out.push_str(&text[pos..key_end]);
            pos = key_end;
            continue;
        };
        let value_start = key_end + (after.len() - trimmed.len()) + 1;
        let value_str = value.trim_start();
        let value_start = value_start + (value.len() - value_str.len());
        let value_len = match value_str.chars().next() {
            Some(q @ ('\'' | '"')) => value_str[1..]
                .find(q)
                .map_or(value_str.len(), |close| close + 2),
            _ => value_str
                .find(|c: char| {
                    matches!(c, '&' | ';' | '#' | '"' | '\'' | ',') || c.is_whitespace()
                })
                .unwrap_or(value_str.len()),
        };
        out.push_str(&text[pos..value_start]);
        if value_len > 0 {
            out.push_str("***");
        }
        pos = value_start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

/// Resolves the gallery: `explicit`, else `$FACELENS_GALLERY_DIR`, else the user data dir.
///
/// # Errors
/// [`GalleryError::BadLocation`] for an explicit or environment location that [`GalleryLocation::parse`]
/// refuses, or one that is not valid Unicode.
pub fn resolve_gallery_location(explicit: Option<&str>) -> Result<GalleryLocation, GalleryError> {
    if let Some(p) = explicit.filter(|v| !v.is_empty()) {
        return GalleryLocation::parse(p);
    }
    if let Some(p) = std::env::var_os(GALLERY_DIR_ENV).filter(|v| !v.is_empty()) {
        let Some(text) = p.to_str() else {
            return Err(GalleryError::BadLocation(format!(
                "${GALLERY_DIR_ENV} is not valid Unicode"
            )));
        };
        return GalleryLocation::parse(text);
    }
    Ok(GalleryLocation::Dir(
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("facelens")
            .join("gallery"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_postgres_urls_are_read() {
        assert_eq!(
            GalleryLocation::parse("/tmp/g").expect("folder"),
            GalleryLocation::Dir("/tmp/g".into())
        );
        assert_eq!(
            GalleryLocation::parse("a=b").expect("folder with an equals sign"),
            GalleryLocation::Dir("a=b".into())
        );
        assert_eq!(
            GalleryLocation::parse("./a:b").expect("folder with a colon"),
            GalleryLocation::Dir("./a:b".into())
        );
        assert_eq!(
            GalleryLocation::parse(r"C:\Users\ann\gallery").expect("drive"),
            GalleryLocation::Dir(r"C:\Users\ann\gallery".into())
        );
        let url = "postgres://app:s3cret@db:5432/facelens?sslmode=disable";
        let loc = GalleryLocation::parse(url).expect("url");
        assert_eq!(loc, GalleryLocation::Postgres(url.into()));
        assert_eq!(
            loc.to_string(),
            "postgres://app:***@db:5432/facelens?sslmode=disable"
        );
        assert_eq!(loc.to_string_with_secret(), url);
        assert!(matches!(
            GalleryLocation::parse("PostgreSQL://h/db"),
            Ok(GalleryLocation::Postgres(_))
        ));
        if let Some(home) = dirs::home_dir() {
            assert_eq!(
                GalleryLocation::parse("~/x").expect("tilde"),
                GalleryLocation::Dir(home.join("x"))
            );
        }
    }

    #[test]
    fn anything_else_is_refused_without_printing_the_password() {
        for bad in [
            "postgress://alice:pw1@db.example/facelens",
            "mysql://alice:pw1@db/x",
            "sqlite:///tmp/x.db",
            "file:///tmp/x",
            "postgres:alice:pw1@db",
            "postgresql:/db",
            "host=db user=alice password=pw1 dbname=x",
            "host=/run/pg dbname=x password=pw1",
            "~alice/gallery",
            "   ",
        ] {
            let e = GalleryLocation::parse(bad).expect_err(bad).to_string();
            assert!(!e.contains("pw1"), "{bad}: {e}");
            assert!(e.starts_with("invalid gallery location"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_form_of_a_password_is_redacted() {
        let cases = [
            (
                "postgresql://postgres:@/postgres?host=/tmp/x",
                "postgresql://postgres:***@/postgres?host=/tmp/x",
            ),
            ("postgres://db/x", "postgres://db/x"),
            (
                "postgres://alice:S3cretPW@db/x",
                "postgres://alice:***@db/x",
            ),
            (
                "postgres://alice@db/x?sslmode=require&password=S3cretPW&x=1",
                "postgres://alice@db/x?sslmode=require&password=***&x=1",
            ),
            (
                "postgres://db/x?sslpassword=S3cretPW",
                "postgres://db/x?sslpassword=***",
            ),
            (
                "host=db password=S3cretPW dbname=x",
                "host=db password=*** dbname=x",
            ),
            (
                "host=db password = 'S3cret PW' dbname=x",
                "host=db password = *** dbname=x",
            ),
            (
                "error: cannot connect to \"postgres://a:S3cretPW@h/d\": refused",
                "error: cannot connect to \"postgres://a:***@h/d\": refused",
            ),
            (
                "gallery = \"postgres://a:S3cretPW@h/d\"\nPASSWORD=S3cretPW",
                "gallery = \"postgres://a:***@h/d\"\nPASSWORD=***",
            ),
            (
                "no secret here; password is a word",
                "no secret here; password is a word",
            ),
        ];
        for (input, want) in cases {
            let got = redact_secrets(input);
            assert_eq!(got, want, "{input}");
            assert!(!got.contains("S3cret"), "{input}");
        }
    }
}
