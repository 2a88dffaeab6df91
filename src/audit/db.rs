//! The seam between the store's logic (written once, in `store.rs`) and the two
//! database backends: a connection that runs SQL with positional parameters
//! (`$1, $2, …`, which both SQLite and PostgreSQL read) over a small value type.

/// A SQL value. Times are `Int` microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Real(f) => *f as i64,
            _ => 0,
        }
    }
    pub fn opt_int(&self) -> Option<i64> {
        match self {
            Value::Null => None,
            v => Some(v.int()),
        }
    }
    pub fn real(&self) -> f64 {
        match self {
            Value::Real(f) => *f,
            Value::Int(i) => *i as f64,
            _ => 0.0,
        }
    }
    pub fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            _ => String::new(),
        }
    }
    pub fn blob(&self) -> Vec<u8> {
        match self {
            Value::Blob(b) => b.clone(),
            _ => Vec::new(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Real(f)
    }
}
impl From<Option<i64>> for Value {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Value::Null, Value::Int)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Blob(b)
    }
}

/// A database error, as text without parameter values (they may carry record data).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

/// One connection of a backend.
pub trait Conn: Send + 'static {
    /// The backend, for logs and metrics.
    fn backend(&self) -> crate::metrics::AuditBackend;
    /// Statements without parameters (DDL, BEGIN, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// One statement; the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// One query; `each` sees every row.
    fn query(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&[Value])) -> Result<(), DbError>;
    /// Start a write transaction (SQLite: `BEGIN IMMEDIATE`, so writers queue instead of failing).
    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN")
    }
    /// The schema migrations of this backend, in order: (version, name, SQL).
    fn migrations(&self) -> &'static [(i64, &'static str, &'static str)];
    /// Inside the migration transaction: serialise concurrent migrators (PostgreSQL: advisory lock).
    fn lock_migrations(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

/// Rows of a query, collected.
pub fn rows(conn: &mut dyn Conn, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, DbError> {
    let mut out = Vec::new();
    conn.query(sql, params, &mut |r| out.push(r.to_vec()))?;
    Ok(out)
}

/// Apply the migrations not yet applied, each in its own transaction, recorded in `audit_migrations`.
pub fn migrate(conn: &mut dyn Conn) -> Result<(), DbError> {
    conn.batch("CREATE TABLE IF NOT EXISTS audit_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)")?;
    for (version, name, sql) in conn.migrations() {
        conn.begin()?;
        let step = (|| -> Result<(), DbError> {
            conn.lock_migrations()?;
            let done = rows(conn, "SELECT 1 FROM audit_migrations WHERE version = $1", &[Value::Int(*version)])?;
            if done.is_empty() {
                conn.batch(sql)?;
                conn.execute(
                    "INSERT INTO audit_migrations (version, name, applied_us) VALUES ($1, $2, $3)",
                    &[Value::Int(*version), (*name).into(), Value::Int(super::now_us())],
                )?;
                tracing::info!(version, name, "Applied an audit schema migration.");
            }
            Ok(())
        })();
        match step {
            Ok(()) => conn.batch("COMMIT")?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(DbError(format!("migration {version} ({name}): {e}")));
            }
        }
    }
    Ok(())
}
