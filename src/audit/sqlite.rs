//! The SQLite backend: one file, WAL journal, `synchronous = FULL` (every commit
//! is fsynced), busy timeout so that several processes can share the file.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::db::{Conn, DbError, Value};

const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial schema", include_str!("migrations/sqlite_0001.sql"))];

/// A connection to the audit database file.
pub struct SqliteConn(rusqlite::Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn err(e: rusqlite::Error) -> DbError {
    DbError(format!("sqlite: {e}"))
}

impl SqliteConn {
    /// Open (creating the directory and file as needed).
    pub fn open(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let c =
            rusqlite::Connection::open(path).map_err(|e| DbError(format!("cannot open {}: {e}", path.display())))?;
        c.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        Ok(Self(c))
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Conn for SqliteConn {
    fn backend(&self) -> crate::metrics::AuditBackend {
        crate::metrics::AuditBackend::Sqlite
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.execute_batch(sql).map_err(err)
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut st = self.0.prepare_cached(sql).map_err(err)?;
        st.execute(rusqlite::params_from_iter(params.iter())).map(|n| n as u64).map_err(err)
    }
    fn query(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&[Value])) -> Result<(), DbError> {
        let mut st = self.0.prepare_cached(sql).map_err(err)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(err)?;
        let mut buf = Vec::with_capacity(n);
        while let Some(r) = rows.next().map_err(err)? {
            buf.clear();
            for i in 0..n {
                buf.push(value(r.get_ref(i).map_err(err)?));
            }
            each(&buf);
        }
        Ok(())
    }
    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN IMMEDIATE")
    }
    fn migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        MIGRATIONS
    }
}
