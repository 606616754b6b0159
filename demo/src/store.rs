//! A fake Rucio and the extension's local database, in memory: two instances with a few scopes,
//! RSEs and DIDs each, stored credentials (the `Vault`), the attached-files cache, replication requests, the
//! user's home directory and upload jobs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

/// How long a simulated replication or upload runs before it reports `OK`.
const TRANSFER_TIME: Duration = Duration::from_secs(2);

/// The JupyterLab user's home directory, and the files in it (relative paths).
const HOME: &str = "/home/jovyan";
const HOME_FILES: &[&str] = &[
    "README.md",
    "notebooks/ttbar-analysis.ipynb",
    "notebooks/higgs-to-4l.ipynb",
    "data/hist.root",
    "data/events.csv",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthType {
    Userpass,
    X509,
    X509Proxy,
    Oidc,
}

#[derive(Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// Rucio replicates files to an RSE mounted into JupyterLab.
    Replica,
    /// The extension downloads files into the user's home.
    Download,
}

#[derive(Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum DidType {
    Container,
    Dataset,
    File,
}

struct Did {
    scope: &'static str,
    name: &'static str,
    kind: DidType,
    /// Size in bytes, for files.
    bytes: u64,
    /// `scope:name` of the DIDs attached to a collection.
    children: &'static [&'static str],
}

impl Did {
    const fn file(scope: &'static str, name: &'static str, bytes: u64) -> Did {
        Did {
            scope,
            name,
            kind: DidType::File,
            bytes,
            children: &[],
        }
    }

    const fn collection(
        scope: &'static str,
        name: &'static str,
        kind: DidType,
        children: &'static [&'static str],
    ) -> Did {
        Did {
            scope,
            name,
            kind,
            bytes: 0,
            children,
        }
    }

    fn did(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
}

/// One configured Rucio instance and its catalogue.
pub(crate) struct Instance {
    name: &'static str,
    display_name: &'static str,
    mode: Mode,
    wildcard_enabled: bool,
    /// Where replicated files appear in JupyterLab.
    mount_path: &'static str,
    /// The instance's Rucio web UI, where `open-replication-rule` sends the browser.
    webui_url: &'static str,
    scopes: &'static [&'static str],
    rses: &'static [&'static str],
    dids: &'static [Did],
}

/// What `instances` shows of an instance: not its catalogue.
#[derive(Serialize)]
struct InstanceView {
    name: &'static str,
    display_name: &'static str,
    mode: Mode,
    webui_url: &'static str,
    oidc_enabled: bool,
}

/// The fixed catalogue. Nothing changes it, so it is read without the store's lock, and the
/// work a client's pattern causes never holds that lock.
static INSTANCES: [Instance; 2] = [
    Instance {
        name: "atlas",
        display_name: "ATLAS",
        mode: Mode::Replica,
        webui_url: "https://rucio-ui.cern.ch",
        wildcard_enabled: false,
        mount_path: "/eos/rucio",
        scopes: &["data18_13TeV", "mc16_13TeV", "user.alice"],
        rses: &[
            "CERN-PROD_DATADISK",
            "CERN-PROD_SCRATCHDISK",
            "BNL-OSG2_DATADISK",
            "DESY-HH_LOCALGROUPDISK",
        ],
        dids: &[
            Did::collection(
                "data18_13TeV",
                "data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS",
                DidType::Dataset,
                &[
                    "data18_13TeV:DAOD_PHYS.24125987._000001.pool.root.1",
                    "data18_13TeV:DAOD_PHYS.24125987._000002.pool.root.1",
                    "data18_13TeV:DAOD_PHYS.24125987._000003.pool.root.1",
                ],
            ),
            Did::file(
                "data18_13TeV",
                "DAOD_PHYS.24125987._000001.pool.root.1",
                2_147_483_648,
            ),
            Did::file(
                "data18_13TeV",
                "DAOD_PHYS.24125987._000002.pool.root.1",
                1_932_735_283,
            ),
            Did::file(
                "data18_13TeV",
                "DAOD_PHYS.24125987._000003.pool.root.1",
                805_306_368,
            ),
            Did::collection(
                "mc16_13TeV",
                "mc16_13TeV.410470.PhPy8EG_A14_ttbar.deriv.DAOD_PHYS",
                DidType::Dataset,
                &[
                    "mc16_13TeV:DAOD_PHYS.19279112._000001.pool.root.1",
                    "mc16_13TeV:DAOD_PHYS.19279112._000002.pool.root.1",
                ],
            ),
            Did::file(
                "mc16_13TeV",
                "DAOD_PHYS.19279112._000001.pool.root.1",
                3_221_225_472,
            ),
            Did::file(
                "mc16_13TeV",
                "DAOD_PHYS.19279112._000002.pool.root.1",
                2_684_354_560,
            ),
            Did::collection(
                "user.alice",
                "user.alice.ttbar.v1",
                DidType::Container,
                &[
                    "data18_13TeV:data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS",
                    "mc16_13TeV:mc16_13TeV.410470.PhPy8EG_A14_ttbar.deriv.DAOD_PHYS",
                ],
            ),
            Did::file("user.alice", "user.alice.hist.root", 52_428_800),
        ],
    },
    Instance {
        name: "cms",
        display_name: "CMS",
        mode: Mode::Download,
        webui_url: "https://cms-rucio-webui.cern.ch",
        wildcard_enabled: true,
        mount_path: "/home/jovyan/rucio",
        scopes: &["cms", "user.bob"],
        rses: &["T1_US_FNAL_Disk", "T2_CH_CERN", "T2_DE_DESY"],
        dids: &[
            Did::collection(
                "cms",
                "/DoubleMuon/Run2018A-UL2018_MiniAODv2-v1/MINIAOD",
                DidType::Dataset,
                &[
                    "cms:/store/data/Run2018A/DoubleMuon/MINIAOD/UL2018_MiniAODv2-v1/0001.root",
                    "cms:/store/data/Run2018A/DoubleMuon/MINIAOD/UL2018_MiniAODv2-v1/0002.root",
                ],
            ),
            Did::file(
                "cms",
                "/store/data/Run2018A/DoubleMuon/MINIAOD/UL2018_MiniAODv2-v1/0001.root",
                3_758_096_384,
            ),
            Did::file(
                "cms",
                "/store/data/Run2018A/DoubleMuon/MINIAOD/UL2018_MiniAODv2-v1/0002.root",
                3_489_660_928,
            ),
            Did::file("user.bob", "user.bob.skim.root", 104_857_600),
        ],
    },
];

pub(crate) fn instance(namespace: &str) -> Result<&'static Instance, ApiError> {
    INSTANCES
        .iter()
        .find(|instance| instance.name == namespace)
        .ok_or_else(|| ApiError::not_found(format!("unknown Rucio instance {namespace:?}")))
}

impl Instance {
    fn lookup(&self, did: &str) -> Result<&Did, ApiError> {
        let (scope, name) = split_did(did)?;
        self.dids
            .iter()
            .find(|d| d.scope == scope && d.name == name)
            .ok_or_else(|| ApiError::not_found(format!("DID not found: {did}")))
    }

    /// The files in a DID: itself for a file, else those of its collections, recursively.
    fn files_of<'a>(&'a self, did: &'a Did) -> Vec<&'a Did> {
        if did.kind == DidType::File {
            return vec![did];
        }
        did.children
            .iter()
            .filter_map(|child| self.lookup(child).ok())
            .flat_map(|child| self.files_of(child))
            .collect()
    }
}

fn split_did(did: &str) -> Result<(&str, &str), ApiError> {
    match did.split_once(':') {
        Some((scope, name)) if !scope.is_empty() && !name.is_empty() => Ok((scope, name)),
        _ => Err(ApiError::bad_request(format!(
            "expected a DID as scope:name, got {did:?}"
        ))),
    }
}

/// Rucio's wildcards: `*` (and SQL's `%`) match any run of characters, and nothing else is
/// special. Linear time, so a client's pattern cannot stall the server: the text between
/// wildcards must start the name, end it, and appear in order in between, and taking each middle
/// piece's leftmost occurrence never rules out a match that a later one would allow.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split(['*', '%']);
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let Some(last) = pieces.next_back() else {
        return rest.is_empty();
    };
    for piece in pieces {
        match rest.find(piece) {
            Some(start) => rest = &rest[start + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Bounds the work one pattern can cause, whatever the catalogue grows to.
fn check_length(pattern: &str) -> Result<(), ApiError> {
    if pattern.chars().count() > crate::MAX_PATTERN_LENGTH {
        return Err(ApiError::bad_request("pattern_too_long"));
    }
    Ok(())
}

#[derive(Serialize)]
pub(crate) struct InstancesView {
    active_instance: &'static str,
    auth_type: AuthType,
    instances: Vec<InstanceView>,
}

#[derive(Clone, Serialize)]
pub(crate) struct AttachedFile {
    did: String,
    size: u64,
}

#[derive(Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ReplicaStatus {
    NotAvailable,
    Replicating,
    Ok,
}

#[derive(Serialize)]
pub(crate) struct FileDetails {
    status: ReplicaStatus,
    did: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    size: u64,
}

#[derive(Serialize)]
pub(crate) struct SearchResult {
    did: String,
    #[serde(rename = "type")]
    kind: DidType,
    /// `null` for a collection, as upstream.
    size: Option<u64>,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum EntryKind {
    Dir,
    File,
}

#[derive(Serialize)]
pub(crate) struct DirectoryItem {
    #[serde(rename = "type")]
    kind: EntryKind,
    name: String,
    path: String,
}

/// The body of `POST upload`, as the extension's frontend sends it.
#[derive(Deserialize)]
pub(crate) struct UploadRequest {
    file_paths: Vec<String>,
    rse: String,
    scope: String,
    #[serde(default)]
    add_to_dataset: bool,
    dataset_scope: Option<String>,
    dataset_name: Option<String>,
    lifetime: Option<u64>,
}

struct UploadJob {
    id: u64,
    namespace: String,
    did: String,
    dataset_did: Option<String>,
    path: String,
    rse: String,
    lifetime: Option<u64>,
    started: Instant,
    /// Started during a simulated Rucio outage: its process ends without uploading.
    fails: bool,
}

/// Upstream's row of its `FileUploadJob` table, with the status it derives from the process.
#[derive(Serialize)]
pub(crate) struct UploadJobView {
    id: u64,
    namespace: String,
    did: String,
    dataset_did: Option<String>,
    path: String,
    rse: String,
    uploaded: bool,
    lifetime: Option<u64>,
    pid: u64,
    status: UploadStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum UploadStatus {
    Uploading,
    Ok,
    /// The upload's process ended without uploading.
    Failed,
}

impl UploadJob {
    fn view(&self) -> UploadJobView {
        let ended = self.started.elapsed() >= TRANSFER_TIME;
        let uploaded = ended && !self.fails;
        UploadJobView {
            id: self.id,
            namespace: self.namespace.clone(),
            did: self.did.clone(),
            dataset_did: self.dataset_did.clone(),
            path: self.path.clone(),
            rse: self.rse.clone(),
            uploaded,
            lifetime: self.lifetime,
            // A fake pid: upstream runs each upload in a child process.
            pid: 40_000 + self.id,
            status: match (ended, uploaded) {
                (false, _) => UploadStatus::Uploading,
                (true, true) => UploadStatus::Ok,
                (true, false) => UploadStatus::Failed,
            },
        }
    }

    fn log(&self) -> String {
        let mut log = format!(
            "Preparing upload of {path}\nUploading {did} to {rse}\n",
            path = self.path,
            did = self.did,
            rse = self.rse,
        );
        if self.started.elapsed() >= TRANSFER_TIME && self.fails {
            log.push_str("Rucio is unavailable: upload failed\n");
        } else if self.started.elapsed() >= TRANSFER_TIME {
            log.push_str(&format!("Successfully uploaded file {}\n", self.did));
            if let Some(dataset) = &self.dataset_did {
                log.push_str(&format!("Attached {} to {dataset}\n", self.did));
            }
        }
        log
    }
}

/// The Rucio credentials stored per instance: apart from the [`Store`], behind a lock of their
/// own, because every gated route reads them first (upstream's `ensure_credentials_present`).
pub(crate) struct Vault {
    credentials: HashMap<(String, AuthType), Value>,
}

impl Vault {
    /// With `signed_in`, credentials are stored for every instance, as after a user's first
    /// log-in; without, every gated route answers 401 until `auth` stores some.
    pub(crate) fn new(signed_in: bool) -> Vault {
        let credentials = INSTANCES
            .iter()
            .filter(|_| signed_in)
            .map(|instance| {
                let token = json!({ "token_path": "/home/jovyan/.rucio/oidc_token" });
                ((instance.name.to_owned(), AuthType::Oidc), token)
            })
            .collect();
        Vault { credentials }
    }

    pub(crate) fn credentials(&self, namespace: &str, auth: AuthType) -> Result<&Value, ApiError> {
        instance(namespace)?;
        self.credentials
            .get(&(namespace.to_owned(), auth))
            .ok_or_else(|| ApiError::not_found("Auth credentials not set"))
    }

    /// Whether any credentials are stored for the instance (upstream's
    /// `has_any_auth_credentials`).
    pub(crate) fn has_credentials(&self, namespace: &str) -> bool {
        self.credentials
            .keys()
            .any(|(stored, _)| stored == namespace)
    }

    pub(crate) fn set_credentials(
        &mut self,
        namespace: &str,
        auth: AuthType,
        params: Value,
    ) -> Result<(), ApiError> {
        instance(namespace)?;
        self.credentials
            .insert((namespace.to_owned(), auth), params);
        Ok(())
    }
}

/// What changes while the server runs; behind the app's one lock.
pub(crate) struct Store {
    active_instance: &'static str,
    active_auth: AuthType,
    /// The extension's cache of `files` answers, per (instance, DID); `purge-cache` empties it.
    attached_files: HashMap<(String, String), Vec<AttachedFile>>,
    /// When replication of a file was requested, per (instance, file DID).
    replications: HashMap<(String, String), Instant>,
    uploads: Vec<UploadJob>,
    next_upload_id: u64,
}

impl Store {
    pub(crate) fn new() -> Store {
        Store {
            active_instance: "atlas",
            active_auth: AuthType::Oidc,
            attached_files: HashMap::new(),
            replications: HashMap::new(),
            uploads: Vec::new(),
            next_upload_id: 1,
        }
    }

    pub(crate) fn instances(&self) -> InstancesView {
        InstancesView {
            active_instance: self.active_instance,
            auth_type: self.active_auth,
            instances: INSTANCES
                .iter()
                .map(|instance| InstanceView {
                    webui_url: instance.webui_url,
                    // Both instances sign in with OIDC here.
                    oidc_enabled: true,
                    name: instance.name,
                    display_name: instance.display_name,
                    mode: instance.mode,
                })
                .collect(),
        }
    }

    pub(crate) fn set_active(&mut self, namespace: &str, auth: AuthType) -> Result<(), ApiError> {
        self.active_instance = instance(namespace)?.name;
        self.active_auth = auth;
        Ok(())
    }

    pub(crate) fn cached_files(&self, namespace: &str, did: &str) -> Option<Vec<AttachedFile>> {
        self.attached_files
            .get(&(namespace.to_owned(), did.to_owned()))
            .cloned()
    }

    pub(crate) fn cache_files(&mut self, namespace: &str, did: &str, files: Vec<AttachedFile>) {
        self.attached_files
            .insert((namespace.to_owned(), did.to_owned()), files);
    }

    /// Upstream's `db.purge_cache()`: the cached `files` answers and the upload jobs.
    pub(crate) fn purge_cache(&mut self) {
        self.attached_files.clear();
        self.uploads.clear();
    }

    /// Each file of a DID with its replication status and, once available, its local path.
    pub(crate) fn did_details(
        &self,
        namespace: &str,
        did: &str,
    ) -> Result<Vec<FileDetails>, ApiError> {
        let instance = instance(namespace)?;
        let details = instance
            .files_of(instance.lookup(did)?)
            .into_iter()
            .map(|file| {
                let did = file.did();
                let status = match self.replications.get(&(namespace.to_owned(), did.clone())) {
                    None => ReplicaStatus::NotAvailable,
                    Some(requested) if requested.elapsed() < TRANSFER_TIME => {
                        ReplicaStatus::Replicating
                    }
                    Some(_) => ReplicaStatus::Ok,
                };
                let path = (status == ReplicaStatus::Ok).then(|| {
                    format!(
                        "{}/{}/{}",
                        instance.mount_path,
                        file.scope,
                        file.name.trim_start_matches('/')
                    )
                });
                FileDetails {
                    status,
                    did,
                    path,
                    size: file.bytes,
                }
            })
            .collect();
        Ok(details)
    }

    /// Starts replicating (or downloading) every file of a DID that is not there yet.
    pub(crate) fn make_available(&mut self, namespace: &str, did: &str) -> Result<(), ApiError> {
        let instance = instance(namespace)?;
        let files: Vec<String> = instance
            .files_of(instance.lookup(did)?)
            .into_iter()
            .map(Did::did)
            .collect();
        let now = Instant::now();
        for file in files {
            self.replications
                .entry((namespace.to_owned(), file))
                .or_insert(now);
        }
        Ok(())
    }

    /// The replication rule `make-available` made for `did` (or for the dataset that holds it):
    /// where `open-replication-rule` sends the browser, or `None` for its 404 page. `Err` is
    /// its plain-text 400 or 500 answer.
    pub(crate) fn replication_rule_url(
        &self,
        namespace: &str,
        did: &str,
    ) -> Result<Result<String, String>, (u16, &'static str)> {
        let Some((scope, name)) = did.split_once(':') else {
            return Err((400, "Malformed DID. Expected format: scope:name"));
        };
        let Ok(instance) = instance(namespace) else {
            return Err((
                500,
                "Internal server error: could not retrieve Rucio instance.",
            ));
        };
        if instance.mode != Mode::Replica {
            return Err((400, "Extension is not in Replica mode"));
        }
        let webui = instance.webui_url;
        let replicated = |file: &str| {
            self.replications
                .contains_key(&(namespace.to_owned(), file.to_owned()))
        };
        let has_rule = match instance.lookup(did) {
            Ok(found) => {
                let files = instance.files_of(found);
                !files.is_empty() && files.iter().all(|file| replicated(&file.did()))
            }
            Err(_) => false,
        };
        Ok(if has_rule {
            // A stable id per DID: the same rule each time it is opened.
            let rule_id: u64 = did.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
            Ok(format!("{webui}/rule?rule_id={rule_id:016x}"))
        } else {
            Err(format!("{webui}/did?scope={scope}&name={name}"))
        })
    }

    pub(crate) fn start_upload(
        &mut self,
        namespace: &str,
        request: UploadRequest,
        rucio_outage: bool,
    ) -> Result<(), ApiError> {
        let instance = instance(namespace)?;
        if request.file_paths.is_empty() {
            return Err(ApiError::bad_request("file_paths is empty"));
        }
        if !instance.rses.contains(&request.rse.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown RSE {:?}",
                request.rse
            )));
        }
        if !instance.scopes.contains(&request.scope.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown scope {:?}",
                request.scope
            )));
        }
        let dataset_did = if request.add_to_dataset {
            match (&request.dataset_scope, &request.dataset_name) {
                (Some(scope), Some(name)) => Some(format!("{scope}:{name}")),
                _ => {
                    return Err(ApiError::bad_request(
                        "add_to_dataset needs dataset_scope and dataset_name",
                    ));
                }
            }
        } else {
            None
        };
        let mut paths = Vec::with_capacity(request.file_paths.len());
        for path in &request.file_paths {
            let absolute = home_path(path);
            if !HOME_FILES
                .iter()
                .any(|file| format!("{HOME}/{file}") == absolute)
            {
                return Err(ApiError::bad_request(format!("no such file: {path}")));
            }
            paths.push(absolute);
        }
        for path in paths {
            let file_name = path.rsplit('/').next().unwrap_or(&path);
            self.uploads.push(UploadJob {
                id: self.next_upload_id,
                namespace: namespace.to_owned(),
                did: format!("{}:{file_name}", request.scope),
                dataset_did: dataset_did.clone(),
                rse: request.rse.clone(),
                lifetime: request.lifetime,
                path,
                started: Instant::now(),
                fails: rucio_outage,
            });
            self.next_upload_id += 1;
        }
        Ok(())
    }

    pub(crate) fn upload_jobs(&self, namespace: &str) -> Result<Vec<UploadJobView>, ApiError> {
        instance(namespace)?;
        Ok(self
            .uploads
            .iter()
            .filter(|job| job.namespace == namespace)
            .map(UploadJob::view)
            .collect())
    }

    fn upload_job_index(&self, namespace: &str, id: &str) -> Result<usize, ApiError> {
        instance(namespace)?;
        self.uploads
            .iter()
            .position(|job| job.namespace == namespace && job.id.to_string() == id)
            .ok_or_else(|| ApiError::not_found(format!("no upload job {id:?}")))
    }

    pub(crate) fn upload_job(&self, namespace: &str, id: &str) -> Result<UploadJobView, ApiError> {
        Ok(self.uploads[self.upload_job_index(namespace, id)?].view())
    }

    pub(crate) fn delete_upload_job(&mut self, namespace: &str, id: &str) -> Result<(), ApiError> {
        let index = self.upload_job_index(namespace, id)?;
        self.uploads.remove(index);
        Ok(())
    }

    /// The job's log, or `None` where upstream finds no log file.
    pub(crate) fn upload_log(&self, namespace: &str, id: &str) -> Option<String> {
        let index = self.upload_job_index(namespace, id).ok()?;
        Some(self.uploads[index].log())
    }
}

/// What Rucio's `list_files` answers for a DID.
pub(crate) fn files(namespace: &str, did: &str) -> Result<Vec<AttachedFile>, ApiError> {
    let instance = instance(namespace)?;
    Ok(instance
        .files_of(instance.lookup(did)?)
        .into_iter()
        .map(|file| AttachedFile {
            did: file.did(),
            size: file.bytes,
        })
        .collect())
}

pub(crate) fn search(
    namespace: &str,
    did: &str,
    search_type: &str,
) -> Result<Vec<SearchResult>, ApiError> {
    let instance = instance(namespace)?;
    // Upstream's `did.split(':')`: exactly a scope and a name, so `a:b:c` is malformed too.
    let (scope, pattern) = match did.split(':').collect::<Vec<_>>()[..] {
        [scope, name] if !scope.is_empty() && !name.is_empty() => (scope, name),
        _ => {
            return Err(ApiError::bad_request(format!(
                "Malformed DID received: '{did}'. Expected format: scope:name"
            )));
        }
    };
    check_length(pattern)?;
    if pattern.contains(['*', '%']) && !instance.wildcard_enabled {
        return Err(ApiError::bad_request("wildcard_disabled"));
    }
    let wanted: &[DidType] = match search_type {
        "collection" => &[DidType::Container, DidType::Dataset],
        "container" => &[DidType::Container],
        "dataset" => &[DidType::Dataset],
        "file" => &[DidType::File],
        "all" => &[DidType::Container, DidType::Dataset, DidType::File],
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown search type {other:?}: use collection, container, dataset, file or all"
            )));
        }
    };
    let found: Vec<SearchResult> = instance
        .dids
        .iter()
        .filter(|d| d.scope == scope && wanted.contains(&d.kind))
        .filter(|d| wildcard_match(pattern, d.name))
        .map(|d| SearchResult {
            did: d.did(),
            kind: d.kind,
            size: (d.kind == DidType::File).then_some(d.bytes),
        })
        .collect();
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "No DIDs found for scope: \"{scope}\". Please check the parameters or try a different \
             search."
        )));
    }
    Ok(found)
}

pub(crate) fn scopes(namespace: &str) -> Result<&'static [&'static str], ApiError> {
    Ok(instance(namespace)?.scopes)
}

/// RSE names matching an expression; only names and wildcards, not Rucio's full RSE
/// expression grammar.
pub(crate) fn rses(namespace: &str, expression: &str) -> Result<Vec<&'static str>, ApiError> {
    let rses = instance(namespace)?.rses;
    check_length(expression)?;
    Ok(rses
        .iter()
        .copied()
        .filter(|rse| wildcard_match(expression, rse))
        .collect())
}

/// `~/x`, `x` and `/home/jovyan/x` all name the same file; `""` is the home directory.
fn home_path(path: &str) -> String {
    let path = path.trim_end_matches('/');
    let relative = path
        .strip_prefix('~')
        .map(|rest| rest.trim_start_matches('/'));
    match relative {
        Some("") => HOME.to_owned(),
        Some(rest) => format!("{HOME}/{rest}"),
        None if path.is_empty() => HOME.to_owned(),
        None if path.starts_with('/') => path.to_owned(),
        None => format!("{HOME}/{path}"),
    }
}

/// The entries of a directory of the fake home, or `None` if there is no such directory.
pub(crate) fn list_directory(path: &str) -> Option<Vec<DirectoryItem>> {
    let directory = home_path(path);
    let mut entries = BTreeMap::new();
    for file in HOME_FILES {
        let full = format!("{HOME}/{file}");
        let Some(rest) = full.strip_prefix(&format!("{directory}/")) else {
            continue;
        };
        let (name, kind) = match rest.split_once('/') {
            Some((dir, _)) => (dir, EntryKind::Dir),
            None => (rest, EntryKind::File),
        };
        entries.insert(name.to_owned(), kind);
    }
    if entries.is_empty() {
        return None;
    }
    Some(
        entries
            .into_iter()
            .map(|(name, kind)| DirectoryItem {
                kind,
                path: format!("{directory}/{name}"),
                name,
            })
            .collect(),
    )
}

/// Unix time one hour from now: when the fake OIDC token expires.
pub(crate) fn oidc_token_expiry() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() + 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enums and views serialize to the JSON the extension's frontend reads.
    #[test]
    fn statuses_kinds_and_views_keep_their_json() {
        fn json(value: impl Serialize) -> Value {
            serde_json::to_value(value).unwrap()
        }
        assert_eq!(json(ReplicaStatus::NotAvailable), "NOT_AVAILABLE");
        assert_eq!(json(ReplicaStatus::Replicating), "REPLICATING");
        assert_eq!(json(ReplicaStatus::Ok), "OK");
        assert_eq!(json(UploadStatus::Uploading), "UPLOADING");
        assert_eq!(json(UploadStatus::Ok), "OK");
        let home = list_directory("~").unwrap();
        let kinds: Vec<_> = home.iter().map(|item| json(item.kind)).collect();
        assert_eq!(kinds, ["file", "dir", "dir"]);
        assert_eq!(
            json(Store::new().instances()),
            serde_json::json!({
                "active_instance": "atlas",
                "auth_type": "oidc",
                "instances": [
                    {"name": "atlas", "display_name": "ATLAS", "mode": "replica",
                     "webui_url": "https://rucio-ui.cern.ch", "oidc_enabled": true},
                    {"name": "cms", "display_name": "CMS", "mode": "download",
                     "webui_url": "https://cms-rucio-webui.cern.ch", "oidc_enabled": true},
                ],
            })
        );
    }

    #[test]
    fn a_pattern_without_wildcards_matches_only_itself() {
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("T2_CH_CERN", "T2_CH_CERN"));
        assert!(!wildcard_match("T2_CH_CERN", "T2_CH_CERN2"));
        assert!(!wildcard_match("T2_CH_CERN", "T2_CH_CER"));
        // Only `*` and `%` are special: no `?`, no character classes.
        assert!(!wildcard_match("T?", "T2"));
        assert!(wildcard_match("[a]", "[a]"));
    }

    #[test]
    fn stars_and_percents_match_any_run_including_none() {
        for pattern in ["*", "%", "**", "*%*", "%%%%"] {
            assert!(wildcard_match(pattern, ""), "{pattern}");
            assert!(wildcard_match(pattern, "anything at all"), "{pattern}");
        }
        assert!(wildcard_match("T2_*", "T2_"));
        assert!(wildcard_match("T2_*", "T2_DE_DESY"));
        assert!(!wildcard_match("T2_*", "T1_US_FNAL_Disk"));
        assert!(wildcard_match("*DISK", "CERN-PROD_DATADISK"));
        assert!(!wildcard_match("*DISK", "CERN-PROD_DATADISK2"));
        assert!(wildcard_match("CERN%DISK", "CERN-PROD_SCRATCHDISK"));
        assert!(wildcard_match("*_*_*", "T2_CH_CERN"));
        assert!(!wildcard_match("*_*_*_*", "T2_CH_CERN"));
        // The prefix and the suffix may not share characters.
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("ab*ba", "abba"));
        // Middle pieces appear in order, without overlapping.
        assert!(wildcard_match("*a*b*", "xaxbx"));
        assert!(!wildcard_match("*b*a*", "xaxbx"));
        assert!(!wildcard_match("*aa*aa*", "aaa"));
        assert!(wildcard_match("*aa*aa*", "aaaa"));
    }

    /// The backtracking matcher this one replaced: exponential, but the definition.
    fn backtracking_match(pattern: &str, text: &str) -> bool {
        match pattern.chars().next() {
            None => text.is_empty(),
            Some('*' | '%') => (0..=text.len())
                .filter(|&index| text.is_char_boundary(index))
                .any(|index| backtracking_match(&pattern[1..], &text[index..])),
            Some(c) => text
                .strip_prefix(c)
                .is_some_and(|text| backtracking_match(&pattern[c.len_utf8()..], text)),
        }
    }

    /// Every string of up to `length` characters from `alphabet`.
    fn strings(alphabet: &[char], length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = all.clone();
        for _ in 0..length {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_backtracking_matcher_on_every_small_case() {
        let texts = strings(&['a', 'b'], 5);
        for pattern in strings(&['a', 'b', '*', '%'], 5) {
            for text in &texts {
                assert_eq!(
                    wildcard_match(&pattern, text),
                    backtracking_match(&pattern, text),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn unicode_is_matched_by_characters_not_bytes() {
        assert!(wildcard_match("ü*", "über"));
        assert!(wildcard_match("*ß", "Straß"));
        assert!(wildcard_match("*€*", "10 € fee"));
        assert!(wildcard_match("日*語", "日本語"));
        assert!(!wildcard_match("日*語", "日本"));
        assert!(!wildcard_match("u*", "über"));
    }

    #[test]
    fn many_wildcards_give_the_same_answers_as_few() {
        let name = "DAOD_PHYS.24125987._000001.pool.root.1";
        let stars = "*".repeat(200);
        assert!(wildcard_match(&stars, name));
        assert!(!wildcard_match(&format!("{stars}Z"), name));
        assert!(wildcard_match(&format!("{stars}1{stars}"), name));
        assert!(!wildcard_match(&format!("{stars}Z{stars}"), name));
    }
}
