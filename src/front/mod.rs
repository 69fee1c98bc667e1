//! The callers: each stack's hooks (network-scripts, ifupdown, NetworkManager, dhclient in
//! `hooks`), the CLI and `check`, `validate`, `peer-config`, the install of hooks, and the
//! program's dispatch by the name it was called by. They turn what happened into events for
//! `run::event` and know no mode.

pub mod check;
pub mod cli;
pub mod completions;
pub mod dispatch;
pub mod hooks;
pub mod ifupdown;
pub mod install;
pub mod metrics;
pub mod nm;
pub mod peer;
pub mod stack;
pub mod validate;
