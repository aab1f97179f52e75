//! Command codes (the 9th header byte) and their names.
//!
//! Tracker, storage and storage-to-storage commands of FastDFS 6.x. Replies always carry [`RESP`].

/// Reply to anything (tracker and storage).
pub const RESP: u8 = 100;
/// Keep-alive, tracker and storage; empty body, empty reply.
pub const ACTIVE_TEST: u8 = 111;
/// Close the connection; empty body, no reply.
pub const QUIT: u8 = 82;

// ---- tracker: client service ----
/// Which storage to upload to (any group): one server.
pub const QUERY_STORE_WITHOUT_GROUP_ONE: u8 = 101;
/// Which storage to download from.
pub const QUERY_FETCH_ONE: u8 = 102;
/// Which storage to update (delete, set metadata, append...) on: the source server.
pub const QUERY_UPDATE: u8 = 103;
/// Which storage to upload to in a given group: one server.
pub const QUERY_STORE_WITH_GROUP_ONE: u8 = 104;
/// Every storage a file can be downloaded from.
pub const QUERY_FETCH_ALL: u8 = 105;
/// Which storages to upload to (any group): all of them.
pub const QUERY_STORE_WITHOUT_GROUP_ALL: u8 = 106;
/// Which storages to upload to in a given group: all of them.
pub const QUERY_STORE_WITH_GROUP_ALL: u8 = 107;

// ---- tracker: monitor / admin ----
/// Stat of one group.
pub const SERVER_LIST_ONE_GROUP: u8 = 90;
/// Stat of every group.
pub const SERVER_LIST_ALL_GROUPS: u8 = 91;
/// Stat of the storages of a group.
pub const SERVER_LIST_STORAGE: u8 = 92;
/// Delete a storage from a group.
pub const SERVER_DELETE_STORAGE: u8 = 93;
/// Set the trunk server of a group.
pub const SERVER_SET_TRUNK_SERVER: u8 = 94;
/// Who is the tracker leader (`ip:port` text reply).
pub const SERVER_GET_LEADER: u8 = 95;
/// Stat of every tracker of the cluster.
pub const SERVER_TRACKER_CLUSTER_STAT: u8 = 96;
/// Stat of every storage of the cluster.
pub const SERVER_STORAGE_CLUSTER_STAT: u8 = 97;
/// Volume stat of every group.
pub const SERVER_STORAGE_VOLUMN_STAT: u8 = 98;
/// Delete a group.
pub const SERVER_DELETE_GROUP: u8 = 108;

// ---- tracker: storage-facing ----
/// Storage joins the tracker.
pub const STORAGE_JOIN: u8 = 81;
/// Storage heart beat.
pub const STORAGE_BEAT: u8 = 83;
/// Storage reports disk usage.
pub const STORAGE_REPORT_DISK_USAGE: u8 = 84;
/// Storage asks for the storage parameters (`key=value\n` text reply).
pub const STORAGE_PARAMETER_REQ: u8 = 75;
/// Storage fetches the storage ids (storage_ids.conf) from the tracker.
pub const STORAGE_FETCH_STORAGE_IDS: u8 = 69;
/// Storage asks its server id.
pub const STORAGE_GET_SERVER_ID: u8 = 70;
/// Storage asks its status.
pub const STORAGE_GET_STATUS: u8 = 71;
/// Storage asks its own ip as seen by the tracker.
pub const STORAGE_GET_MY_IP: u8 = 60;
/// Storage asks its group name.
pub const STORAGE_GET_GROUP_NAME: u8 = 109;

// ---- storage: client service ----
/// Storage-to-storage: the sender's storage id.
pub const STORAGE_REPORT_SERVER_ID: u8 = 9;
/// Upload a normal file.
pub const UPLOAD_FILE: u8 = 11;
/// Delete a file.
pub const DELETE_FILE: u8 = 12;
/// Set metadata ('O' overwrite or 'M' merge).
pub const SET_METADATA: u8 = 13;
/// Download a file (or a range).
pub const DOWNLOAD_FILE: u8 = 14;
/// Get metadata.
pub const GET_METADATA: u8 = 15;
/// Storage-to-storage: a new file.
pub const SYNC_CREATE_FILE: u8 = 16;
/// Storage-to-storage: a deleted file.
pub const SYNC_DELETE_FILE: u8 = 17;
/// Storage-to-storage: a replaced file.
pub const SYNC_UPDATE_FILE: u8 = 18;
/// Storage-to-storage: a new link.
pub const SYNC_CREATE_LINK: u8 = 19;
/// Create a link.
pub const CREATE_LINK: u8 = 20;
/// Upload a slave file of a master.
pub const UPLOAD_SLAVE_FILE: u8 = 21;
/// Size, create time, crc32, source ip of a file.
pub const QUERY_FILE_INFO: u8 = 22;
/// Upload an appender file.
pub const UPLOAD_APPENDER_FILE: u8 = 23;
/// Append to an appender file.
pub const APPEND_FILE: u8 = 24;
/// Storage-to-storage: appended data.
pub const SYNC_APPEND_FILE: u8 = 25;
/// Fetch the binlog of one store path.
pub const FETCH_ONE_PATH_BINLOG: u8 = 26;
/// Modify a range of an appender file.
pub const MODIFY_FILE: u8 = 34;
/// Storage-to-storage: modified data.
pub const SYNC_MODIFY_FILE: u8 = 35;
/// Truncate an appender file.
pub const TRUNCATE_FILE: u8 = 36;
/// Storage-to-storage: truncation.
pub const SYNC_TRUNCATE_FILE: u8 = 37;
/// Turn an appender file into a normal file with a new name (6.02+).
pub const REGENERATE_APPENDER_FILENAME: u8 = 38;
/// Storage-to-storage: rename (after REGENERATE_APPENDER_FILENAME).
pub const SYNC_RENAME_FILE: u8 = 40;

/// The symbolic name of a command code (`"UPLOAD_FILE"`), or `None` for an unknown code.
pub fn name(cmd: u8) -> Option<&'static str> {
    Some(match cmd {
        RESP => "RESP",
        ACTIVE_TEST => "ACTIVE_TEST",
        QUIT => "QUIT",
        QUERY_STORE_WITHOUT_GROUP_ONE => "QUERY_STORE_WITHOUT_GROUP_ONE",
        QUERY_FETCH_ONE => "QUERY_FETCH_ONE",
        QUERY_UPDATE => "QUERY_UPDATE",
        QUERY_STORE_WITH_GROUP_ONE => "QUERY_STORE_WITH_GROUP_ONE",
        QUERY_FETCH_ALL => "QUERY_FETCH_ALL",
        QUERY_STORE_WITHOUT_GROUP_ALL => "QUERY_STORE_WITHOUT_GROUP_ALL",
        QUERY_STORE_WITH_GROUP_ALL => "QUERY_STORE_WITH_GROUP_ALL",
        SERVER_LIST_ONE_GROUP => "SERVER_LIST_ONE_GROUP",
        SERVER_LIST_ALL_GROUPS => "SERVER_LIST_ALL_GROUPS",
        SERVER_LIST_STORAGE => "SERVER_LIST_STORAGE",
        SERVER_DELETE_STORAGE => "SERVER_DELETE_STORAGE",
        SERVER_SET_TRUNK_SERVER => "SERVER_SET_TRUNK_SERVER",
        SERVER_GET_LEADER => "SERVER_GET_LEADER",
        SERVER_TRACKER_CLUSTER_STAT => "SERVER_TRACKER_CLUSTER_STAT",
        SERVER_STORAGE_CLUSTER_STAT => "SERVER_STORAGE_CLUSTER_STAT",
        SERVER_STORAGE_VOLUMN_STAT => "SERVER_STORAGE_VOLUMN_STAT",
        SERVER_DELETE_GROUP => "SERVER_DELETE_GROUP",
        STORAGE_JOIN => "STORAGE_JOIN",
        STORAGE_BEAT => "STORAGE_BEAT",
        STORAGE_REPORT_DISK_USAGE => "STORAGE_REPORT_DISK_USAGE",
        STORAGE_PARAMETER_REQ => "STORAGE_PARAMETER_REQ",
        STORAGE_FETCH_STORAGE_IDS => "STORAGE_FETCH_STORAGE_IDS",
        STORAGE_GET_SERVER_ID => "STORAGE_GET_SERVER_ID",
        STORAGE_GET_STATUS => "STORAGE_GET_STATUS",
        STORAGE_GET_MY_IP => "STORAGE_GET_MY_IP",
        STORAGE_GET_GROUP_NAME => "STORAGE_GET_GROUP_NAME",
        STORAGE_REPORT_SERVER_ID => "STORAGE_REPORT_SERVER_ID",
        UPLOAD_FILE => "UPLOAD_FILE",
        DELETE_FILE => "DELETE_FILE",
        SET_METADATA => "SET_METADATA",
        DOWNLOAD_FILE => "DOWNLOAD_FILE",
        GET_METADATA => "GET_METADATA",
        SYNC_CREATE_FILE => "SYNC_CREATE_FILE",
        SYNC_DELETE_FILE => "SYNC_DELETE_FILE",
        SYNC_UPDATE_FILE => "SYNC_UPDATE_FILE",
        SYNC_CREATE_LINK => "SYNC_CREATE_LINK",
        CREATE_LINK => "CREATE_LINK",
        UPLOAD_SLAVE_FILE => "UPLOAD_SLAVE_FILE",
        QUERY_FILE_INFO => "QUERY_FILE_INFO",
        UPLOAD_APPENDER_FILE => "UPLOAD_APPENDER_FILE",
        APPEND_FILE => "APPEND_FILE",
        SYNC_APPEND_FILE => "SYNC_APPEND_FILE",
        FETCH_ONE_PATH_BINLOG => "FETCH_ONE_PATH_BINLOG",
        MODIFY_FILE => "MODIFY_FILE",
        SYNC_MODIFY_FILE => "SYNC_MODIFY_FILE",
        TRUNCATE_FILE => "TRUNCATE_FILE",
        SYNC_TRUNCATE_FILE => "SYNC_TRUNCATE_FILE",
        REGENERATE_APPENDER_FILENAME => "REGENERATE_APPENDER_FILENAME",
        SYNC_RENAME_FILE => "SYNC_RENAME_FILE",
        _ => return None,
    })
}

/// Like [`name`], with `"?"` for an unknown code (for display).
pub fn name_or_unknown(cmd: u8) -> &'static str {
    name(cmd).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(UPLOAD_FILE), Some("UPLOAD_FILE"));
        assert_eq!(name(STORAGE_PARAMETER_REQ), Some("STORAGE_PARAMETER_REQ"));
        assert_eq!(name(250), None);
        assert_eq!(name_or_unknown(250), "?");
        assert_eq!(STORAGE_FETCH_STORAGE_IDS, 69);
        assert_eq!(ACTIVE_TEST, 111);
        assert_eq!(QUIT, 82);
    }
}
