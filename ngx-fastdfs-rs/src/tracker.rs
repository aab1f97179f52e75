//! Spec §4.3: ask the trackers for `storage_sync_file_max_delay`, `use_storage_id` and the storage-id
//! table, once per configuration load (blocking I/O is fine there, never in a worker).

use crate::instance::Instance;
use crate::Level;

/// Ask the trackers; every failure is logged and the defaults stay in place.
pub fn load_from_trackers(inst: &mut Instance, log: &mut dyn FnMut(Level, &str)) {
    let _ = inst;
    log(
        Level::Warn,
        "load_fdfs_parameters_from_tracker is set but the tracker fetch is not implemented yet; \
         using the local defaults",
    );
}
