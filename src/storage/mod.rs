//! URL → object store: the only place that knows URL schemes.
//!
//! Every input and output of junheng is addressed by a URL (`file:///…`, a plain path,
//! `memory://name/…`) and reached through an [`object_store::ObjectStore`]. Adding a scheme
//! means adding one arm to [`open`]; nothing else in the crate matches on schemes.
//! [`conditional`] makes put-if-absent work on S3-compatible stores that offer it differently.

pub mod conditional;

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::error::{Error, Result};

/// An opened URL: a store and the prefix inside it that the URL names.
#[derive(Debug, Clone)]
pub struct Location {
    /// The store holding the objects.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the store (empty for a local folder: the store is rooted there).
    pub prefix: Path,
    /// The URL in canonical form (`file:///abs/dir`, `memory://name/prefix`).
    pub url: String,
    /// For local folders, the folder on disk (symlinks and other OS-level conveniences use it).
    pub local_root: Option<PathBuf>,
    /// For S3 stores, the store itself, to ask how it creates exclusively.
    checked: Option<Arc<conditional::CheckedS3>>,
}

impl Location {
    /// How this store creates an object only if none exists (probed on S3 at the first call; see
    /// [`conditional`]), or an error naming the output and what the store answered where it
    /// cannot. The lock and the commit rely on it: writers call this before taking the lock.
    pub async fn exclusive_create(&self) -> Result<conditional::ExclusiveCreate> {
        let Some(checked) = &self.checked else { return Ok(conditional::ExclusiveCreate::Native) };
        checked.exclusive_create().await.map_err(|found| Error::NoExclusiveCreate { output: self.url.clone(), found })
    }

    /// The path of an object below this location (`staging/pupils/…` → `<prefix>/staging/pupils/…`).
    pub fn child(&self, relative: &str) -> Path {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.extend(relative.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
        // The key as people write it (学校经费.csv stays UTF-8, as `aws s3 cp` stores it);
        // `Path::from_iter` would percent-encode every non-ASCII byte. A part object_store cannot
        // take as it is (a control character) is encoded.
        Path::parse(parts.join("/")).unwrap_or_else(|_| Path::from_iter(parts))
    }

    /// The path of `location` relative to this location's prefix.
    pub fn relative(&self, location: &Path) -> Option<String> {
        location
            .prefix_match(&self.prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>().join("/"))
    }

    /// SHA-256 (hex) of an object's content, read as a stream (evidence files may be large).
    pub async fn sha256(&self, location: &Path) -> Result<String> {
        use futures::StreamExt;
        use object_store::ObjectStoreExt;
        use sha2::Digest;
        let uri = self.url_of(location);
        let result = self.store.get(location).await.map_err(|e| Error::store("read", &uri, e))?;
        let mut stream = result.into_stream();
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(chunk.map_err(|e| Error::store("read", &uri, e))?);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// The full URL of an object below this location, as recorded in provenance.
    pub fn url_of(&self, location: &Path) -> String {
        let rel = self.relative(location).unwrap_or_else(|| location.to_string());
        if rel.is_empty() { self.url.clone() } else { format!("{}/{}", self.url.trim_end_matches('/'), rel) }
    }
}

/// How to reach an object store, beyond what the URL says. Every field may also come from the
/// standard environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …);
/// credentials come only from the environment, never from a pipeline file.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageOptions {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Allow plain HTTP (local servers).
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.host`) instead of path-style (`host/bucket`).
    pub virtual_hosted_style: Option<bool>,
    /// How many times a failed request is retried (default 5; env `JUNHENG_STORE_RETRIES`).
    pub max_retries: Option<usize>,
    /// Give up retrying a request after this many seconds (default 60; env `JUNHENG_STORE_RETRY_SECONDS`).
    pub retry_timeout_seconds: Option<u64>,
}

/// Open a URL for reading (`create = false`: a local folder must exist) or writing.
pub fn open(url: &str, create: bool) -> Result<Location> {
    open_with(url, create, &StorageOptions::default())
}

/// Open a URL with store options (endpoint, region, retries) from a pipeline file.
pub fn open_with(url: &str, create: bool, options: &StorageOptions) -> Result<Location> {
    let url = url.trim();
    if url.is_empty() {
        return Err(Error::Url { url: url.into(), message: "empty URL".into() });
    }
    match scheme(url) {
        None | Some("file") => open_local(url, create),
        Some("memory") => open_memory(url),
        Some("s3" | "s3a") => open_s3(url, options),
        #[cfg(feature = "gcs")]
        Some("gs") => open_cloud(
            url,
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry_config(options))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        ),
        #[cfg(feature = "azure")]
        Some("az" | "abfs" | "abfss") => open_cloud(
            url,
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry_config(options))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        ),
        Some(other @ ("gs" | "az" | "abfs" | "abfss")) => Err(Error::Url {
            url: url.into(),
            message: format!(
                "`{other}://` needs a build with the `{0}` feature (cargo build --features {0})",
                if other == "gs" { "gcs" } else { "azure" }
            ),
        }),
        Some(other) => Err(Error::Url {
            url: url.into(),
            message: format!("scheme `{other}://` is not supported; use a local path, file://, s3://, or memory://"),
        }),
    }
}

/// The retry policy for stores reached over the network.
fn retry_config(options: &StorageOptions) -> object_store::RetryConfig {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    object_store::RetryConfig {
        max_retries: options.max_retries.or_else(|| env("JUNHENG_STORE_RETRIES").map(|n| n as usize)).unwrap_or(5),
        retry_timeout: std::time::Duration::from_secs(
            options.retry_timeout_seconds.or_else(|| env("JUNHENG_STORE_RETRY_SECONDS")).unwrap_or(60),
        ),
        ..object_store::RetryConfig::default()
    }
}

/// The bucket and prefix of `scheme://bucket/prefix`.
fn bucket_and_prefix(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split_once('/').map_or((rest, ""), |(b, p)| (b, p.trim_matches('/')))
}

fn open_s3(url: &str, options: &StorageOptions) -> Result<Location> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    // The client options as `from_env` sets them (AWS_ALLOW_HTTP, proxies, timeouts), kept apart
    // so that the store's variants (the OSS header) can be built from the same ones.
    let mut client = object_store::ClientOptions::new();
    for (key, value) in std::env::vars() {
        if key.starts_with("AWS_")
            && let Ok(AmazonS3ConfigKey::Client(key)) = key.to_ascii_lowercase().parse()
        {
            client = client.with_config(key, value);
        }
    }
    if let Some(allow) = options.allow_http {
        client = client.with_allow_http(allow);
    }
    let mut builder =
        AmazonS3Builder::from_env().with_url(url).with_retry(retry_config(options)).with_client_options(client.clone());
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some(virtual_hosted) = options.virtual_hosted_style {
        builder = builder.with_virtual_hosted_style_request(virtual_hosted);
    }
    // object_store panics on its first request when the endpoint is not a URL (an empty
    // AWS_ENDPOINT left by a script): say so before any request is made.
    let endpoint = builder.get_config_value(&object_store::aws::AmazonS3ConfigKey::Endpoint);
    if let Some(endpoint) = endpoint.filter(|e| url::Url::parse(e).is_err()) {
        return Err(Error::Url {
            url: url.into(),
            message: format!(
                "the S3 endpoint {endpoint:?} is not a URL: set AWS_ENDPOINT (or [source]/[output] endpoint) to one like http://127.0.0.1:9000, or unset it for AWS"
            ),
        });
    }
    let (_, prefix) = bucket_and_prefix(url);
    let store = conditional::CheckedS3::new(builder, client, &Path::from(prefix)).map_err(|e| Error::Url {
        url: url.into(),
        message: format!(
            "{e} (set AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or storage options in the pipeline)"
        ),
    })?;
    let store = Arc::new(store);
    let mut location = open_cloud(url, Ok(store.clone()))?;
    location.checked = Some(store);
    Ok(location)
}

fn open_cloud(url: &str, store: std::result::Result<Arc<dyn ObjectStore>, object_store::Error>) -> Result<Location> {
    let store = store.map_err(|e| Error::Url { url: url.into(), message: e.to_string() })?;
    let (bucket, prefix) = bucket_and_prefix(url);
    let scheme = scheme(url).unwrap_or("s3");
    let canonical =
        if prefix.is_empty() { format!("{scheme}://{bucket}") } else { format!("{scheme}://{bucket}/{prefix}") };
    Ok(Location { store, prefix: Path::from(prefix), url: canonical, local_root: None, checked: None })
}

/// The scheme of a URL, or None for a plain path (Windows drive letters are paths, not schemes).
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    (scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')).then_some(scheme)
}

fn open_local(url: &str, create: bool) -> Result<Location> {
    let path = match url.strip_prefix("file://") {
        Some(rest) => PathBuf::from(rest),
        None => PathBuf::from(url),
    };
    let absolute = if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .map_err(|source| Error::Io { operation: "find the current directory", path: path.clone(), source })?
            .join(path)
    };
    if create {
        create_folder(&absolute)?;
    } else if !absolute.is_dir() {
        return Err(Error::Url {
            url: url.into(),
            message: format!(
                "{} is not a folder (check the path; relative paths in a pipeline file are relative to that file)",
                absolute.display()
            ),
        });
    }
    let absolute = normalise_path(&absolute);
    let store = LocalFileSystem::new_with_prefix(&absolute).map_err(|e| Error::store("open", absolute.display(), e))?;
    Ok(Location {
        store: Arc::new(store),
        prefix: Path::default(),
        url: format!("file://{}", absolute.display()),
        local_root: Some(absolute),
        checked: None,
    })
}

/// Resolve `.` and `..` without touching the file system (the folder may be a symlink we own).
fn normalise_path(path: &FsPath) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `memory://name/prefix`: an in-process store shared by every URL with the same name (tests).
fn open_memory(url: &str) -> Result<Location> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let rest = &url["memory://".len()..];
    let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let store = STORES
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| Error::Worker("the registry of in-memory stores was poisoned by a panic".into()))?
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone();
    Ok(Location {
        store,
        prefix: Path::from(prefix),
        url: url.trim_end_matches('/').to_owned(),
        local_root: None,
        checked: None,
    })
}

/// Resolve a URL written in a pipeline file: a relative local path is relative to the file's folder.
pub fn resolve_relative(url: &str, base_dir: &FsPath) -> String {
    if scheme(url).is_some() || FsPath::new(url).is_absolute() {
        url.to_owned()
    } else {
        base_dir.join(url).display().to_string()
    }
}

/// Create a local folder (and its parents), or say which one could not be created.
pub fn create_folder(path: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        operation: "create folder",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_keeps_its_chinese_name_as_written() {
        let loc = open("memory://bucket/submissions", false).unwrap();
        assert_eq!(loc.child("231182/2018/学校经费.csv").as_ref(), "submissions/231182/2018/学校经费.csv");
    }

    #[test]
    fn schemes_are_recognised_and_unknown_ones_named() {
        assert_eq!(scheme("s3://bucket/x"), Some("s3"));
        assert_eq!(scheme("fixtures/x"), None);
        assert_eq!(scheme("C:/data"), None);
        let err = open("ftp://host/x", false).unwrap_err().to_string();
        assert!(err.contains("ftp://"), "{err}");
    }

    #[test]
    fn s3_urls_name_bucket_and_prefix() {
        assert_eq!(bucket_and_prefix("s3://bucket/a/b/"), ("bucket", "a/b"));
        assert_eq!(bucket_and_prefix("s3://bucket"), ("bucket", ""));
        let loc = open_with(
            "s3://bucket/sub/dir",
            false,
            &StorageOptions {
                endpoint: Some("http://127.0.0.1:1".into()),
                allow_http: Some(true),
                region: Some("us-east-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(loc.url, "s3://bucket/sub/dir");
        assert_eq!(loc.child("runs/x.json").to_string(), "sub/dir/runs/x.json");
        let err = open("gs://bucket/x", false).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(cfg!(feature = "gcs") || err.contains("--features gcs"), "{err}");
    }

    #[test]
    fn memory_stores_are_shared_by_name() {
        let a = open("memory://shared-test/one", false).unwrap();
        let b = open("memory://shared-test/two", false).unwrap();
        assert!(Arc::ptr_eq(&a.store, &b.store));
        assert_eq!(a.child("x/y.csv").to_string(), "one/x/y.csv");
        assert_eq!(a.url_of(&a.child("x/y.csv")), "memory://shared-test/one/x/y.csv");
    }

    #[test]
    fn local_paths_are_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let loc = open(dir.path().to_str().unwrap(), false).unwrap();
        assert!(loc.url.starts_with("file:///"));
        assert!(open(dir.path().join("missing").to_str().unwrap(), false).is_err());
        assert_eq!(resolve_relative("data", FsPath::new("/p")), "/p/data");
        assert_eq!(resolve_relative("memory://m/x", FsPath::new("/p")), "memory://m/x");
    }
}
