//! The answer half: what a worker asks ([`prompt`]: default prompt and
//! schema, hashes, context sizing) and what it accepts ([`repair`]:
//! validation and repair of the model's JSON).

pub mod prompt;
pub mod repair;
