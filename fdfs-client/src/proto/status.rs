//! Header status codes: `0` for success, otherwise a Linux errno value set by the server.
//!
//! The server puts its errno into the 10th header byte of the reply (`ENOENT` for a missing file,
//! `EINVAL` for a malformed request, `EEXIST`, `ENOSPC`, ...). [`errno_name`] names them for display.

/// Success.
pub const OK: u8 = 0;
/// Operation not permitted.
pub const EPERM: u8 = 1;
/// No such file or directory (missing file, unknown group).
pub const ENOENT: u8 = 2;
/// I/O error.
pub const EIO: u8 = 5;
/// Try again.
pub const EAGAIN: u8 = 11;
/// Out of memory.
pub const ENOMEM: u8 = 12;
/// Permission denied.
pub const EACCES: u8 = 13;
/// Device or resource busy.
pub const EBUSY: u8 = 16;
/// File exists.
pub const EEXIST: u8 = 17;
/// Invalid argument (malformed request, bad offset, wrong group).
pub const EINVAL: u8 = 22;
/// No space left on device.
pub const ENOSPC: u8 = 28;
/// Function not implemented.
pub const ENOSYS: u8 = 38;
/// No data available.
pub const ENODATA: u8 = 61;
/// Operation not supported.
pub const EOPNOTSUPP: u8 = 95;
/// Connection reset by peer.
pub const ECONNRESET: u8 = 104;
/// Transport endpoint is not connected.
pub const ENOTCONN: u8 = 107;
/// Connection timed out.
pub const ETIMEDOUT: u8 = 110;
/// Connection refused.
pub const ECONNREFUSED: u8 = 111;
/// Operation already in progress.
pub const EALREADY: u8 = 114;
/// Operation now in progress.
pub const EINPROGRESS: u8 = 115;

/// The Linux errno name of a status byte (`2` → `"ENOENT"`), `"OK"` for 0, `"E?"` if unknown.
pub fn errno_name(status: u8) -> &'static str {
    match status {
        0 => "OK",
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        15 => "ENOTBLK",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        25 => "ENOTTY",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        30 => "EROFS",
        31 => "EMLINK",
        32 => "EPIPE",
        33 => "EDOM",
        34 => "ERANGE",
        35 => "EDEADLK",
        36 => "ENAMETOOLONG",
        37 => "ENOLCK",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        42 => "ENOMSG",
        43 => "EIDRM",
        60 => "ENOSTR",
        61 => "ENODATA",
        62 => "ETIME",
        63 => "ENOSR",
        67 => "ENOLINK",
        71 => "EPROTO",
        74 => "EBADMSG",
        75 => "EOVERFLOW",
        84 => "EILSEQ",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        91 => "EPROTOTYPE",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        94 => "ESOCKTNOSUPPORT",
        95 => "EOPNOTSUPP",
        96 => "EPFNOSUPPORT",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        102 => "ENETRESET",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        106 => "EISCONN",
        107 => "ENOTCONN",
        108 => "ESHUTDOWN",
        109 => "ETOOMANYREFS",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        116 => "ESTALE",
        117 => "EUCLEAN",
        122 => "EDQUOT",
        125 => "ECANCELED",
        130 => "EOWNERDEAD",
        131 => "ENOTRECOVERABLE",
        _ => "E?",
    }
}

/// `"2 (ENOENT)"`: the number and the name, for messages.
pub fn describe(status: u8) -> String {
    format!("{status} ({})", errno_name(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_name(ENOENT), "ENOENT");
        assert_eq!(errno_name(EINVAL), "EINVAL");
        assert_eq!(errno_name(EEXIST), "EEXIST");
        assert_eq!(errno_name(ENOSPC), "ENOSPC");
        assert_eq!(errno_name(EPERM), "EPERM");
        assert_eq!(errno_name(EBUSY), "EBUSY");
        assert_eq!(errno_name(ENOTCONN), "ENOTCONN");
        assert_eq!(errno_name(0), "OK");
        assert_eq!(errno_name(255), "E?");
        assert_eq!(describe(22), "22 (EINVAL)");
    }
}
