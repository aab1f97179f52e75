//! [`Pool`]: idle connections kept per server, reused after an ACTIVE_TEST when they are old.
//!
//! A connection goes back to the pool only after a call that left it in a known state (a complete reply,
//! success or status). Anything else (timeout, I/O error, malformed reply, a cancelled future) drops it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::connection::Connection;
use super::error::{Result, Role};
use crate::addr::ServerAddr;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Keep idle connections at all (`use_connection_pool`).
    pub enabled: bool,
    /// An idle connection older than this is closed instead of reused
    /// (`connection_pool_max_idle_time`).
    pub max_idle_time: Duration,
    /// An idle connection older than this is checked with ACTIVE_TEST before reuse.
    pub check_after: Duration,
    /// At most this many idle connections per server.
    pub max_idle_per_server: usize,
    /// Connect timeout (`connect_timeout`).
    pub connect_timeout: Duration,
    /// Timeout of each read and write (`network_timeout`).
    pub network_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            enabled: true,
            max_idle_time: Duration::from_secs(3600),
            check_after: Duration::from_secs(1),
            max_idle_per_server: 32,
            connect_timeout: Duration::from_secs(5),
            network_timeout: Duration::from_secs(30),
        }
    }
}

/// A connection handed out by the pool, and whether it was reused (a reused one may have gone stale
/// between the check and the call; a fresh one did not).
#[derive(Debug)]
pub(crate) struct Lease {
    pub conn: Connection,
    pub reused: bool,
}

/// Idle connections per (role, server).
#[derive(Debug)]
pub(crate) struct Pool {
    cfg: PoolConfig,
    idle: Mutex<HashMap<(Role, ServerAddr), Vec<Connection>>>,
}

impl Pool {
    pub fn new(cfg: PoolConfig) -> Self {
        Pool {
            cfg,
            idle: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &PoolConfig {
        &self.cfg
    }

    fn take_idle(&self, role: Role, addr: &ServerAddr) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&(role, addr.clone()))?;
        list.pop()
    }

    /// An idle connection to `addr` (checked if old), or a new one.
    pub async fn get(&self, role: Role, addr: &ServerAddr, op: &str) -> Result<Lease> {
        while let Some(mut conn) = self.take_idle(role, addr) {
            let idle_for = conn.last_used().elapsed();
            if idle_for > self.cfg.max_idle_time {
                tracing::debug!(%addr, ?idle_for, "closing idle connection");
                continue;
            }
            if conn.looks_dead() {
                tracing::debug!(%addr, "idle connection was closed by the server");
                continue;
            }
            if idle_for >= self.cfg.check_after {
                if let Err(e) = conn.active_test().await {
                    tracing::debug!(%addr, error = %e, "idle connection failed ACTIVE_TEST");
                    continue;
                }
            }
            return Ok(Lease { conn, reused: true });
        }
        self.connect(role, addr, op).await
    }

    /// A new connection, bypassing idle ones.
    pub async fn connect(&self, role: Role, addr: &ServerAddr, op: &str) -> Result<Lease> {
        let conn = Connection::connect(
            role,
            addr,
            op,
            self.cfg.connect_timeout,
            self.cfg.network_timeout,
        )
        .await?;
        Ok(Lease {
            conn,
            reused: false,
        })
    }

    /// Gives back a connection after a complete call.
    pub fn put(&self, mut conn: Connection) {
        if !self.cfg.enabled || !conn.reusable() {
            return;
        }
        conn.touch();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry((conn.role(), conn.addr().clone())).or_default();
        if list.len() < self.cfg.max_idle_per_server {
            list.push(conn);
        }
    }

    /// Closes the idle connections to `addr` (after it failed).
    pub fn forget(&self, role: Role, addr: &ServerAddr) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.remove(&(role, addr.clone()));
    }

    /// How many idle connections the pool holds to `addr`.
    pub fn idle_count(&self, role: Role, addr: &ServerAddr) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.get(&(role, addr.clone())).map_or(0, Vec::len)
    }
}
