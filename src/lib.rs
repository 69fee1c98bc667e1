//! teqlctl: bond lines with Linux TEQL from the distribution's own network configuration.
//!
//! Shape: `config` (what the admin asked for) -> `plan` (what must change, given what the
//! kernel has) -> `apply` (changing it, through `netlink`). Hooks and the manual tool are thin
//! entry points over that pipeline.

pub mod config;
pub mod netlink;
pub mod apply;
pub mod check;
pub mod error;
pub mod exec;
pub mod lock;
pub mod log;
pub mod module;
pub mod ops;
pub mod plan;
pub mod probe;
pub mod route;
pub mod multipath;
pub mod state;
pub mod statefile;
pub mod sysctl;
pub mod text;
pub mod cli;
pub mod dispatch;
pub mod env;
pub mod health;
pub mod hooks;
pub mod ifupdown;
pub mod install;
pub mod status;
