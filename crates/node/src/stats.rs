//! `stats()` in JavaScript: `NativeStats` is generated from the core's list of health figures
//! (`exitwatch_core::for_each_stat!`), each Rust type mapped to its JavaScript shape here,
//! so a figure added to the core reaches JavaScript without being written again.

use exitwatch_core::Stats;
use napi_derive::napi;

use crate::convert::{epoch_ms, ExitSource};

#[napi(object)]
pub struct SourceCount {
    pub source: ExitSource,
    pub count: f64,
}

/// Builds `NativeStats` and its conversion from `Stats`, one field at a time: counts (`u64`)
/// become numbers (exact below 2^53), sizes `u32`, a time milliseconds since the Unix epoch,
/// the per-source counts an array of `SourceCount`.
macro_rules! native_stats {
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]) => {
        /// A snapshot of the monitor's health (see the core's `Stats`).
        #[napi(object)]
        pub struct NativeStats {
            $($fields)*
        }

        impl From<Stats> for NativeStats {
            fn from($stats: Stats) -> Self {
                NativeStats {
                    $($values)*
                }
            }
        }
    };
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]
        $(#[$doc:meta])* $name:ident: u64, $($rest:tt)*) => {
        native_stats!(@munch $stats
            [$($fields)* $(#[$doc])* pub $name: f64,]
            [$($values)* $name: $stats.$name as f64,]
            $($rest)*);
    };
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]
        $(#[$doc:meta])* $name:ident: usize, $($rest:tt)*) => {
        native_stats!(@munch $stats
            [$($fields)* $(#[$doc])* pub $name: u32,]
            [$($values)* $name: u32::try_from($stats.$name).unwrap_or(u32::MAX),]
            $($rest)*);
    };
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]
        $(#[$doc:meta])* $name:ident: bool, $($rest:tt)*) => {
        native_stats!(@munch $stats
            [$($fields)* $(#[$doc])* pub $name: bool,]
            [$($values)* $name: $stats.$name,]
            $($rest)*);
    };
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]
        $(#[$doc:meta])* $name:ident: Option<SystemTime>, $($rest:tt)*) => {
        native_stats!(@munch $stats
            [$($fields)* $(#[$doc])* #[doc = "Milliseconds since the Unix epoch."] pub $name: Option<f64>,]
            [$($values)* $name: $stats.$name.and_then(epoch_ms),]
            $($rest)*);
    };
    (@munch $stats:ident [$($fields:tt)*] [$($values:tt)*]
        $(#[$doc:meta])* $name:ident: Vec<(StatusSource, u64)>, $($rest:tt)*) => {
        native_stats!(@munch $stats
            [$($fields)* $(#[$doc])* pub $name: Vec<SourceCount>,]
            [$($values)* $name: $stats.$name.iter().map(|(source, count)| SourceCount {
                source: ExitSource::from(*source),
                count: *count as f64,
            }).collect(),]
            $($rest)*);
    };
    ($($list:tt)*) => {
        native_stats!(@munch stats [] [] $($list)*);
    };
}

exitwatch_core::for_each_stat!(native_stats);
