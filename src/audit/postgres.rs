//! The PostgreSQL backend: a synchronous client (`postgres`) per connection,
//! used only from the writer thread and blocking-pool readers; reconnects on
//! the next call after the server went away. Statements are prepared once per
//! connection.

use std::collections::HashMap;

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::db::{Conn, DbError, Value};

const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial schema", include_str!("migrations/postgres_0001.sql"))];

/// A (re)connecting PostgreSQL connection.
pub struct PgConn {
    config: postgres::Config,
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT4 => (*i as i32).to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn err(e: postgres::Error) -> DbError {
    // The server's message (e.g. a constraint or a refused connection), never parameter values.
    DbError(format!("postgres: {}", e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())))
}

fn value(row: &postgres::Row, i: usize) -> Result<Value, DbError> {
    let ty = row.columns()[i].type_().clone();
    let v = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i).map_err(err)?.map(Value::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i).map_err(err)?.map(|v| Value::Int(v.into()))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i).map_err(err)?.map(Value::Real)
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i).map_err(err)?.map(Value::Blob)
    } else {
        row.try_get::<_, Option<String>>(i).map_err(err)?.map(Value::Text)
    };
    Ok(v.unwrap_or(Value::Null))
}

impl PgConn {
    /// Connect now (start-up fails visibly when the server is unreachable).
    pub fn connect(url: &str, password: Option<&str>, timeout: std::time::Duration) -> Result<Self, DbError> {
        let mut config: postgres::Config = url.parse().map_err(err)?;
        config.connect_timeout(timeout);
        if let Some(p) = password {
            config.password(p);
        }
        let mut c = Self { config, client: None, statements: HashMap::new() };
        c.client()?;
        Ok(c)
    }

    fn client(&mut self) -> Result<&mut postgres::Client, DbError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.statements.clear();
            self.client = Some(self.config.connect(postgres::NoTls).map_err(err)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// After an error on a closed connection, forget it so the next call reconnects.
    fn check(&mut self, e: postgres::Error) -> DbError {
        if e.is_closed() || self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        err(e)
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.client()?.prepare(sql);
        let s = prepared.map_err(|e| self.check(e))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn {
    fn backend(&self) -> crate::metrics::AuditBackend {
        crate::metrics::AuditBackend::Postgres
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let r = self.client()?.batch_execute(sql);
        r.map_err(|e| self.check(e))
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let st = self.statement(sql)?;
        let r = self.client()?.execute(&st, &refs(params));
        r.map_err(|e| self.check(e))
    }
    fn query(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&[Value])) -> Result<(), DbError> {
        let st = self.statement(sql)?;
        let r = self.client()?.query(&st, &refs(params));
        let rows = r.map_err(|e| self.check(e))?;
        let mut buf = Vec::new();
        for row in &rows {
            buf.clear();
            for i in 0..row.len() {
                buf.push(value(row, i)?);
            }
            each(&buf);
        }
        Ok(())
    }
    fn migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        MIGRATIONS
    }
    fn lock_migrations(&mut self) -> Result<(), DbError> {
        // Two replicas starting together: one migrates, the other waits and then finds it done.
        self.batch("SELECT pg_advisory_xact_lock(7305166)")
    }
}
