//! teqlctl: bond lines with Linux TEQL from the distribution's own network configuration.
//!
//! Shape: `config` (what the admin asked for) -> `plan` (what must change, given what the
//! kernel has) -> `apply` (changing it, through the `kernel::Kernel` seam: `netlink` and the
//! rest for real, in memory for tests). Hooks and the manual tool are thin
//! entry points over that pipeline.

pub mod config;
pub mod configured;
pub mod deadline;
pub mod env;
pub mod error;
pub mod exec;
pub mod exit;
pub mod front;
pub mod ids;
pub mod kernel;
pub mod log;
pub mod names;
pub mod nl_error;
pub mod out;
pub mod plan;
pub mod run;
pub mod statefile;
pub mod testpoint;
pub mod text;
