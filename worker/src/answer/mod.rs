//! The answer half: what a worker asks ([`prompt`]: default prompt and
//! schema, hashes, context sizing) and what it accepts ([`repair`]:
//! validation and repair of the model's JSON), and [`compact`]: answers that
//! cite sentence numbers, expanded into the full shape (`--answers compact`).

pub mod compact;
pub mod prompt;
pub mod repair;
