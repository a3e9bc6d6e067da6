//! cafectl: one declarative profile in, a highly available Redis cache and
//! HorizontalPodAutoscalers on Kubernetes out.

pub mod profile;
