//! Durable storage for `--data-dir`: every object, the resourceVersion counter and a bounded
//! watch history, in one redb database file. Each API write is one redb transaction, so a
//! restarted sandbox sees exactly the committed state.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const OBJECTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("objects");
const HISTORY: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("history");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "sandbox.redb";

/// Why persistence failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("creating data directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("opening {path}: {source}")]
    Open {
        path: String,
        source: redb::DatabaseError,
    },
    #[error("database: {0}")]
    Database(#[from] redb::Error),
    #[error("creating the initial namespaces: {0}")]
    Seed(String),
    #[error("stored object is not JSON: {0}")]
    Decode(#[from] serde_json::Error),
}

macro_rules! db_err {
    ($e:expr) => {
        $e.map_err(|e| PersistError::Database(e.into()))
    };
}

/// What was stored by an earlier run.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub resource_version: u64,
    pub history_floor: u64,
    /// `(storage key, object JSON)`.
    pub objects: Vec<(String, serde_json::Value)>,
    /// `(resourceVersion, change JSON)`, oldest first.
    pub history: Vec<(u64, serde_json::Value)>,
}

/// One transaction's worth of writes.
#[derive(Debug, Default)]
pub struct Batch {
    pub puts: Vec<(String, Vec<u8>)>,
    pub deletes: Vec<String>,
    pub history: Vec<(u64, Vec<u8>)>,
    /// History entries with a resourceVersion at or below this are dropped.
    pub history_floor: u64,
    pub resource_version: u64,
}

/// An open database.
pub struct Persistence {
    db: Database,
}

impl Persistence {
    pub fn open(dir: &Path) -> Result<Self, PersistError> {
        std::fs::create_dir_all(dir).map_err(|source| PersistError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(DATABASE_FILE);
        let db = Database::create(&path).map_err(|source| PersistError::Open {
            path: path.display().to_string(),
            source,
        })?;
        // Create the tables up front so that reads of a fresh database succeed.
        let txn = db_err!(db.begin_write())?;
        {
            db_err!(txn.open_table(OBJECTS))?;
            db_err!(txn.open_table(HISTORY))?;
            db_err!(txn.open_table(META))?;
        }
        db_err!(txn.commit())?;
        Ok(Self { db })
    }

    pub fn load(&self) -> Result<Snapshot, PersistError> {
        let txn = db_err!(self.db.begin_read())?;
        let meta = db_err!(txn.open_table(META))?;
        let mut snapshot = Snapshot {
            resource_version: db_err!(meta.get("resourceVersion"))?.map_or(0, |v| v.value()),
            history_floor: db_err!(meta.get("historyFloor"))?.map_or(0, |v| v.value()),
            ..Snapshot::default()
        };
        let objects = db_err!(txn.open_table(OBJECTS))?;
        for entry in db_err!(objects.iter())? {
            let (key, value) = db_err!(entry)?;
            snapshot.objects.push((
                key.value().to_owned(),
                serde_json::from_slice(value.value())?,
            ));
        }
        let history = db_err!(txn.open_table(HISTORY))?;
        for entry in db_err!(history.iter())? {
            let (rv, value) = db_err!(entry)?;
            snapshot
                .history
                .push((rv.value(), serde_json::from_slice(value.value())?));
        }
        Ok(snapshot)
    }

    pub fn write(&self, batch: &Batch) -> Result<(), PersistError> {
        let txn = db_err!(self.db.begin_write())?;
        {
            let mut objects = db_err!(txn.open_table(OBJECTS))?;
            for key in &batch.deletes {
                db_err!(objects.remove(key.as_str()))?;
            }
            for (key, value) in &batch.puts {
                db_err!(objects.insert(key.as_str(), value.as_slice()))?;
            }
            let mut history = db_err!(txn.open_table(HISTORY))?;
            for (rv, value) in &batch.history {
                db_err!(history.insert(*rv, value.as_slice()))?;
            }
            let floor = batch.history_floor;
            db_err!(history.retain_in(..=floor, |_, _| false))?;
            let mut meta = db_err!(txn.open_table(META))?;
            db_err!(meta.insert("resourceVersion", batch.resource_version))?;
            db_err!(meta.insert("historyFloor", batch.history_floor))?;
        }
        db_err!(txn.commit())?;
        Ok(())
    }
}
