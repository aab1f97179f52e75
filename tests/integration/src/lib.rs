//! The integration harness: start the emulator (or describe a real cluster), stock nginx with our module,
//! and the edge, on loopback, torn down on drop, with their logs printed when a test fails.

pub mod cluster;
pub mod edge;
pub mod http;
pub mod net;
pub mod netns;
pub mod nginx;
pub mod vectors;
pub mod wait;
