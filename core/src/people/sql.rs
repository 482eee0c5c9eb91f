//! The people library's one boundary to SQL, on either backend: statements are written once with
//! `$1`-style parameters and plain types (integers, doubles, text, bytes) that mean the same in
//! SQLite and PostgreSQL; the gallery side of a transaction (enrol, un-enrol, move a face to
//! another name) goes through each store's own code, in the same transaction.

use rusqlite::types::ValueRef;

use crate::error::GalleryError;
use crate::gallery::ValidFace;
use crate::gallery::now_unix_s;
use crate::gallery::pg::{self, PgStore};
use crate::gallery::sqlite::{self, SqliteStore};

/// A value crossing the boundary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Self::Null, Self::Int)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

/// A row: its values in column order.
pub(crate) type Row = Vec<Val>;

fn mismatch(what: &str) -> GalleryError {
    GalleryError::Database {
        location: "people library".into(),
        detail: format!("unexpected column type: {what}"),
    }
}

impl Val {
    pub fn int(&self) -> Result<i64, GalleryError> {
        if let Self::Int(v) = self {
            Ok(*v)
        } else {
            Err(mismatch(&format!("{self:?} for an integer")))
        }
    }

    pub fn opt_int(&self) -> Result<Option<i64>, GalleryError> {
        if *self == Self::Null {
            Ok(None)
        } else {
            self.int().map(Some)
        }
    }

    pub fn real(&self) -> Result<f64, GalleryError> {
        if let Self::Real(v) = self {
            Ok(*v)
        } else {
            self.int().map(|v| v as f64)
        }
    }

    pub fn text(&self) -> Result<String, GalleryError> {
        if let Self::Text(v) = self {
            Ok(v.clone())
        } else {
            Err(mismatch(&format!("{self:?} for text")))
        }
    }

    pub fn opt_text(&self) -> Result<Option<String>, GalleryError> {
        if *self == Self::Null {
            Ok(None)
        } else {
            self.text().map(Some)
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, GalleryError> {
        if let Self::Bytes(v) = self {
            Ok(v.clone())
        } else {
            Err(mismatch(&format!("{self:?} for bytes")))
        }
    }
}

/// One transaction of the people library.
pub(crate) trait PeopleTx {
    /// Runs a statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, GalleryError>;
    /// Runs a query.
    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, GalleryError>;
    /// Enrols a face in the gallery; returns its gallery id.
    fn enrol(&mut self, face: &ValidFace) -> Result<i64, GalleryError>;
    /// Removes a gallery face (and its person when it was their last); nothing when it is gone.
    fn unenrol(&mut self, gallery_face: i64) -> Result<(), GalleryError>;
    /// Gives a gallery face to the person called `name`; `false` when the face is gone.
    fn move_enrolled(&mut self, gallery_face: i64, name: &str) -> Result<bool, GalleryError>;
}

/// The first row's first value, if any.
pub(crate) fn one(rows: &[Row]) -> Option<&Val> {
    rows.first().and_then(|r| r.first())
}

/// The embedded store's side: a connection (inside the store's transaction for writes).
pub(crate) struct SqliteTx<'a> {
    pub conn: &'a rusqlite::Connection,
    pub store: &'a SqliteStore,
}

impl SqliteTx<'_> {
    fn prepare(
        &self,
        sql: &str,
        params: &[Val],
    ) -> Result<rusqlite::CachedStatement<'_>, GalleryError> {
        let err = self.store.err();
        let mut st = self.conn.prepare_cached(sql).map_err(&err)?;
        for (i, v) in params.iter().enumerate() {
            let Some(idx) = st.parameter_index(&format!("${}", i + 1)).map_err(&err)? else {
                continue;
            };
            match v {
                Val::Null => st.raw_bind_parameter(idx, rusqlite::types::Null),
                Val::Int(x) => st.raw_bind_parameter(idx, x),
                Val::Real(x) => st.raw_bind_parameter(idx, x),
                Val::Text(x) => st.raw_bind_parameter(idx, x),
                Val::Bytes(x) => st.raw_bind_parameter(idx, x),
            }
            .map_err(&err)?;
        }
        Ok(st)
    }
}

impl PeopleTx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, GalleryError> {
        let mut st = self.prepare(sql, params)?;
        let n = st.raw_execute().map_err(self.store.err())?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, GalleryError> {
        let err = self.store.err();
        let mut st = self.prepare(sql, params)?;
        let n = st.column_count();
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(&err)? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i).map_err(&err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Real(v),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn enrol(&mut self, face: &ValidFace) -> Result<i64, GalleryError> {
        sqlite::insert_face(self.conn, face, now_unix_s()).map_err(self.store.err())
    }

    fn unenrol(&mut self, gallery_face: i64) -> Result<(), GalleryError> {
        sqlite::delete_face(self.conn, gallery_face)
            .map(|_| ())
            .map_err(self.store.err())
    }

    fn move_enrolled(&mut self, gallery_face: i64, name: &str) -> Result<bool, GalleryError> {
        sqlite::reassign_face(self.conn, gallery_face, name).map_err(self.store.err())
    }
}

/// The Postgres side: one transaction.
pub(crate) struct PgTx<'a, 'c> {
    pub tx: &'a mut postgres::Transaction<'c>,
    pub store: &'a PgStore,
}

fn pg_params(params: &[Val]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Val::Null => Box::new(None::<i64>),
                Val::Int(x) => Box::new(*x),
                Val::Real(x) => Box::new(*x),
                Val::Text(x) => Box::new(x.clone()),
                Val::Bytes(x) => Box::new(x.clone()),
            }
        })
        .collect()
}

fn pg_value(r: &postgres::Row, i: usize) -> Result<Val, postgres::Error> {
    use postgres::types::Type;
    let t = r.columns()[i].type_().clone();
    Ok(if t == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)?.into()
    } else if t == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)?.map(i64::from).into()
    } else if t == Type::INT2 {
        r.try_get::<_, Option<i16>>(i)?.map(i64::from).into()
    } else if t == Type::BOOL {
        r.try_get::<_, Option<bool>>(i)?.map(i64::from).into()
    } else if t == Type::FLOAT8 {
        r.try_get::<_, Option<f64>>(i)?.map_or(Val::Null, Val::Real)
    } else if t == Type::FLOAT4 {
        r.try_get::<_, Option<f32>>(i)?
            .map_or(Val::Null, |v| Val::Real(f64::from(v)))
    } else if t == Type::BYTEA {
        r.try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Val::Null, Val::Bytes)
    } else {
        r.try_get::<_, Option<String>>(i)?
            .map_or(Val::Null, Val::Text)
    })
}

impl PeopleTx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, GalleryError> {
        let owned = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            owned.iter().map(AsRef::as_ref).collect();
        self.tx.execute(sql, &refs).map_err(self.store.err())
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, GalleryError> {
        let owned = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            owned.iter().map(AsRef::as_ref).collect();
        let err = self.store.err();
        let rows = self.tx.query(sql, &refs).map_err(&err)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| pg_value(r, i))
                    .collect::<Result<Row, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)
    }

    fn enrol(&mut self, face: &ValidFace) -> Result<i64, GalleryError> {
        pg::insert_face(self.tx, face, now_unix_s()).map_err(self.store.err())
    }

    fn unenrol(&mut self, gallery_face: i64) -> Result<(), GalleryError> {
        pg::delete_face(self.tx, gallery_face)
            .map(|_| ())
            .map_err(self.store.err())
    }

    fn move_enrolled(&mut self, gallery_face: i64, name: &str) -> Result<bool, GalleryError> {
        pg::reassign_face(self.tx, gallery_face, name).map_err(self.store.err())
    }
}
