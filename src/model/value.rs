//! Attribute values and key-value pairs, borrowed so that recording one never allocates: the
//! bytes are copied into the thread's ring at the call.

/// An attribute value: OpenTelemetry's primitive types and homogeneous arrays of them.
///
/// ```
/// use mini_telemetry::Value;
/// assert_eq!(Value::from("GET"), Value::Str("GET"));
/// assert_eq!(Value::from(42), Value::I64(42));
/// assert_eq!(Value::from(&[1.5, 2.5][..]), Value::F64Array(&[1.5, 2.5]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A UTF-8 string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float. NaN and infinities are written as the strings `"NaN"`, `"Infinity"` and
    /// `"-Infinity"` (the protobuf JSON mapping's rule).
    F64(f64),
    /// An array of strings.
    StrArray(&'a [&'a str]),
    /// An array of booleans.
    BoolArray(&'a [bool]),
    /// An array of integers.
    I64Array(&'a [i64]),
    /// An array of floats.
    F64Array(&'a [f64]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::I64(v as i64)
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);
macro_rules! from_wide_uint {
    ($($t:ty),*) => {$(
        /// Values above `i64::MAX` become [`Value::F64`] (the nearest float), since OpenTelemetry
        /// has no unsigned 64-bit type.
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                match i64::try_from(v) {
                    Ok(i) => Value::I64(i),
                    Err(_) => Value::F64(v as f64),
                }
            }
        }
    )*};
}
from_wide_uint!(u64, usize);
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<f32> for Value<'_> {
    fn from(v: f32) -> Self {
        Value::F64(v as f64)
    }
}
impl<'a> From<&'a [&'a str]> for Value<'a> {
    fn from(v: &'a [&'a str]) -> Self {
        Value::StrArray(v)
    }
}
impl<'a> From<&'a [bool]> for Value<'a> {
    fn from(v: &'a [bool]) -> Self {
        Value::BoolArray(v)
    }
}
impl<'a> From<&'a [i64]> for Value<'a> {
    fn from(v: &'a [i64]) -> Self {
        Value::I64Array(v)
    }
}
impl<'a> From<&'a [f64]> for Value<'a> {
    fn from(v: &'a [f64]) -> Self {
        Value::F64Array(v)
    }
}

/// One attribute: a key and a [`Value`].
///
/// ```
/// use mini_telemetry::KeyValue;
/// let attrs = [KeyValue::new("endpoint", "/api"), KeyValue::new("méthode", "GET")];
/// assert_eq!(attrs[1].key, "méthode");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyValue<'a> {
    /// The attribute's name.
    pub key: &'a str,
    /// The attribute's value.
    pub value: Value<'a>,
}

impl<'a> KeyValue<'a> {
    /// A key-value pair from anything convertible into a [`Value`].
    #[inline]
    pub fn new(key: &'a str, value: impl Into<Value<'a>>) -> Self {
        KeyValue {
            key,
            value: value.into(),
        }
    }
}
