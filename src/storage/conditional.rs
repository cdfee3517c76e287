//! Put-if-absent on S3-compatible stores that do not all offer it the same way.
//!
//! junheng's lock and commit create objects only if none exists (an *exclusive create*): two
//! runs must never both hold the lock nor both publish one version. AWS S3, MinIO, Ceph and moto
//! honour `If-None-Match: *` on a PUT; Alibaba Cloud OSS answers it with 501 Not Implemented and
//! offers `x-oss-forbid-overwrite: true` instead (409 when the object exists); some servers
//! ignore the header and overwrite. So before the first exclusive create on an S3 output
//! junheng *probes* the store with an object under `<output>/_junheng/probe/`: it writes it, then
//! tries to create it again (which must be refused) and to create a second, fresh one (which must
//! succeed) — first with `If-None-Match: *`, then with the OSS header — and uses the first way
//! that works. Where neither does, the run is refused before it takes its lock: junheng never
//! commits without an exclusive create.
//!
//! The probe also asks whether the store replaces an object only if unchanged (`If-Match`, used
//! by the lock's heartbeat and takeover). Where it does not, [`CheckedS3`] answers such a put with
//! `NotImplemented` — never an unconditional write behind the caller's back — and the lock falls
//! back to reading before writing (the commit stays exclusive either way).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RetryConfig, UpdateVersion,
};

/// Alibaba Cloud OSS's header for "create, but never overwrite".
pub const OSS_FORBID_OVERWRITE: &str = "x-oss-forbid-overwrite";

/// How a store creates an object only if none exists, as the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExclusiveCreate {
    /// Not a network store: the local disk and memory stores create exclusively themselves.
    Native,
    /// `If-None-Match: *` (AWS S3 and most S3-compatible servers).
    IfNoneMatch {
        /// Whether `If-Match` replaces an object only if unchanged.
        replace_if_unchanged: bool,
    },
    /// `x-oss-forbid-overwrite: true` (Alibaba Cloud OSS), the store having refused `If-None-Match`.
    ForbidOverwrite {
        /// What the store answered to `If-None-Match: *`.
        if_none_match: String,
        /// Whether `If-Match` replaces an object only if unchanged.
        replace_if_unchanged: bool,
    },
}

impl fmt::Display for ExclusiveCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExclusiveCreate::Native => write!(f, "the store's own exclusive create"),
            ExclusiveCreate::IfNoneMatch { .. } => write!(f, "`If-None-Match: *`"),
            ExclusiveCreate::ForbidOverwrite { if_none_match, .. } => write!(
                f,
                "`{OSS_FORBID_OVERWRITE}: true` (Alibaba Cloud OSS; to `If-None-Match: *` the store {if_none_match})"
            ),
        }
    }
}

impl ExclusiveCreate {
    /// Whether the store replaces an object only if it is unchanged since it was read.
    pub fn replace_if_unchanged(&self) -> bool {
        match self {
            ExclusiveCreate::Native => true,
            ExclusiveCreate::IfNoneMatch { replace_if_unchanged }
            | ExclusiveCreate::ForbidOverwrite { replace_if_unchanged, .. } => *replace_if_unchanged,
        }
    }
}

/// What the probe settled: the way to create, with the store that creates that way.
#[derive(Debug, Clone)]
struct Settled {
    way: ExclusiveCreate,
    /// Where exclusive creates go: the plain store, or one that sends the OSS header.
    creator: Arc<dyn ObjectStore>,
}

/// An S3 store whose exclusive create is probed before it is relied on (see the module doc).
/// Every call but a conditional put goes to the store as configured.
#[derive(Debug)]
pub struct CheckedS3 {
    plain: Arc<dyn ObjectStore>,
    /// The builder and client options the plain store was built from, to build its variants.
    builder: AmazonS3Builder,
    client: ClientOptions,
    /// Where probe objects go (`<output>/_junheng/probe`).
    probe_prefix: Path,
    settled: tokio::sync::OnceCell<Result<Settled, String>>,
}

impl fmt::Display for CheckedS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.plain)
    }
}

/// The retry policy of probe requests: a 501 is a server error, which the store's own policy
/// retries for up to a minute; a probe needs only to ride out a blip.
fn probe_retry() -> RetryConfig {
    RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(10), ..RetryConfig::default() }
}

impl CheckedS3 {
    /// Build the store (`builder` already carries `client`, the client options it was given),
    /// probing under `prefix/_junheng/probe` when first asked to create exclusively.
    pub fn new(
        builder: AmazonS3Builder,
        client: ClientOptions,
        prefix: &Path,
    ) -> Result<CheckedS3, object_store::Error> {
        let plain: Arc<dyn ObjectStore> = Arc::new(builder.clone().build()?);
        let probe_prefix = Path::from_iter(prefix.parts().chain(["_junheng".into(), "probe".into()]));
        Ok(CheckedS3 { plain, builder, client, probe_prefix, settled: tokio::sync::OnceCell::new() })
    }

    /// A variant of the store: with the OSS header on every request (and no conditional put of
    /// object_store's own, so that a create through it is never sent `If-None-Match`), and/or
    /// with the probe's retry policy.
    fn variant(&self, forbid_overwrite: bool, probing: bool) -> Result<AmazonS3, object_store::Error> {
        let mut builder = self.builder.clone();
        if forbid_overwrite {
            let mut headers = http::HeaderMap::new();
            headers.insert(OSS_FORBID_OVERWRITE, http::HeaderValue::from_static("true"));
            builder = builder
                .with_client_options(self.client.clone().with_default_headers(headers))
                .with_conditional_put(S3ConditionalPut::Disabled);
        }
        if probing {
            builder = builder.with_retry(probe_retry());
        }
        builder.build()
    }

    /// How this store creates exclusively: probed once, then remembered. An error says why
    /// neither way works (or the probe could not write at all).
    pub async fn exclusive_create(&self) -> Result<ExclusiveCreate, String> {
        self.probed().await.as_ref().map(|s| s.way.clone()).map_err(Clone::clone)
    }

    /// What the probe settled, as a store error where it found no way.
    async fn settled(&self) -> object_store::Result<Settled> {
        self.probed().await.clone().map_err(|why| object_store::Error::NotSupported { source: why.into() })
    }

    /// The probe's finding, probing at the first call.
    async fn probed(&self) -> &Result<Settled, String> {
        self.settled.get_or_init(|| self.probe()).await
    }

    /// Try each way of creating exclusively on probe objects, and settle on the first that works.
    async fn probe(&self) -> Result<Settled, String> {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        );
        let existing = self.probe_prefix.clone().join(format!("{unique}-existing"));
        let fresh = self.probe_prefix.clone().join(format!("{unique}-fresh"));
        let cannot_build = |e: object_store::Error| format!("could not build a client for the probe: {e}");
        // A store that cannot be written at all says so as it is, not as a missing feature.
        if let Err(e) = self.plain.put(&existing, PutPayload::from_static(b"junheng probe")).await {
            return Err(format!("could not write the probe object {existing}: {e}"));
        }
        let standard: Arc<dyn ObjectStore> = Arc::new(self.variant(false, true).map_err(cannot_build)?);
        let create = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let by_if_none_match = refuses_then_creates(&standard, &existing, &fresh, &create).await;
        let replace_if_unchanged = replaces_only_if_unchanged(&standard, &existing).await;
        // The OSS header is tried on the same two objects: `fresh` must be absent again.
        let _ = self.plain.delete(&fresh).await;
        let settled = match by_if_none_match {
            Ok(()) => {
                Ok(Settled { way: ExclusiveCreate::IfNoneMatch { replace_if_unchanged }, creator: self.plain.clone() })
            }
            Err(if_none_match) => {
                let oss: Arc<dyn ObjectStore> = Arc::new(self.variant(true, true).map_err(cannot_build)?);
                match refuses_then_creates(&oss, &existing, &fresh, &PutOptions::default()).await {
                    Ok(()) => Ok(Settled {
                        way: ExclusiveCreate::ForbidOverwrite { if_none_match, replace_if_unchanged },
                        creator: Arc::new(self.variant(true, false).map_err(cannot_build)?),
                    }),
                    Err(oss_header) => Err(format!(
                        "to a PUT with `If-None-Match: *` it {if_none_match}; with `{OSS_FORBID_OVERWRITE}: true` \
                         it {oss_header}"
                    )),
                }
            }
        };
        let _ = self.plain.delete(&fresh).await;
        let _ = self.plain.delete(&existing).await;
        settled
    }
}

/// Whether `store`, putting with `options`, refuses to create `existing` (which exists) and
/// creates `fresh` (which does not): Ok, or what it did instead, in words.
async fn refuses_then_creates(
    store: &Arc<dyn ObjectStore>,
    existing: &Path,
    fresh: &Path,
    options: &PutOptions,
) -> Result<(), String> {
    match store.put_opts(existing, PutPayload::from_static(b"overwritten"), options.clone()).await {
        Err(object_store::Error::AlreadyExists { .. }) => {}
        Ok(_) => return Err("overwrote an object that existed (it ignores the header)".into()),
        Err(e) => return Err(format!("answered {}", one_line(&e))),
    }
    match store.put_opts(fresh, PutPayload::from_static(b"created"), options.clone()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("refused an object that existed, but also one that did not ({})", one_line(&e))),
    }
}

/// Whether `store` refuses to replace `existing` under an ETag it does not have.
async fn replaces_only_if_unchanged(store: &Arc<dyn ObjectStore>, existing: &Path) -> bool {
    let stale = UpdateVersion { e_tag: Some("\"junheng-probe-no-such-etag\"".into()), version: None };
    let replace = PutOptions { mode: PutMode::Update(stale), ..PutOptions::default() };
    let answer = store.put_opts(existing, PutPayload::from_static(b"replaced"), replace).await;
    if !matches!(answer, Err(object_store::Error::Precondition { .. })) {
        tracing::info!(
            "the store does not replace an object only if unchanged (If-Match: {}): the lock's heartbeat rewrites \
             the lock after reading it, and a stale lock is deleted before it is taken; the commit stays exclusive",
            match &answer {
                Ok(_) => "ignored".to_owned(),
                Err(e) => one_line(e),
            }
        );
    }
    matches!(answer, Err(object_store::Error::Precondition { .. }))
}

/// An error on one line, its XML body (an S3 error document) shortened to its code and message.
fn one_line(error: &object_store::Error) -> String {
    let text = error.to_string().replace(['\n', '\r'], " ");
    let tag = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => {
            let status = text.split_once("status code: ").map(|(_, rest)| rest.chars().take(3).collect::<String>());
            let message = message.trim_end_matches('.');
            format!("{}{code}: {message}", status.map(|s| format!("{s} ")).unwrap_or_default())
        }
        _ => text.chars().take(300).collect(),
    }
}

#[async_trait]
impl ObjectStore for CheckedS3 {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match &opts.mode {
            PutMode::Overwrite => self.plain.put_opts(location, payload, opts).await,
            PutMode::Create => {
                let settled = self.settled().await?;
                match settled.way {
                    ExclusiveCreate::ForbidOverwrite { .. } => {
                        // The OSS header makes a plain put exclusive (409 → AlreadyExists).
                        let plain = PutOptions { mode: PutMode::Overwrite, ..opts };
                        settled.creator.put_opts(location, payload, plain).await
                    }
                    _ => settled.creator.put_opts(location, payload, opts).await,
                }
            }
            PutMode::Update(_) => {
                if self.settled().await?.way.replace_if_unchanged() {
                    self.plain.put_opts(location, payload, opts).await
                } else {
                    Err(object_store::Error::NotImplemented {
                        operation:
                            "a put only if unchanged (If-Match): the probe found the store ignores or refuses it".into(),
                        implementer: self.plain.to_string(),
                    })
                }
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.plain.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.plain.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.plain.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.plain.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.plain.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.plain.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.plain.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.plain.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_error_document_is_shortened_to_its_code_and_message() {
        let error = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://127.0.0.1:1/b/k in 2ms, after 2 retries - Server returned non-2xx \
                     status code: 501 Not Implemented: <?xml version=\"1.0\"?>\n<Error><Code>NotImplemented</Code>\
                     <Message>A header you provided implies functionality that is not implemented</Message></Error>"
                .into(),
        };
        assert_eq!(
            one_line(&error),
            "501 NotImplemented: A header you provided implies functionality that is not implemented"
        );
        let with_stop = error.to_string().replace("implemented</Message>", "implemented.</Message>");
        let with_stop = object_store::Error::Generic { store: "S3", source: with_stop.into() };
        assert!(one_line(&with_stop).ends_with("not implemented"), "{}", one_line(&with_stop));
        let plain = object_store::Error::Generic { store: "S3", source: "connection refused".into() };
        assert_eq!(one_line(&plain), "Generic S3 error: connection refused");
    }

    #[test]
    fn the_way_found_is_said_in_words() {
        let oss = ExclusiveCreate::ForbidOverwrite {
            if_none_match: "answered 501 NotImplemented".into(),
            replace_if_unchanged: false,
        };
        assert!(oss.to_string().contains("x-oss-forbid-overwrite: true") && oss.to_string().contains("501"));
        assert!(!oss.replace_if_unchanged());
        assert!(ExclusiveCreate::IfNoneMatch { replace_if_unchanged: true }.replace_if_unchanged());
    }
}
