//! Layered configuration with `figment`: built-in defaults, then a TOML file, then `FACELENS_*`
//! environment variables (one per field, upper-cased; the field names come from the struct
//! itself), validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use facelens_core::runtime::ExecutionTarget;
use serde::{Deserialize, Serialize};

/// What one server process does. Roles talk to each other over the same `/v1` API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every stage and the gallery in one process.
    #[default]
    All,
    /// The public entry point: gallery and composition; stages run on other roles.
    Gateway,
    /// Decoding, detection, alignment (`/v1/preprocess`).
    Preprocess,
    /// Identity embeddings (`/v1/embed`).
    Embed,
    /// Age, gender, race, emotion (`/v1/attributes`).
    Analyze,
}

impl Role {
    /// The lowercase name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Gateway => "gateway",
            Self::Preprocess => "preprocess",
            Self::Embed => "embed",
            Self::Analyze => "analyze",
        }
    }
    /// Whether this role runs the preprocess stage itself.
    #[must_use]
    pub fn runs_preprocess(self) -> bool {
        matches!(self, Self::All | Self::Preprocess)
    }
    /// Whether this role runs the embed stage itself.
    #[must_use]
    pub fn runs_embed(self) -> bool {
        matches!(self, Self::All | Self::Embed)
    }
    /// Whether this role runs the attribute stage itself.
    #[must_use]
    pub fn runs_analyze(self) -> bool {
        matches!(self, Self::All | Self::Analyze)
    }
    /// Whether this role holds the gallery.
    #[must_use]
    pub fn holds_gallery(self) -> bool {
        matches!(self, Self::All | Self::Gateway)
    }
}

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// This process's role.
    pub role: Role,
    /// Accepted bearer tokens. Empty = no authentication (loopback only, unless allowed below).
    /// A list, or one string of comma-separated tokens (as `FACELENS_TOKENS` gives them).
    #[serde(deserialize_with = "list_or_commas")]
    pub tokens: Vec<String>,
    /// Allow listening beyond loopback without tokens (behind an authenticating proxy).
    pub allow_unauthenticated: bool,
    /// PEM certificate chain; with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Models folder (default: `$FACELENS_MODELS_DIR` or the user cache dir).
    pub models_dir: Option<PathBuf>,
    /// Gallery: a folder (embedded SQLite, one machine) or a `postgres://` URL (pgvector; any
    /// number of replicas). Default: `$FACELENS_GALLERY_DIR`, else the user data dir.
    /// `gallery_dir` is accepted as the older name.
    #[serde(alias = "gallery_dir")]
    pub gallery: Option<String>,
    /// Execution provider: "cpu", "cuda" or "tensorrt". A GPU provider that fails stops the server.
    pub provider: ExecutionTarget,
    /// ONNX Runtime intra-op threads per model (0 = min(cores, 4)).
    pub threads: usize,
    /// Largest request body, MiB.
    pub max_body_mib: usize,
    /// Largest decoded image, pixels.
    pub max_pixels: u64,
    /// Most faces in one request.
    pub max_faces: usize,
    /// Requests being served at once; more are answered 503 with Retry-After.
    pub max_inflight: usize,
    /// Memory that requests in flight may hold together, MiB: request bodies, decoded pixels and
    /// responses not yet read by their clients. A request that does not fit is answered 503 with
    /// Retry-After (413 if it could never fit).
    pub max_inflight_mib: usize,
    /// Jobs waiting in front of each stage; more are answered 503.
    pub queue_depth: usize,
    /// Most faces a stage runs in one batch.
    pub batch_max: usize,
    /// How long a stage waits to fill a batch, ms.
    pub batch_wait_ms: u64,
    /// Per-request deadline, ms (504 after it); also how long a request body may take to arrive.
    pub timeout_ms: u64,
    /// How long a client may take to send its request headers, ms, after connecting or after
    /// its previous response; then the connection is closed (idle and half-sent connections too).
    pub header_timeout_ms: u64,
    /// How long a response may wait for the client to read any of it, ms; then the connection
    /// is closed and what it held is freed.
    pub write_timeout_ms: u64,
    /// Base URL of the preprocess role (when this role does not run it).
    pub preprocess_url: Option<String>,
    /// Base URL of the embed role.
    pub embed_url: Option<String>,
    /// Base URL of the analyze role.
    pub analyze_url: Option<String>,
    /// Token this server sends to the other roles.
    pub upstream_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8750".into(),
            role: Role::All,
            tokens: Vec::new(),
            allow_unauthenticated: false,
            tls_cert: None,
            tls_key: None,
            models_dir: None,
            gallery: None,
            provider: ExecutionTarget::Cpu,
            threads: 0,
            max_body_mib: 32,
            max_pixels: 60_000_000,
            max_faces: 64,
            max_inflight: 16,
            max_inflight_mib: 512,
            queue_depth: 64,
            batch_max: 16,
            batch_wait_ms: 3,
            timeout_ms: 30_000,
            header_timeout_ms: 10_000,
            write_timeout_ms: 30_000,
            preprocess_url: None,
            embed_url: None,
            analyze_url: None,
            upstream_token: None,
        }
    }
}

/// `tokens` as a list, or as one comma-separated string (empty items dropped).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(d)? {
        ListOrText::List(v) => v,
        ListOrText::Text(t) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// The prefix of the environment variables.
const ENV_PREFIX: &str = "FACELENS_";

/// The field names, from the struct's own serialisation (so the environment layer can never
/// fall out of step with it). Other `FACELENS_*` variables (the core's, the tests') are not ours.
fn field_names() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file or an environment variable does not parse.
    #[error("invalid configuration ({origin}): {detail}")]
    Parse {
        /// Which layer.
        origin: String,
        /// Why.
        detail: String,
    },
    /// The values do not make sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Every string under a secret key (`tokens`, `upstream_token`), however it was typed.
fn secret_values(table: &toml::Table) -> Vec<String> {
    fn strings(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            toml::Value::Table(t) => t.values().for_each(|x| strings(x, out)),
            toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Boolean(_)
            | toml::Value::Datetime(_) => {}
        }
    }
    let mut out = Vec::new();
    for key in ["tokens", "upstream_token"] {
        if let Some(v) = table.get(key) {
            strings(v, &mut out);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `msg` with every secret replaced by `***` (parser messages quote the offending value).
fn redact(msg: &str, secrets: &[String]) -> String {
    let msg = facelens_core::gallery::redact_secrets(msg);
    secrets
        .iter()
        .fold(msg, |m, s| m.replace(s.as_str(), "***"))
}

impl Config {
    /// Defaults, then `file` (if any), then this process's `FACELENS_*` variables; validated.
    ///
    /// # Errors
    /// Unreadable file, unknown keys, wrong types, or values that fail [`Config::validate`].
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => Some((
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
                path.display().to_string(),
            )),
            None => None,
        };
        Self::from_text(text.as_ref().map(|(t, o)| (t.as_str(), o.as_str())))
    }

    /// As [`Config::load`], with the file's text (and where it came from, for messages) given.
    ///
    /// # Errors
    /// As [`Config::load`], less the read error.
    pub fn from_text(file: Option<(&str, &str)>) -> Result<Self, ConfigError> {
        use figment::Figment;
        use figment::providers::{Env, Serialized};
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        let mut secrets = Vec::new();
        if let Some((text, origin)) = file {
            // The parser's own message quotes the offending line, which may hold a token: say
            // where and what, not the line itself.
            let from_file: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        origin: origin.to_owned(),
                        detail: e.span().map_or_else(
                            || e.message().to_owned(),
                            |s| {
                                let line = text[..s.start.min(text.len())].lines().count().max(1);
                                format!("line {line}: {}", e.message())
                            },
                        ),
                    })?;
            secrets = secret_values(&from_file);
            figment = figment.merge(Serialized::defaults(from_file));
        }
        let fields = field_names();
        let env = Env::prefixed(ENV_PREFIX).filter(move |k| fields.iter().any(|f| k == f.as_str()));
        for key in ["TOKENS", "UPSTREAM_TOKEN"] {
            if let Ok(v) = std::env::var(format!("{ENV_PREFIX}{key}")) {
                secrets.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        let config: Self = figment.merge(env).extract().map_err(|e| {
            // Name the layer: the variable (FACELENS_BATCH_MAX), the file, or the defaults.
            let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
            let origin = match (&e.metadata, &e.profile) {
                (Some(m), Some(_)) if m.name.contains(ENV_PREFIX) => {
                    format!("{ENV_PREFIX}{}", path.join("_").to_ascii_uppercase())
                }
                _ => file.map_or_else(|| "defaults".into(), |(_, o)| o.to_owned()),
            };
            ConfigError::Parse {
                origin: redact(&origin, &secrets),
                detail: redact(&e.to_string(), &secrets),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The listen address.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when it does not parse.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("listen = `{}`: {e}", self.listen)))
    }

    /// Checks values that only make sense together.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        let addr = self.listen_addr()?;
        if self.tokens.is_empty() && !addr.ip().is_loopback() && !self.allow_unauthenticated {
            return invalid(format!(
                "no tokens configured, so the server listens on loopback only (listen = {addr}); \
                 set FACELENS_TOKENS, or FACELENS_ALLOW_UNAUTHENTICATED=true behind an \
                 authenticating proxy"
            ));
        }
        if self.tokens.iter().any(|t| t.len() < 16) {
            return invalid("every token must be at least 16 characters".into());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                for p in [c, k] {
                    if !p.is_file() {
                        return invalid(format!("TLS file not found: {}", p.display()));
                    }
                }
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return invalid("tls_cert and tls_key go together".into());
            }
        }
        for (name, v) in [
            ("max_body_mib", self.max_body_mib),
            ("max_faces", self.max_faces),
            ("max_inflight", self.max_inflight),
            ("max_inflight_mib", self.max_inflight_mib),
            ("queue_depth", self.queue_depth),
            ("batch_max", self.batch_max),
        ] {
            if v == 0 {
                return invalid(format!("{name} must be at least 1"));
            }
        }
        if let Some(g) = self.gallery.as_deref().filter(|g| !g.is_empty()) {
            // The message of a refused location never repeats it (it may hold a password).
            facelens_core::gallery::GalleryLocation::parse(g)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        let largest_image_mib = self
            .max_pixels
            .saturating_mul(crate::budget::DECODED_BYTES_PER_PIXEL)
            .div_ceil(1 << 20);
        if largest_image_mib > self.max_inflight_mib as u64 {
            return invalid(format!(
                "an image of max_pixels ({}) needs {largest_image_mib} MiB to decode and analyse, \
                 more than max_inflight_mib ({}); raise max_inflight_mib or lower max_pixels",
                self.max_pixels, self.max_inflight_mib
            ));
        }
        if self.max_body_mib > self.max_inflight_mib {
            return invalid(format!(
                "max_body_mib ({}) must fit in max_inflight_mib ({})",
                self.max_body_mib, self.max_inflight_mib
            ));
        }
        if self.max_pixels < 144 || self.timeout_ms == 0 || self.write_timeout_ms == 0 {
            return invalid("max_pixels and timeout_ms must be positive".into());
        }
        if self.role == Role::Gateway {
            for (name, url) in [
                ("preprocess_url", &self.preprocess_url),
                ("embed_url", &self.embed_url),
                ("analyze_url", &self.analyze_url),
            ] {
                if url.is_none() {
                    return invalid(format!("role gateway needs {name}"));
                }
            }
        }
        for url in [&self.preprocess_url, &self.embed_url, &self.analyze_url]
            .into_iter()
            .flatten()
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(format!("upstream URL must start with http(s)://: {url}"));
            }
        }
        Ok(())
    }
}

/// Fuzz entry (`fuzz/`, replayed by `tests/fuzz_replay.rs`): a config file's text, parsed,
/// merged and validated; any bytes must give a config or an error, never a panic.
#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = Config::from_text(Some((&text, "fuzz.toml")));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with these environment variables set (figment's jail restores them after).
    #[allow(clippy::result_large_err)] // figment's own error type, in a test helper
    fn with_env(pairs: &[(&str, &str)], f: impl FnOnce()) {
        figment::Jail::expect_with(|jail| {
            for (k, v) in pairs {
                jail.set_env(k, v);
            }
            f();
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("server.toml");
        std::fs::write(&file, "batch_max = 8\nmax_inflight = 4\nrole = \"embed\"\n")
            .expect("write");
        with_env(
            &[
                ("FACELENS_MAX_INFLIGHT", "2"),
                ("FACELENS_REQUIRE_TESTDATA", "1"),
            ],
            || {
                let c = Config::load(Some(&file)).expect("valid");
                assert_eq!(c.batch_max, 8, "file over default");
                assert_eq!(c.max_inflight, 2, "env over file");
                assert_eq!(c.role, Role::Embed);
                assert_eq!(c.queue_depth, Config::default().queue_depth);
            },
        );
    }

    #[test]
    fn public_listen_without_tokens_is_refused() {
        with_env(&[("FACELENS_LISTEN", "0.0.0.0:8750")], || {
            let e = Config::load(None);
            assert!(matches!(e, Err(ConfigError::Invalid(m)) if m.contains("loopback")));
        });
        with_env(
            &[
                ("FACELENS_LISTEN", "0.0.0.0:8750"),
                ("FACELENS_TOKENS", "0123456789abcdef, fedcba9876543210"),
            ],
            || {
                let ok = Config::load(None).expect("tokens make it valid");
                assert_eq!(ok.tokens, ["0123456789abcdef", "fedcba9876543210"]);
            },
        );
        with_env(
            &[
                ("FACELENS_LISTEN", "0.0.0.0:8750"),
                ("FACELENS_ALLOW_UNAUTHENTICATED", "true"),
            ],
            || assert!(Config::load(None).is_ok()),
        );
    }

    #[test]
    fn bad_values_are_named() {
        with_env(&[("FACELENS_BATCH_MAX", "lots")], || {
            let e = Config::load(None);
            assert!(
                matches!(&e, Err(ConfigError::Parse { origin, .. }) if origin == "FACELENS_BATCH_MAX"),
                "{e:?}"
            );
        });
        with_env(&[("FACELENS_ROLE", "gateway")], || {
            let e = Config::load(None);
            assert!(matches!(e, Err(ConfigError::Invalid(m)) if m.contains("preprocess_url")));
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "batch_maxx = 3\n").expect("write");
        with_env(&[], || {
            let e = Config::load(Some(&file));
            assert!(
                matches!(&e, Err(ConfigError::Parse { origin, detail })
                    if origin.ends_with("bad.toml") && detail.contains("batch_maxx")),
                "{e:?}"
            );
        });
        with_env(&[("FACELENS_TOKENS", "short")], || {
            assert!(matches!(Config::load(None), Err(ConfigError::Invalid(_))));
        });
    }

    #[test]
    fn errors_never_print_a_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = "s3cret-token-0123456789";
        for text in [
            format!("tokens = {{ a = \"{secret}\" }}\n"),
            format!("upstream_token = [\"{secret}\"]\n"),
            format!("tokens = [\"{secret}\"\n"),
            format!("tokens = [\"{secret}\", 3]\n"),
        ] {
            let file = dir.path().join("t.toml");
            std::fs::write(&file, &text).expect("write");
            with_env(&[], || {
                let e = Config::load(Some(&file)).expect_err(&text).to_string();
                assert!(!e.contains(secret), "{e}");
                assert!(
                    e.contains("token") || e.contains("line 1"),
                    "says where: {e}"
                );
            });
        }
        with_env(
            &[
                ("FACELENS_UPSTREAM_TOKEN", secret),
                ("FACELENS_MAX_FACES", "x"),
            ],
            || {
                let e = Config::load(None).expect_err("bad max_faces").to_string();
                assert!(!e.contains(secret), "{e}");
            },
        );
    }
}
