//! The runs: the one entry (`event`), the one dispatch (`mode`), each mode's runs (`ops`),
//! applying a plan with its rollback (`apply`), the lock, and what teqlctl records between runs
//! (health, held lines, leases), and `status`'s view of each bundle.

pub mod apply;
pub mod dhcp;
pub mod event;
pub mod health;
pub mod held;
pub mod lock;
pub mod mode;
pub mod ops;
pub(crate) mod rates;
pub mod status;
