//! teqlctl: bond lines with Linux TEQL from the distribution's own network configuration.
//!
//! Shape: `config` (what the admin asked for) -> `plan` (what must change, given what the
//! kernel has) -> `apply` (changing it, through the `kernel::Kernel` seam: `netlink` and the
//! rest for real, in memory for tests). Hooks and the manual tool are thin
//! entry points over that pipeline.

pub mod apply;
pub mod bundle_nat;
pub mod check;
pub mod cli;
pub mod completions;
pub mod config;
pub mod configured;
pub mod connection;
pub mod conntrack;
pub mod deadline;
pub mod dhcp;
pub mod dispatch;
pub mod env;
pub mod error;
pub mod event;
pub mod exec;
pub mod exit;
pub mod health;
pub mod held;
pub mod hooks;
pub mod ids;
pub mod ifupdown;
pub mod install;
pub mod kernel;
pub mod lock;
pub mod log;
pub mod metrics;
pub mod mode;
pub mod module;
pub mod multipath;
pub mod names;
pub mod nat_now;
pub mod netlink;
pub mod nfnetlink;
pub mod nft;
pub mod nl_error;
pub mod nm;
pub mod ops;
pub mod out;
pub mod peer;
pub mod plan;
pub mod probe;
pub mod route;
pub mod stack;
pub mod state;
pub mod statefile;
pub mod status;
pub mod sysctl;
pub mod testpoint;
pub mod text;
pub mod tunnel_errors;
pub mod validate;
