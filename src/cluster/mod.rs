//! Everything that talks to a cluster: connection, discovery, the live
//! state, plans (diff, prune, teardown) and their execution, waits.
//! `render` never reaches in here; the verbs in `commands` only print.

pub mod apply;
pub mod connect;
pub mod destructive;
pub mod discovery;
pub mod error;
pub mod exec;
pub mod health;
pub mod inventory;
pub mod live;
pub mod normalize;
pub mod outcome;
pub mod password;
pub mod placement;
pub mod plan;
pub mod readiness;
pub mod request_log;
pub mod retry;
pub mod saved_plan;
pub mod session;
pub mod shrink;
pub mod state;
pub mod status;
pub mod teardown;
pub mod wait;

use crate::render::context::MANAGER;

/// The field manager of every change cafectl makes.
pub const FIELD_MANAGER: &str = MANAGER;
/// The field manager of the one write cafectl makes outside server-side
/// apply: the generated password, which later applies must never touch.
pub const PASSWORD_MANAGER: &str = "cafectl-password";
