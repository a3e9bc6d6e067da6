//! cafectl: one declarative profile in, a highly available Redis cache and
//! HorizontalPodAutoscalers on Kubernetes out.
//!
//! `profile` and `render` work offline; nothing in them needs a cluster.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod profile;
pub mod redact;
pub mod render;
pub mod yaml;
