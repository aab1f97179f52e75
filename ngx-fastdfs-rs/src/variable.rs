//! An nginx variable's value, built without the binding's bitfield setters (outside `ffi`, so
//! that its layout is checked by the unit tests, which do not build the nginx glue).

use nginx_sys::{__BindgenBitfieldUnit, ngx_variable_value_t};

/// A variable value over `len` bytes at `data`: valid, cacheable, found, not escaped. Its flags
/// and length are one 32-bit unit, written at once: the binding's `set_len` writes the 28-bit
/// length one bit at a time, on every request (40 ns a request in a profile). The unit holds the
/// length in bits 0..28, then `valid`, `no_cacheable`, `not_found`, `escape`, little-endian as
/// the binding lays it out (checked against the binding's own getters below).
pub(crate) fn variable_value(data: *mut u8, len: usize) -> ngx_variable_value_t {
    const LEN_MASK: u32 = (1 << 28) - 1;
    const VALID: u32 = 1 << 28;
    let unit = (len as u32 & LEN_MASK) | VALID;
    ngx_variable_value_t {
        _bitfield_align_1: [],
        _bitfield_1: __BindgenBitfieldUnit::new(unit.to_le_bytes()),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::variable_value;

    #[test]
    fn a_variable_value_reads_back_through_the_bindings_getters() {
        for len in [0usize, 1, 5, 255, 256, 1 << 20, (1 << 28) - 1] {
            let v = variable_value(std::ptr::null_mut(), len);
            assert_eq!(v.len() as usize, len);
            assert_eq!(
                (v.valid(), v.no_cacheable(), v.not_found(), v.escape()),
                (1, 0, 0, 0),
                "{len}"
            );
        }
    }
}
