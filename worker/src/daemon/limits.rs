//! Request-rate cap (governor), the only module that names it.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// A request-rate limiter, as the consume loop holds one.
pub type Limiter = DefaultDirectRateLimiter;

/// A limiter for `per_second` requests per second (fractions allowed: 0.5 = one
/// every 2 s); `None` for a non-positive rate.
pub fn rate_limiter(per_second: f64) -> Option<DefaultDirectRateLimiter> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / per_second);
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::MIN);
    Some(RateLimiter::direct(quota))
}
