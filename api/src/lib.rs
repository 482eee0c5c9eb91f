//! # facelens_api
//!
//! The `/v1` API between facelens clients and `facelens-server`, and between the server's roles:
//!
//! - [`wire`]: the request and response bodies and the error body. The server's OpenAPI document
//!   is generated from these types and every client (de)serialises the same types, so the two
//!   cannot drift.
//! - [`client`]: the one typed client. Each endpoint is a [`client::Call`]; a
//!   [`client::BlockingClient`] (the desktop's worker thread) or an [`client::AsyncClient`] (the
//!   server's gateway calling its other roles) sends it.
//!
//! Knows HTTP but nothing of the pipeline's internals beyond the types it carries; inference and
//! image coding stay with the callers, off async workers.

pub mod client;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod wire;

pub use client::{AsyncClient, BlockingClient, Call, ClientError, Endpoint};
