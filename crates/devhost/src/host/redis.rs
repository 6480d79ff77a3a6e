//! `fermyon:spin/redis@2.0.0`: outbound Redis for guests, limited to
//! `allowed_outbound_hosts`. Replies to `execute` are flattened into
//! `redis-result` lists exactly as Spin converts them.
//!
//! As on Spin 4.0.2, every guest `open` opens a TCP connection of its own, at
//! once (a Redis that is down fails the `open`), used by that guest
//! connection alone and closed with it. Nothing is pooled across instances:
//! the cost of a connection per request (per instance, for a WASIp3 component
//! that keeps its connection open) is part of what an app pays on Spin, and
//! the devhost does not hide it (docs/devhost.md).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, FromRedisValue, Value};
use wasmtime::component::Resource;

use super::HostState;
use super::bindings::fermyon::spin2_0_0::redis::{
    Error, Host, HostConnection, RedisParameter, RedisResult,
};

/// One guest connection: a TCP connection of its own.
pub struct ConnectionHandle {
    conn: MultiplexedConnection,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Connects to `address` now, as Spin's `open` does.
async fn connect(address: &str) -> Result<MultiplexedConnection, Error> {
    let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(other)
}

/// An `execute` reply flattened the way Spin flattens it: nested arrays and
/// sets are spliced in order; maps, attributes, verbatim strings and push
/// messages are type errors; doubles and big numbers become their decimal
/// text; booleans become 0/1; `OK` becomes the status "OK".
struct Flattened(Vec<RedisResult>);

fn flatten(out: &mut Vec<RedisResult>, value: &Value) -> redis::RedisResult<()> {
    let unsupported = |what: &str| -> redis::RedisResult<()> {
        Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "Could not convert Redis response",
            what.to_string(),
        )))
    };
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(*i)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes.clone())),
        Value::SimpleString(s) => out.push(RedisResult::Status(s.clone())),
        Value::Okay => out.push(RedisResult::Status("OK".to_string())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(out, item)?;
            }
        }
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(*b))),
        Value::Map(_) => return unsupported("Redis Map type is not supported"),
        Value::Attribute { .. } => return unsupported("Redis Attribute type is not supported"),
        Value::VerbatimString { .. } => {
            return unsupported("Redis string with format attribute is not supported");
        }
        Value::Push { .. } => return unsupported("Redis Pub/Sub types are not supported"),
        Value::ServerError(e) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
                "Server error",
                format!("{e:?}"),
            )));
        }
        #[allow(unreachable_patterns)]
        other => out.push(RedisResult::Binary(format!("{other:?}").into_bytes())),
    }
    Ok(())
}

impl FromRedisValue for Flattened {
    fn from_redis_value(value: Value) -> Result<Self, redis::ParsingError> {
        let mut out = Vec::new();
        flatten(&mut out, &value).map_err(|e| redis::ParsingError::from(e.to_string()))?;
        Ok(Flattened(out))
    }
}

impl HostState {
    /// The connection of a guest handle (a cheap clone of a multiplexed one).
    fn redis_conn(
        &mut self,
        c: &Resource<ConnectionHandle>,
    ) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table().get(c)?.conn.clone())
    }
}

impl Host for HostState {}

macro_rules! with_conn {
    ($self:ident, $res:ident, |$c:ident| $body:expr) => {{
        let mut $c = $self.redis_conn(&$res)?;
        Ok($body.map_err(other))
    }};
}

impl HostConnection for HostState {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        if !self.env.allowed_hosts.allows_url(&address) {
            eprintln!(
                "[{}] outbound Redis to {address:?} is not allowed by allowed_outbound_hosts",
                self.env.id
            );
            return Ok(Err(Error::InvalidAddress));
        }
        let conn = match connect(&address).await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e)),
        };
        let handle = ConnectionHandle { conn };
        Ok(self
            .table()
            .push(handle)
            .map_err(|_| Error::TooManyConnections))
    }

    async fn publish(
        &mut self,
        c: Resource<ConnectionHandle>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        with_conn!(self, c, |conn| conn
            .publish::<_, _, ()>(channel, payload)
            .await)
    }

    async fn get(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        with_conn!(self, c, |conn| conn.get::<_, Option<Vec<u8>>>(key).await)
    }

    async fn set(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        with_conn!(self, c, |conn| conn.set::<_, _, ()>(key, value).await)
    }

    async fn incr(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        with_conn!(self, c, |conn| conn.incr::<_, _, i64>(key, 1).await)
    }

    async fn del(
        &mut self,
        c: Resource<ConnectionHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        with_conn!(self, c, |conn| conn.del::<_, u32>(keys).await)
    }

    async fn sadd(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.redis_conn(&c)?;
        let result: redis::RedisResult<u32> = conn.sadd(key, values).await;
        Ok(result.map_err(|e| {
            if e.kind() == redis::ErrorKind::UnexpectedReturnType {
                Error::TypeError
            } else {
                other(e)
            }
        }))
    }

    async fn smembers(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        with_conn!(self, c, |conn| conn.smembers::<_, Vec<String>>(key).await)
    }

    async fn srem(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        with_conn!(self, c, |conn| conn.srem::<_, _, u32>(key, values).await)
    }

    async fn execute(
        &mut self,
        c: Resource<ConnectionHandle>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut conn = self.redis_conn(&c)?;
        let mut cmd = redis::cmd(&command);
        for arg in arguments {
            match arg {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let result: redis::RedisResult<Flattened> = cmd.query_async(&mut conn).await;
        Ok(result.map(|f| f.0).map_err(other))
    }

    async fn drop(&mut self, c: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table().delete(c)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(value: Value) -> Result<Vec<RedisResult>, String> {
        let mut out = Vec::new();
        flatten(&mut out, &value).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn replies_flatten_like_spin() {
        let reply = Value::Array(vec![
            Value::Int(1),
            Value::Nil,
            Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Okay]),
            Value::SimpleString("PONG".into()),
            Value::Boolean(true),
            Value::Double(1.5),
        ]);
        let out = flat(reply).unwrap();
        assert!(matches!(out[0], RedisResult::Int64(1)));
        assert!(matches!(out[1], RedisResult::Nil));
        assert!(matches!(&out[2], RedisResult::Binary(b) if b == b"x"));
        assert!(matches!(&out[3], RedisResult::Status(s) if s == "OK"));
        assert!(matches!(&out[4], RedisResult::Status(s) if s == "PONG"));
        assert!(matches!(out[5], RedisResult::Int64(1)));
        assert!(matches!(&out[6], RedisResult::Binary(b) if b == b"1.5"));
    }

    #[test]
    fn an_empty_array_is_an_empty_list() {
        assert!(flat(Value::Array(vec![])).unwrap().is_empty());
    }

    #[test]
    fn maps_are_refused() {
        assert!(flat(Value::Map(vec![])).is_err());
    }
}
