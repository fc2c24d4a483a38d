//! Deserializing path parameters: one value into a scalar, several into a
//! tuple (in pattern order) or a struct (by name).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use std::sync::Arc;

/// Why path parameters did not fit the requested type.
#[derive(Debug)]
pub(crate) struct ParamError(String);

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ParamError {}
impl de::Error for ParamError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ParamError(msg.to_string())
    }
}

pub(crate) fn deserialize<T: DeserializeOwned>(
    params: &[(Arc<str>, String)],
) -> Result<T, ParamError> {
    T::deserialize(Params(params))
}

struct Params<'a>(&'a [(Arc<str>, String)]);

macro_rules! single {
    ($($m:ident),*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
            match self.0 {
                [(_, one)] => Value(one).$m(v),
                _ => Err(ParamError(format!("expected 1 path parameter, route has {}", self.0.len()))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Params<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        self.deserialize_map(v)
    }
    single!(
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf
    );
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ParamError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        v.visit_seq(Seq(self.0.iter()))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, ParamError> {
        if len != self.0.len() {
            return Err(ParamError(format!(
                "expected {len} path parameters, route has {}",
                self.0.len()
            )));
        }
        v.visit_seq(Seq(self.0.iter()))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_tuple(len, v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        v.visit_map(Map {
            iter: self.0.iter(),
            value: None,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_map(v)
    }
    forward_to_deserialize_any! { unit unit_struct enum identifier ignored_any }
}

struct Seq<'a>(std::slice::Iter<'a, (Arc<str>, String)>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = ParamError;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, ParamError> {
        match self.0.next() {
            Some((_, v)) => seed.deserialize(Value(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'a> {
    iter: std::slice::Iter<'a, (Arc<str>, String)>,
    value: Option<&'a str>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = ParamError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ParamError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize((&**k).into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, ParamError> {
        match self.value.take() {
            Some(v) => seed.deserialize(Value(v)),
            None => Err(ParamError("value without key".into())),
        }
    }
}

/// One parameter value: text that parses into whatever scalar is asked for.
struct Value<'a>(&'a str);

macro_rules! parse {
    ($($m:ident => $visit:ident: $t:ty),*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
            match self.0.parse::<$t>() {
                Ok(n) => v.$visit(n),
                Err(_) => Err(ParamError(format!("{:?} is not a valid {}", self.0, stringify!($t)))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = ParamError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        v.visit_borrowed_str(self.0)
    }
    parse!(
        deserialize_bool => visit_bool: bool, deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16, deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64, deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128, deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64, deserialize_char => visit_char: char
    );
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ParamError> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ParamError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ParamError> {
        v.visit_enum(self.0.into_deserializer())
    }
    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &str)]) -> Vec<(Arc<str>, String)> {
        v.iter()
            .map(|(a, b)| (Arc::from(*a), b.to_string()))
            .collect()
    }

    #[test]
    fn scalar_tuple_struct() {
        let one = p(&[("name", "world")]);
        assert_eq!(deserialize::<String>(&one).unwrap(), "world");
        let n = p(&[("id", "42")]);
        assert_eq!(deserialize::<u32>(&n).unwrap(), 42);
        assert!(deserialize::<u32>(&one).is_err());
        let two = p(&[("a", "x"), ("b", "7")]);
        assert_eq!(
            deserialize::<(String, u8)>(&two).unwrap(),
            ("x".to_string(), 7)
        );
        #[derive(serde::Deserialize)]
        struct S {
            b: u8,
            a: String,
        }
        let s: S = deserialize(&two).unwrap();
        assert_eq!((s.a.as_str(), s.b), ("x", 7));
        assert!(deserialize::<(String, u8, u8)>(&two).is_err());
        assert!(deserialize::<String>(&two).is_err());
    }
}
