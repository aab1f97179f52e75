pub mod disk;
mod fill;
